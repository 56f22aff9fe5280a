"""Exchange-side refusals the fake Kite applies when an order is placed: the day's price band
(circuit limits) and the freeze quantity. A refused order is booked REJECTED with a message,
as Kite shows an exchange or RMS rejection (the place call itself succeeds).

The band is ``reference * (1 -/+ price_band_pct)`` rounded to the tick, the reference being
the previous session's close (the first open before any close is known).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExchangeRules:
    """``price_band_pct`` None disables the band; ``freeze_qty`` maps an underlying name
    (``NIFTY``) to its freeze quantity in units (e.g. 1800); names absent are not checked."""

    price_band_pct: float | None = 0.10
    freeze_qty: Mapping[str, int] = field(default_factory=dict)


def band(reference: float, pct: float, tick: float) -> tuple[float, float]:
    """The (lower, upper) circuit limits around ``reference``, on the tick grid."""
    lower = round(round(reference * (1 - pct) / tick) * tick, 2)
    upper = round(round(reference * (1 + pct) / tick) * tick, 2)
    return lower, upper


def refusal(rules: ExchangeRules, order: Mapping[str, Any], instrument: Mapping[str, Any],
            reference: float | None) -> str | None:
    """Why the exchange refuses ``order``, or None when it passes."""
    freeze = rules.freeze_qty.get(str(instrument["name"]))
    if freeze is not None and order["quantity"] > freeze:
        return (f"Quantity {order['quantity']} exceeds the freeze quantity {freeze} of "
                f"{instrument['name']}. Slice the order or use iceberg orders.")
    if rules.price_band_pct is None or reference is None:
        return None
    lower, upper = band(reference, rules.price_band_pct, float(instrument["tick_size"]))
    for name in ("price", "trigger_price"):
        price = float(order.get(name) or 0.0)
        if price and not lower <= price <= upper:
            return (f"Your order {name} {price} is outside the circuit limits {lower} - "
                    f"{upper}. You can place an order within the daily range.")
    return None
