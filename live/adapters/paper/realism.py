"""The paper exchange's realism mode: a seeded intrabar price path and an impact model.

Path: a Brownian bridge through the bar's open, its two extremes and its close. The order of
the extremes is a seeded coin (weighted towards low-then-high on an up bar), their times are
seeded, each leg is a Brownian bridge clipped into ``[low, high]``: the path starts at the
open, touches the high and the low exactly and ends at the close, so a stop that parity
triggers, realism triggers too. Same (seed, symbol, bar) -> same path.

Impact (:class:`~live.adapters.paper.fill_model.RealismParams`; the Almgren-Chriss (2000)
discrete form: a fill pays its temporary impact, its permanent impact moves the price later
fills see): temporary ``eta * sigma * (q / V) ** exponent`` with ``sigma`` the bar's
Parkinson volatility and ``V`` its volume; permanent ``kappa * sigma * (q / V)``, signed by
side, accumulating per symbol and decaying as ``exp(-minutes / decay_minutes)``. A bar with
no volume fills no market order (no liquidity). Market protection caps a fill at the cap
(none while the path itself is past it). Limit and stop-limit orders fill by parity's rules
(passive: no impact).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from live.adapters.paper.fill_model import (
    Bar,
    FillModel,
    Match,
    RealismParams,
    WorkingOrder,
    fill_qty,
    match,
)
from live.broker import OrderType, Side
from strategies.impact import BPS, impact_cost_bps, parkinson_sigma_bps

_MARKET_LIKE = (OrderType.MARKET, OrderType.SL_M)


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _bridge(rng: np.random.Generator, start: float, end: float, steps: int,
            scale: float) -> np.ndarray:
    """A Brownian bridge of ``steps + 1`` points from ``start`` to ``end``."""
    if steps <= 0:
        return np.array([end])
    walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(steps))]) * scale
    frac = np.linspace(0.0, 1.0, steps + 1)
    bridge: np.ndarray = start + (end - start) * frac + walk - frac * walk[-1]
    return bridge


def intrabar_path(bar: Bar, steps: int, *, seed: int, symbol: str) -> np.ndarray:
    """``steps + 1`` prices from the open to the close through the high and the low."""
    rng = _rng(seed, symbol, bar.ts.isoformat())
    span = bar.high - bar.low
    if span <= 0:
        return np.full(steps + 1, bar.open)
    up = bar.close >= bar.open
    low_first = rng.random() < (0.75 if up else 0.25)
    first, second = (bar.low, bar.high) if low_first else (bar.high, bar.low)
    t1 = int(rng.integers(1, steps - 1))
    t2 = int(rng.integers(t1 + 1, steps))
    scale = span / math.sqrt(steps) / 2.0
    legs = [_bridge(rng, bar.open, first, t1, scale),
            _bridge(rng, first, second, t2 - t1, scale)[1:],
            _bridge(rng, second, bar.close, steps - t2, scale)[1:]]
    path: np.ndarray = np.clip(np.concatenate(legs), bar.low, bar.high)
    return path


@dataclass(slots=True)
class PermanentImpact:
    """Per-symbol signed permanent impact in bps, decaying with time (kept in memory: a
    restarted exchange starts from none, which it would reach within a few decay times)."""

    bps: float = 0.0
    ts: datetime | None = None

    def at(self, ts: datetime, decay_minutes: float) -> float:
        """The impact left at ``ts`` (decayed since the last fill)."""
        if self.ts is None:
            return 0.0
        minutes = max((ts - self.ts).total_seconds() / 60.0, 0.0)
        return self.bps * math.exp(-minutes / decay_minutes)

    def add(self, ts: datetime, bps: float, decay_minutes: float) -> None:
        self.bps, self.ts = self.at(ts, decay_minutes) + bps, ts


def _sign(side: Side) -> float:
    return 1.0 if side is Side.BUY else -1.0


def _base_price(order: WorkingOrder, bar: Bar, path: np.ndarray, arrival: int
                ) -> tuple[bool, float | None]:
    """(triggered now, the path price the order meets) for a market or stop-market order."""
    if order.order_type is OrderType.MARKET or order.triggered:
        return order.order_type is OrderType.SL_M, float(path[arrival])
    trigger, sign = order.trigger_price or 0.0, _sign(order.side)
    crossed = np.nonzero((path - trigger) * sign >= 0)[0]
    if crossed.size == 0:
        return False, None
    return True, float(path[crossed[0]])


def realism_match(order: WorkingOrder, bar: Bar, model: FillModel, *, path: np.ndarray,
                  arrival_u: float, permanent_bps: float) -> tuple[Match, float]:
    """The fill of ``order`` on ``bar`` and the permanent impact (signed bps) it adds.
    ``arrival_u`` in [0, 1) picks the arrival point; ``permanent_bps`` is the symbol's
    impact left by earlier fills."""
    if order.order_type not in _MARKET_LIKE:
        return match(order, bar, model), 0.0
    params: RealismParams = model.realism_params
    steps = len(path) - 1
    arrival = min(int(arrival_u * params.arrival_max_fraction * steps), steps)
    triggered, base = _base_price(order, bar, path, arrival)
    volume = bar.volume or 0.0
    if base is None or volume <= 0:
        return Match(triggered), 0.0
    qty = fill_qty(order, model)
    sign, sigma = _sign(order.side), parkinson_sigma_bps(bar.high, bar.low)
    participation = qty / volume
    temporary = impact_cost_bps(params.eta, params.exponent, sigma, participation)
    price = base * (1.0 + (permanent_bps + sign * temporary) / BPS)
    cap = order.limit_price  # market protection: never a fill through the cap
    if cap is not None and (base - cap) * sign > 0:
        return Match(triggered), 0.0  # the market is already past it: the order rests
    if cap is not None and (price - cap) * sign > 0:
        price = cap
    added = sign * params.kappa * sigma * participation
    return Match(triggered, qty, price), added


def arrival_fraction(seed: int, order_id: str, bar: Bar) -> float:
    """A seeded uniform in [0, 1) per (seed, order, bar)."""
    return float(_rng(seed, order_id, bar.ts.isoformat()).random())
