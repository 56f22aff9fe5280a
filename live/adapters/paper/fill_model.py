"""How the paper exchange fills: the fill model and pure bar-by-bar matching.

The fill model has a named *mode*. ``parity`` (the default, and the only one built) fills by
the bar simulator's own compiled rules (:mod:`strategies.rules`, the functions the simulator
and the live runner call): ``next_open`` fills a market order sent after bar t's close at bar
t+1's open, ``close`` at the signal bar's close; slippage is ``slippage_ticks * tick_size``
points against the trader on market and stop-market fills
(:func:`~strategies.rules.slipped`). Limit prices are never crossed: a limit fill is
slippage-free and a gap through the limit fills at the (better) open
(:func:`~strategies.rules.limit_fill`). Stops trigger when the bar's high (buy) / low (sell)
reaches the trigger; a gap through it triggers at the open (:func:`~strategies.rules.stop_fill`).
``realism`` fills market and stop-market orders on a seeded intrabar price path with an impact
model of its own (:mod:`live.adapters.paper.realism`, parameters :class:`RealismParams`); its
limit and stop-limit fills are parity's.

Market protection (``OrderRequest.market_protection_pct``): the exchange stores a MARKET or
SL-M order's cap (its reference - the symbol's last close when placed, a stop's trigger -
that many percent through, on the tick grid) as its ``limit_price``; a market fill beyond
the cap does not happen and the order works as a limit at the cap, as Kite's protected
market order does.

Protective orders (``OrderRequest.after_trade``): in ``next_open`` a market entry fills at the
open of bar t+1, and the price path after it is that bar's range, so a stop or target placed
right after the fill (naming its trade) is matched at once against the whole bar t+1 (full
OHLC, as the bar simulator exits on the entry bar) and, unfilled, works from the next bar
after ``latency_bars`` only (no further next-open wait). With ``latency_bars`` > 0 the order
reaches the exchange after bar t+1, so it is not matched against it: it works from bar
t+1+latency_bars. Stop fills follow the usual rules (a gap
through the trigger fills at the open; stop-market slippage against the trader); limit fills
never slip. Any other order naming a trade (an unknown trade, another symbol, a fill before
the symbol's last bar, a fill of a non-market order, the ``close`` convention, where the fill
is at the bar's close and the bar's range is already past) is an ordinary new order: it is
never matched against a bar it could not have seen.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

from live.broker import OrderType, Side
from strategies.errors import StratopsError
from strategies.params import ParamError
from strategies.rules import (
    check_fill,
    check_slippage,
    limit_fill,
    slippage_points,
    slipped,
    stop_fill,
)

FillConvention = Literal["next_open", "close"]
FillMode = Literal["parity", "realism"]
#: The modes built: the simulator's rules, and an intrabar path with market impact.
FILL_MODES = ("parity", "realism")


class FillModelError(StratopsError, ValueError):
    """A fill model setting outside its domain."""


class InvalidBarError(StratopsError, ValueError):
    """A bar whose prices are not a consistent OHLC or whose timestamp is naive."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RealismParams:
    """The realism mode's own impact model (deliberately not the pre-trade estimator's law):
    temporary ``eta * sigma_bps * participation ** exponent`` paid by the fill, permanent
    ``kappa * sigma_bps * participation`` (linear) left in the price for later fills, decaying
    with time constant ``decay_minutes``; a market order reaches the book at a seeded point
    within the first ``arrival_max_fraction`` of its bar, on a path of ``path_steps`` steps."""

    eta: float = 0.7
    exponent: float = 0.6
    kappa: float = 0.3
    decay_minutes: float = 10.0
    arrival_max_fraction: float = 0.1
    path_steps: int = 60

    def __post_init__(self) -> None:
        checks = {"eta": self.eta >= 0, "exponent": 0 < self.exponent <= 1.5,
                  "kappa": self.kappa >= 0, "decay_minutes": self.decay_minutes > 0,
                  "arrival_max_fraction": 0 <= self.arrival_max_fraction <= 1,
                  "path_steps": 4 <= self.path_steps <= 10_000}
        for name, ok in checks.items():
            value = getattr(self, name)
            if not ok or not math.isfinite(value):
                raise FillModelError(f"realism.{name} {value!r}: out of its domain")


@dataclass(frozen=True, kw_only=True, slots=True)
class FillModel:
    """Fill convention, slippage, latency, partial fills and refusals of the paper exchange.

    ``latency_bars`` delays market-data matching of a new order by that many bars;
    ``partial_fill_ratio`` > 0 makes an order's first fill ``ceil(qty * ratio)`` and the rest
    fill on a later bar; ``reject_prob`` refuses orders at random, deterministically per
    (seed, client_key); ``max_qty`` (None: no limit) refuses larger orders.
    """

    mode: FillMode = "parity"
    fill: FillConvention = "next_open"
    slippage_ticks: float = 0.0
    tick_size: float = 0.05
    latency_bars: int = 0
    partial_fill_ratio: float = 0.0
    reject_prob: float = 0.0
    max_qty: int | None = None
    realism: RealismParams | None = None  # the realism mode's parameters (None: defaults)

    def __post_init__(self) -> None:
        if self.mode not in FILL_MODES:
            raise FillModelError(f"mode {self.mode!r}: must be one of {FILL_MODES}")
        if self.realism is not None and self.mode != "realism":
            raise FillModelError(f"realism parameters given for mode {self.mode!r}")
        try:
            check_fill(self.fill)
            check_slippage(self.slippage_ticks, self.tick_size)
        except ParamError as exc:
            raise FillModelError(str(exc)) from None
        if self.latency_bars < 0:
            raise FillModelError(f"latency_bars {self.latency_bars!r}: must be >= 0")
        if not 0.0 <= self.partial_fill_ratio <= 1.0:
            raise FillModelError(f"partial_fill_ratio {self.partial_fill_ratio!r}: in [0, 1]")
        if not 0.0 <= self.reject_prob <= 1.0:
            raise FillModelError(f"reject_prob {self.reject_prob!r}: must be in [0, 1]")
        if self.max_qty is not None and self.max_qty <= 0:
            raise FillModelError(f"max_qty {self.max_qty!r}: must be positive or None")

    @property
    def slippage_points(self) -> float:
        return slippage_points(float(self.slippage_ticks), float(self.tick_size))

    @property
    def wait_bars(self) -> int:
        """Bars a new order waits before it may match; 0 = at once, at the last close."""
        return self.latency_bars + (1 if self.fill == "next_open" else 0)

    @property
    def realism_params(self) -> RealismParams:
        """The realism mode's parameters (the defaults when none were given)."""
        return RealismParams() if self.realism is None else self.realism

    def to_json(self) -> str:
        values = asdict(self)
        if self.mode == "parity":  # a parity store's record is what it was before realism
            values.pop("realism")
        else:
            values["realism"] = asdict(self.realism_params)
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FillModel:
        values = json.loads(text)
        realism = values.pop("realism", None)
        return cls(**values, realism=None if realism is None else RealismParams(**realism))


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLC bar of one symbol (``ts`` timezone-aware, the bar's start)."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None  # traded in the bar (units); the realism mode needs it

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise InvalidBarError(f"bar ts {self.ts!r} must be timezone-aware")
        prices = (self.open, self.high, self.low, self.close)
        if not all(math.isfinite(p) and p > 0 for p in prices):
            raise InvalidBarError(f"bar at {self.ts}: prices {prices} must be finite and > 0")
        if self.high < max(self.open, self.close) or self.low > min(self.open, self.close):
            raise InvalidBarError(f"bar at {self.ts}: OHLC {prices} inconsistent")

    @classmethod
    def flat(cls, ts: datetime, price: float) -> Bar:
        """A bar of one price: the signal bar's close, as seen by a ``close``-mode order."""
        return cls(ts, price, price, price, price)


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkingOrder:
    """What matching needs of an open order."""

    side: Side
    order_type: OrderType
    qty: int
    filled_qty: int
    limit_price: float | None
    trigger_price: float | None
    triggered: bool


@dataclass(frozen=True, slots=True)
class Match:
    """The result of one order against one bar: ``qty`` 0 means no fill."""

    triggered: bool
    qty: int = 0
    price: float = 0.0


def _sign(side: Side) -> float:
    return 1.0 if side is Side.BUY else -1.0


def preload_fill_kernels() -> int:
    """Call the simulator's compiled fill functions this module uses once, with neutral
    values and the argument types it passes: numba loads a cached function on its first
    call (~1-1.6 ms each), which the first bar to fill or to check a working order would
    otherwise pay. Returns how many."""
    slipped(100.0, 1.0, slippage_points(1.0, 0.05))
    limit_fill(1.0, 100.0, 101.0, 99.0, 100.0)
    stop_fill(1.0, 100.0, 101.0, 99.0, 100.0)
    return 4


def _price_or_none(price: float) -> float | None:
    return None if math.isnan(price) else float(price)


def _limit_hit(side: Side, bar: Bar, limit: float) -> float | None:
    return _price_or_none(limit_fill(_sign(side), float(bar.open), float(bar.high),
                                     float(bar.low), float(limit)))


def _stop_hit(side: Side, bar: Bar, trigger: float) -> float | None:
    return _price_or_none(stop_fill(_sign(side), float(bar.open), float(bar.high),
                                    float(bar.low), float(trigger)))


def _market(side: Side, bar: Bar, model: FillModel) -> float:
    base = bar.open if model.fill == "next_open" else bar.close
    return slipped(float(base), _sign(side), model.slippage_points)


def _stop_limit(side: Side, bar: Bar, stop_px: float, limit: float) -> float | None:
    """Fill price of a stop-limit just triggered at ``stop_px`` on ``bar``."""
    if (limit - stop_px) * _sign(side) >= 0:
        return stop_px
    return _limit_hit(side, bar, limit)


def _protected(order: WorkingOrder, bar: Bar, price: float) -> float | None:
    """A market fill at ``price`` under market protection: a MARKET or SL-M order's
    ``limit_price`` is its protection cap (the marketable limit Kite turns it into); a fill
    through the cap does not happen - the order works as a limit at the cap."""
    cap = order.limit_price
    if cap is None or (price - cap) * _sign(order.side) <= 0:
        return price
    return _limit_hit(order.side, bar, cap)


def _parity_price(order: WorkingOrder, bar: Bar, model: FillModel
                  ) -> tuple[bool, float | None]:
    """(triggered after this bar, fill price or None) by the simulator's rules."""
    kind, side = order.order_type, order.side
    if kind is OrderType.MARKET:
        return False, _protected(order, bar, _market(side, bar, model))
    if kind is OrderType.LIMIT:
        return False, _limit_hit(side, bar, order.limit_price or 0.0)
    if order.triggered:  # triggered on an earlier bar: now a market / limit order
        if kind is OrderType.SL_M:
            return True, _protected(order, bar, _market(side, bar, model))
        return True, _limit_hit(side, bar, order.limit_price or 0.0)
    stop_px = _stop_hit(side, bar, order.trigger_price or 0.0)
    if stop_px is None:
        return False, None
    if kind is OrderType.SL_M:
        return True, _protected(order, bar, slipped(stop_px, _sign(side),
                                                    model.slippage_points))
    return True, _stop_limit(side, bar, stop_px, order.limit_price or 0.0)


def fill_qty(order: WorkingOrder, model: FillModel) -> int:
    """The quantity the next fill takes: a first partial fill, else all that remains."""
    remaining = order.qty - order.filled_qty
    if order.filled_qty == 0 and model.partial_fill_ratio > 0:
        return min(remaining, math.ceil(order.qty * model.partial_fill_ratio))
    return remaining


def match(order: WorkingOrder, bar: Bar, model: FillModel) -> Match:
    """Match one working order against one bar (at most one fill per order per bar)."""
    triggered, price = _PRICE_BY_MODE[model.mode](order, bar, model)
    if price is None:
        return Match(triggered)
    return Match(triggered, fill_qty(order, model), price)


# a fill mode's pricing of one order on one bar; a "realism" mode adds its entry here
_PRICE_BY_MODE = {"parity": _parity_price}


def rejects_at_random(seed: int, client_key: str, reject_prob: float) -> bool:
    """Whether the order keyed ``client_key`` is refused: a PRNG seeded by (seed, key), so
    the answer does not depend on the order of calls or on the process."""
    if reject_prob <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{client_key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).random() < reject_prob
