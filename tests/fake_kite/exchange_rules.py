"""Exchange and RMS rules the fake Kite applies: trading hours (an order outside them is
refused at the API, as Kite's "Markets are closed"), the day's price band (circuit limits),
the freeze quantity, and the intraday (MIS) square-off time after which new MIS orders are
rejected and open MIS positions are closed by the broker. A band, freeze or MIS refusal books
the order REJECTED with a message, as Kite shows an exchange or RMS rejection.

The band is ``reference * (1 -/+ price_band_pct)`` rounded to the tick, the reference being
the previous session's close (the first open before any close is known).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

NSE_SESSION = (time(9, 15), time(15, 30))
KITE_MIS_SQUARE_OFF = time(15, 25)  # Zerodha's auto square-off of NSE F&O MIS positions


@dataclass(frozen=True)
class ExchangeRules:
    """``price_band_pct`` None disables the band; ``freeze_qty`` maps an underlying name
    (``NIFTY``) to its freeze quantity in units (e.g. 1800), names absent are not checked;
    ``session_hours`` (open, close) None accepts orders at any time; ``mis_square_off`` None
    turns the MIS rules off. ``require_market_protection`` refuses MARKET / SL-M orders sent
    without ``market_protection`` (Kite Connect does since 2026; off by default here until the
    adapter sends it); ``auto_market_protection_pct`` is the fake's choice for ``-1``."""

    price_band_pct: float | None = 0.10
    freeze_qty: Mapping[str, int] = field(default_factory=dict)
    session_hours: tuple[time, time] | None = NSE_SESSION
    mis_square_off: time | None = KITE_MIS_SQUARE_OFF
    require_market_protection: bool = False
    auto_market_protection_pct: float = 2.0


def protection_price(rules: ExchangeRules, *, protection_pct: float, buy: bool,
                     reference: float | None, tick: float) -> float:
    """The worst price a MARKET / SL-M order may fill at (0.0: unprotected), ``protection_pct``
    (-1 automatic) away from ``reference`` (the trigger, else the last price), on the tick
    grid; Kite turns such an order into a limit at this price."""
    if protection_pct == 0 or reference is None:
        return 0.0
    pct = rules.auto_market_protection_pct if protection_pct == -1 else protection_pct
    raw = reference * (1 + pct / 100) if buy else reference * (1 - pct / 100)
    return round(round(raw / tick) * tick, 2)


def market_closed(rules: ExchangeRules, now: datetime) -> str | None:
    """Kite's refusal of any order placed outside the session, or None inside it."""
    if rules.session_hours is None:
        return None
    start, end = rules.session_hours
    if start <= now.time() < end:
        return None
    return (f"Markets are closed right now ({now:%Y-%m-%d %H:%M:%S}; open {start:%H:%M}-"
            f"{end:%H:%M}). Use GTT for placing long standing orders instead.")


def past_mis_square_off(rules: ExchangeRules, now: datetime) -> bool:
    return rules.mis_square_off is not None and now.time() >= rules.mis_square_off


def band(reference: float, pct: float, tick: float) -> tuple[float, float]:
    """The (lower, upper) circuit limits around ``reference``, on the tick grid."""
    lower = round(round(reference * (1 - pct) / tick) * tick, 2)
    upper = round(round(reference * (1 + pct) / tick) * tick, 2)
    return lower, upper


def refusal(rules: ExchangeRules, order: Mapping[str, Any], instrument: Mapping[str, Any],
            reference: float | None, now: datetime) -> str | None:
    """Why the exchange or the RMS refuses ``order``, or None when it passes."""
    if order["product"] == "MIS" and past_mis_square_off(rules, now):
        return (f"Intraday (MIS) orders cannot be placed after the square-off time "
                f"{rules.mis_square_off:%H:%M}.")
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
