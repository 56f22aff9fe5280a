"""The reviewed ``compliance.yaml``: order-to-trade ratio thresholds, self-trade prevention,
and SEBI's algo framework (algo ids, the unregistered-algo order rate, the whitelisted
static egress IP), typed and checked.

Thresholds that the exchange revises by circular are *dated*: a list of entries, each with
``effective_from``; the entry in force on a session's date (the latest one not after it)
applies, so a new circular is a new reviewed entry, not an edit of history. Loading fails
closed: unknown keys, missing or out-of-range values and unsorted or duplicate dates are
refused with the file, the dotted field and the value named.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from strategies.errors import BadInputError

SELF_TRADE_MODES = ("refuse", "net")


class ComplianceConfigError(BadInputError, ValueError):
    """``compliance.yaml`` is missing, malformed or contradictory; the message names the
    file, the field and the value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class OtrThresholds(_Strict):
    """One dated entry of the order-to-trade ratio schedule (see README, Compliance)."""

    effective_from: date
    #: the exchange's first penalty slab (NSE: the ratio at which a member is charged)
    exchange_ratio: float = Field(gt=0)
    #: our own ceiling: an entry that would take a strategy/symbol/day above it is refused
    throttle_ratio: float = Field(gt=0)
    #: a near-breach alert at this fraction of throttle_ratio
    alert_fraction: float = Field(gt=0, lt=1)
    #: below this many order messages in a strategy/symbol/day neither applies (a ratio of
    #: 3 orders to 0 trades is noise, not a pattern)
    min_messages: int = Field(ge=1)

    @field_validator("throttle_ratio")
    @classmethod
    def _below_exchange(cls, value: float, info: Any) -> float:
        exchange = info.data.get("exchange_ratio")
        if exchange is not None and value > exchange:
            raise ValueError(f"throttle_ratio: {value:g} > exchange_ratio {exchange:g} (our "
                             "ceiling must stay at or below the exchange's threshold)")
        return value


class AlgoRateThreshold(_Strict):
    """One dated entry of the exchange's orders-per-second threshold for an unregistered
    algo (SEBI/NSE: at or above it, an algo must be registered and carry an algo id)."""

    effective_from: date
    max_orders_per_second: int = Field(ge=1)


class AlgoApproval(_Strict):
    """The broker's approval record of one strategy version as an exchange-registered algo:
    the exchange-issued algo id its orders carry and the broker's reference for it."""

    strategy: str = Field(min_length=1)
    version: int = Field(ge=1)
    algo_id: str = Field(pattern=r"^[A-Za-z0-9]{1,20}$")  # Kite tag rules: alphanumeric, <= 20
    broker: str = Field(min_length=1)
    approval_ref: str = Field(min_length=1)
    approved_on: date


class AlgoFramework(_Strict):
    """SEBI's algo framework for retail access through a broker."""

    require_algo_id: bool
    approvals: tuple[AlgoApproval, ...] = ()
    unregistered_orders_per_second: tuple[AlgoRateThreshold, ...] = Field(min_length=1)
    #: the static IP the broker whitelisted for our API orders (None: not checked)
    static_egress_ip: str | None = None

    @field_validator("static_egress_ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)  # ValueError names the value
        return value


class _ComplianceFile(_Strict):
    version: int = Field(ge=1)
    #: refuse: a crossing entry is denied; net: a market order crossing another strategy's
    #: resting limit entry is crossed internally (live.orders.crossing), anything else
    #: crossing is denied as with refuse
    self_trade: Literal["refuse", "net"]
    order_to_trade: tuple[OtrThresholds, ...] = Field(min_length=1)
    algo: AlgoFramework


class ComplianceConfig:
    """The loaded file, with the dated entry in force on a date."""

    def __init__(self, parsed: _ComplianceFile, path: Path) -> None:
        self.version, self.path = parsed.version, path
        self.self_trade = parsed.self_trade
        self.algo = parsed.algo
        self._otr = parsed.order_to_trade
        self._otr_dates = [t.effective_from for t in self._otr]
        self._ops = parsed.algo.unregistered_orders_per_second
        self._ops_dates = [t.effective_from for t in self._ops]
        self._approvals = {(a.strategy, a.version): a for a in parsed.algo.approvals}

    def otr_on(self, day: date) -> OtrThresholds | None:
        """The order-to-trade thresholds in force on ``day`` (None before the first one:
        the caller fails closed)."""
        at = bisect_right(self._otr_dates, day)
        return self._otr[at - 1] if at else None

    def approval_for(self, strategy: str, version: int) -> AlgoApproval | None:
        """The broker's approval record of ``strategy`` version ``version`` (None: none)."""
        return self._approvals.get((strategy, version))

    def unregistered_ops_on(self, day: date) -> AlgoRateThreshold | None:
        """The unregistered-algo orders-per-second threshold in force on ``day``."""
        at = bisect_right(self._ops_dates, day)
        return self._ops[at - 1] if at else None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg} (got {err['input']!r:.120})")
    return "; ".join(parts)


def _check_dates(path: Path, field: str, dates: list[date]) -> None:
    for i in range(1, len(dates)):
        if dates[i] <= dates[i - 1]:
            raise ComplianceConfigError(
                f"{path}: {field}.{i}.effective_from: {dates[i]} is not after the previous "
                f"entry's {dates[i - 1]} (entries must be in strictly increasing date order)")


def load_compliance(path: Path) -> ComplianceConfig:
    """Parse and validate ``compliance.yaml``.

    Raises
    ------
    ComplianceConfigError
        Unreadable, not YAML, an unknown key, a bad value or unsorted dates.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ComplianceConfigError(f"{path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ComplianceConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ComplianceConfigError(f"{path}: top level must be a mapping, got "
                                    f"{type(raw).__name__}")
    try:
        parsed = _ComplianceFile(**raw)
    except ValidationError as exc:
        raise ComplianceConfigError(f"{path}: {_describe(exc)}") from exc
    _check_dates(path, "order_to_trade", [t.effective_from for t in parsed.order_to_trade])
    _check_dates(path, "algo.unregistered_orders_per_second",
                 [t.effective_from for t in parsed.algo.unregistered_orders_per_second])
    seen: set[tuple[str, int]] = set()
    for i, approval in enumerate(parsed.algo.approvals):
        key = (approval.strategy, approval.version)
        if key in seen:
            raise ComplianceConfigError(f"{path}: algo.approvals.{i}: a second record for "
                                        f"{approval.strategy} version {approval.version}")
        seen.add(key)
    return ComplianceConfig(parsed, path)
