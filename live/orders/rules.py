"""The order rules of ``risk.yaml`` (section ``orders:``), typed: freeze quantities per
underlying, the market protection of market orders, and each broker's MIS square-off time
per exchange segment with the margin a version's cutoff must keep before it.

Validated like the rest of the file (:func:`live.risk.limits.load_risk_limits`): unknown
keys, a freeze quantity below one unit, a protection outside Kite's (0, 100] percent or an
unquoted time are refused, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_KEY = "default"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

#: NSE quantity freeze limits in units (index derivatives, circular of 2025-10-31, effective
#: 2025-11-03): NIFTY 1800, BANKNIFTY 600. Check the exchange's current contract file.
DEFAULT_FREEZE_QTY: dict[str, int] = {DEFAULT_KEY: 1800, "NIFTY": 1800, "BANKNIFTY": 600}
#: Zerodha's published auto square-off of intraday (MIS) F&O positions: 15:25 IST.
DEFAULT_MIS_SQUARE_OFF: dict[str, dict[str, str]] = {"kite": {"NFO": "15:25"},
                                                      "paper": {"NFO": "15:25"}}


class OrderRules(BaseModel):
    """``risk.yaml`` ``orders:``.

    ``freeze_qty``: per underlying (with ``default``), the most units one order may carry;
    a larger order is sent as slices. ``market_protection_pct``: a market (or stop-market)
    order is a limit at most this far from its reference (Kite's ``market_protection``;
    the paper exchange honours it too). ``mis_square_off``: broker -> exchange segment ->
    "HH:MM" when the broker squares off MIS positions itself; a MIS version's cutoff must
    be at least ``mis_cutoff_margin_minutes`` before it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    freeze_qty: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_FREEZE_QTY))
    market_protection_pct: float = Field(default=2.0, gt=0.0, le=100.0)
    mis_square_off: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MIS_SQUARE_OFF.items()})
    mis_cutoff_margin_minutes: int = Field(default=10, ge=0, le=120)

    @field_validator("freeze_qty")
    @classmethod
    def _freeze_per_symbol(cls, mapping: dict[str, int]) -> dict[str, int]:
        if DEFAULT_KEY not in mapping:
            raise ValueError(f"needs a {DEFAULT_KEY!r} entry (got keys {sorted(mapping)})")
        bad = {k: v for k, v in mapping.items() if v < 1}
        if bad:
            raise ValueError(f"values must be >= 1 unit, got {bad}")
        return mapping

    @field_validator("mis_square_off")
    @classmethod
    def _quoted_times(cls, mapping: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for broker, segments in mapping.items():
            for segment, value in segments.items():
                if not isinstance(value, str) or not _HHMM.match(value):
                    raise ValueError(f"{broker}.{segment}={value!r}: must be a quoted "
                                     '"HH:MM" string')
        return mapping

    def freeze_for(self, symbol: str) -> int:
        """The freeze quantity (units) of ``symbol`` (its entry, else the default)."""
        found = self.freeze_qty.get(symbol)
        return self.freeze_qty[DEFAULT_KEY] if found is None else found

    def square_off_for(self, broker: str, exchange: str) -> time | None:
        """When ``broker`` squares off MIS positions on ``exchange`` (None: not configured)."""
        segments: Mapping[str, str] = self.mis_square_off.get(broker, {})
        value = segments.get(exchange)
        return None if value is None else time.fromisoformat(value)
