"""Prices an order may carry at the exchange: on the tick grid, inside the exchange's daily
price band, and - for a market order - capped by market protection.

NSE refuses a limit or trigger price outside the contract's operating range (the band
around the previous session's close; ``risk.yaml`` ``pre_trade.price_band_pct``, or the
broker's own band when it reports one). An entry priced outside it is refused; an exit is
clamped to the band edge, so it is never stuck behind a price the exchange would refuse (a
sell stop below the lower band can only trigger at the band anyway). A market order is sent
with market protection: a limit at most ``pct`` percent through its reference, on the tick
grid (the paper exchange computes the same cap; Kite applies ``market_protection``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from strategies.errors import StratopsError

_EPS = 1e-9


class OrderPriceError(StratopsError, ValueError):
    """A price, tick or band that cannot be used (non-finite, non-positive, inverted)."""


def _check(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise OrderPriceError(f"{name} {value!r}: must be a finite positive number")


def round_to_tick(price: float, tick: float, direction: str) -> float:
    """``price`` on the ``tick`` grid, rounded ``down``, ``up`` or to the ``nearest``."""
    _check("price", price)
    _check("tick", tick)
    steps = price / tick
    if direction == "down":
        n = math.floor(steps + _EPS)
    elif direction == "up":
        n = math.ceil(steps - _EPS)
    elif direction == "nearest":
        n = round(steps)
    else:
        raise OrderPriceError(f"direction {direction!r}: one of down, up, nearest")
    return round(n * tick, 10)


@dataclass(frozen=True, slots=True)
class PriceBand:
    """The prices the exchange accepts today, both inclusive; ``source`` says where the
    band came from (for the journal)."""

    lower: float
    upper: float
    source: str

    def __post_init__(self) -> None:
        _check("band lower", self.lower)
        _check("band upper", self.upper)
        if self.lower > self.upper:
            raise OrderPriceError(f"band {self.lower:g}..{self.upper:g} ({self.source}): "
                                  "lower above upper")


def band_around(base: float, pct: float, tick: float) -> PriceBand:
    """The band ``pct`` percent around ``base`` (the previous session's close), its edges
    rounded inwards onto the tick grid."""
    _check("band base", base)
    _check("band pct", pct)
    return PriceBand(round_to_tick(base * (1 - pct / 100.0), tick, "up"),
                     round_to_tick(base * (1 + pct / 100.0), tick, "down"),
                     f"{pct:g}% around the previous close {base:g}")


@dataclass(frozen=True, slots=True)
class BandFit:
    """A price checked against the band: ``price`` to send (None: refused, ``reason`` why);
    ``clamped`` when it was moved to the band's edge."""

    price: float | None
    clamped: bool = False
    reason: str = ""


def fit_to_band(price: float, band: PriceBand | None, *, reduces_exposure: bool,
                what: str) -> BandFit:
    """``price`` if inside ``band`` (or no band is known); outside it an entry is refused
    and a risk-reducing order is clamped to the nearer edge."""
    _check(f"{what} price", price)
    if band is None or band.lower <= price <= band.upper:
        return BandFit(price)
    edge = band.lower if price < band.lower else band.upper
    outside = (f"{what} price {price:g} outside the exchange band {band.lower:g}.."
               f"{band.upper:g} ({band.source})")
    if not reduces_exposure:
        return BandFit(None, reason=f"{outside}: entry refused")
    return BandFit(edge, clamped=True, reason=f"{outside}: exit clamped to {edge:g}")


def protection_price(reference: float, side: int, pct: float, tick: float) -> float:
    """The marketable limit a market order becomes: ``pct`` percent through ``reference``
    (above it for a buy, below for a sell), rounded towards the reference onto the grid, so
    the cap is never looser than ``pct``."""
    _check("reference", reference)
    _check("market protection pct", pct)
    if side not in (1, -1):
        raise OrderPriceError(f"side {side!r}: +1 (buy) or -1 (sell)")
    raw = reference * (1 + side * pct / 100.0)
    return round_to_tick(raw, tick, "down" if side > 0 else "up")
