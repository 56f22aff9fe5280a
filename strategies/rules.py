"""The execution rules, written once: what a bar's signals decide, where a position's stop,
trail and target stand, how a resting stop or limit order fills against a bar, slippage and
the tick grid.

The bar simulator (:mod:`strategies.sim_kernel`), the live runner's decisions
(:mod:`live.runner.decisions`) and the paper exchange's ``parity`` fill model
(:mod:`live.adapters.paper.fill_model`) all call these functions, so a backtest, a live run
and a paper fill cannot drift apart. They are numba functions taking and returning scalars
only (the simulator's hot loop calls them per bar; arrays would cost reference counting);
from Python pass floats, so no second specialisation is compiled.

Conventions:

* **Sides.** ``side`` is a position's side (+1 long, -1 short); ``order_side`` an order's
  (+1 buy, -1 sell). A position's exit order has ``order_side = -side``.
* **Levels** (:func:`entry_levels`, :func:`trail_level`, :func:`stop_level`): points or a
  fraction of the entry price (the trail: of the best price since entry), 0 = unset, NaN
  when unset; on the tick grid when ``tick`` > 0 (:func:`on_tick`). The stop level that
  acts is the tighter of the stop and the trail.
* **Fills against a bar** (:func:`exit_fill`; :func:`stop_fill`, :func:`limit_fill` for one
  order): a stop triggers when the bar trades through its trigger and fills at the
  trigger, a limit fills at its price; a bar that opens beyond the level (a gap through
  it) fills at the open. A position's stop level acts before its target on one bar.
* **Slippage** (:func:`slipped`): ``slip`` points against the order on market and
  stop-market fills; limit fills (targets) never slip.

Validation of the rule values lives here too (:func:`check_levels`, :func:`check_fill`,
:func:`check_slippage`), shared by :class:`strategies.simulator.SimConfig`, the runner's
``Rules`` and the paper exchange's ``FillModel``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numba
import numpy as np

from strategies.params import require

#: The exit rules' keys of a version's ``sim`` (and :class:`~strategies.simulator.SimConfig`).
LEVEL_KEYS = ("stop_points", "stop_frac", "trail_points", "trail_frac", "target_points",
              "target_frac")
FILL_CONVENTIONS = ("next_open", "close")

# exit reasons (the trades table's ``exit_reason``)
REASONS = ("signal", "stop", "trail", "target", "cutoff", "session_end", "end_of_data", "ruin")
R_SIGNAL, R_STOP, R_TRAIL, R_TARGET, R_CUTOFF, R_SESSION_END, R_END, R_RUIN = range(8)


# --- validation ------------------------------------------------------------------------------


def _finite(value: object) -> bool:
    return isinstance(value, Real) and math.isfinite(value)


def check_levels(values: Mapping[str, Any], where: str = "") -> None:
    """Refuse exit-rule values (:data:`LEVEL_KEYS`, missing = 0) that are not finite and
    >= 0, or a rule given both in points and as a fraction; names are prefixed ``where``."""
    for name in LEVEL_KEYS:
        value = values.get(name, 0.0)
        require(_finite(value) and value >= 0, f"{where}{name}", value,
                "must be finite and >= 0")
    for rule in ("stop", "trail", "target"):
        points, frac = values.get(f"{rule}_points", 0.0), values.get(f"{rule}_frac", 0.0)
        require(not (points > 0 and frac > 0), f"{where}{rule}_frac", frac,
                f"{where}{rule}_points and {where}{rule}_frac are both set (set one, not both)")


def check_fill(fill: object, where: str = "") -> None:
    """Refuse a fill convention other than :data:`FILL_CONVENTIONS`."""
    require(fill in FILL_CONVENTIONS, f"{where}fill", fill, "must be 'next_open' or 'close'")


def check_slippage(slippage_ticks: float, tick_size: float, where: str = "") -> None:
    """Refuse a negative or non-finite slippage, or a tick size that is not > 0."""
    require(_finite(slippage_ticks) and slippage_ticks >= 0, f"{where}slippage_ticks",
            slippage_ticks, "must be finite and >= 0")
    require(_finite(tick_size) and tick_size > 0, f"{where}tick_size", tick_size,
            "must be finite and > 0")


# --- the compiled rules ----------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def slippage_points(slippage_ticks: float, tick_size: float) -> float:
    """Slippage in price points: ``slippage_ticks`` ticks of ``tick_size``."""
    return slippage_ticks * tick_size


@numba.njit(cache=True, nogil=True)
def slipped(raw: float, order_side: float, slip: float) -> float:
    """A market or stop-market fill at ``raw`` moved ``slip`` points against the order."""
    return raw + order_side * slip


@numba.njit(cache=True, nogil=True)
def on_tick(price: float, side: float, tick: float) -> float:
    """``price`` on the tick grid (``tick`` 0: unchanged), rounded up for a long's levels
    and down for a short's: stops and trails tighter, targets further - never a level the
    exchange would refuse, never a more favourable one than asked. A price already on the
    grid (to 1e-9 relative, float noise) stays."""
    if tick <= 0 or np.isnan(price):
        return price
    n = price / tick
    k = np.round(n)
    if abs(n - k) > 1e-9 * max(1.0, abs(n)):
        k = np.ceil(n) if side > 0 else np.floor(n)
    inv = 1.0 / tick
    if abs(inv - np.round(inv)) < 1e-9:  # e.g. 0.05: k / 20 is the nearest double
        return float(k / np.round(inv))
    return float(k * tick)


@numba.njit(cache=True, nogil=True)
def entry_levels(side: float, px: float, rules: tuple[float, float, float, float],
                 tick: float) -> tuple[float, float]:
    """Stop-loss and target prices of a position entered at ``px`` (NaN when unset), on the
    ``tick`` grid (:func:`on_tick`); ``rules`` = (stop points, stop fraction, target
    points, target fraction)."""
    stop_pts, stop_frac, target_pts, target_frac = rules
    stop = np.nan
    if stop_pts > 0:
        stop = px - side * stop_pts
    elif stop_frac > 0:
        stop = px * (1.0 - side * stop_frac)
    target = np.nan
    if target_pts > 0:
        target = px + side * target_pts
    elif target_frac > 0:
        target = px * (1.0 + side * target_frac)
    return on_tick(stop, side, tick), on_tick(target, side, tick)


@numba.njit(cache=True, nogil=True)
def trail_level(side: float, peak: float, trail_pts: float, trail_frac: float,
                tick: float) -> float:
    """The trailing stop of a position whose best price since entry is ``peak`` (NaN when
    unset), on the ``tick`` grid."""
    if trail_pts > 0:
        return on_tick(peak - side * trail_pts, side, tick)
    if trail_frac > 0:
        return on_tick(peak * (1.0 - side * trail_frac), side, tick)
    return np.nan


@numba.njit(cache=True, nogil=True)
def stop_level(side: float, stop: float, trail: float) -> tuple[float, int]:
    """The level that stops the position out first (the stop or the trail) and its reason;
    (NaN, R_STOP) when neither is set."""
    if not np.isnan(trail) and (np.isnan(stop) or (trail - stop) * side > 0):
        return trail, R_TRAIL
    return stop, R_STOP


@numba.njit(cache=True, nogil=True)
def exit_fill(side: float, o: float, h: float, lo: float, level: float, level_reason: int,
              target: float) -> tuple[float, int]:
    """(raw exit price, reason) of the resting exit orders of a position of ``side`` on the
    bar (o, h, lo): its stop level (a stop order at ``level``, the stop or the trail - see
    :func:`stop_level`) first, else its target (a limit order at ``target``); (NaN, -1)
    when neither is hit, NaN levels never are. A level is hit at the open when the bar
    opens at/through it (a gap), else at the level when the bar's range reaches it.

    The one statement of the touch and gap-through-level rule: :func:`stop_fill` and
    :func:`limit_fill` (the paper exchange's orders) are this function with one level."""
    if not np.isnan(level):
        if (o - level) * side <= 0:
            return o, level_reason
        if (side > 0 and lo <= level) or (side < 0 and h >= level):
            return level, level_reason
    if not np.isnan(target):
        if (o - target) * side >= 0:
            return o, R_TARGET
        if (side > 0 and h >= target) or (side < 0 and lo <= target):
            return target, R_TARGET
    return np.nan, -1


@numba.njit(cache=True, nogil=True)
def stop_fill(order_side: float, o: float, h: float, lo: float, trigger: float) -> float:
    """Raw fill price of a stop order of ``order_side`` against the bar (o, h, lo) - the
    open on a gap through the trigger, else the trigger when reached - or NaN when it is
    not (:func:`exit_fill` of the position the order closes). Slippage is the caller's."""
    return exit_fill(-order_side, o, h, lo, trigger, R_STOP, np.nan)[0]


@numba.njit(cache=True, nogil=True)
def limit_fill(order_side: float, o: float, h: float, lo: float, limit: float) -> float:
    """Fill price of a limit order of ``order_side`` against the bar (o, h, lo) - the
    better open on a gap through the limit, else the limit when reached - or NaN when it
    is not (:func:`exit_fill` of the position the order closes). Never slipped."""
    return exit_fill(-order_side, o, h, lo, np.nan, R_STOP, limit)[0]


@numba.njit(cache=True, nogil=True)
def decide(pos: float, le: bool, lx: bool, se: bool, sx: bool, direction: float
           ) -> tuple[bool, float]:
    """(exit now?, side to enter) from the four signals and the current position ``pos``:
    exit on the position's exit signal or the opposite entry, no pyramiding, an entry only
    without the opposite one at once; ``direction`` 1 (-1) takes long (short) entries only,
    0 both - the other side's entry still closes a position."""
    long_in = le and not se
    short_in = se and not le
    if pos > 0:
        do_exit, side = lx or se, -1.0 if short_in else 0.0
    elif pos < 0:
        do_exit, side = sx or le, 1.0 if long_in else 0.0
    else:
        do_exit, side = False, 1.0 if long_in else (-1.0 if short_in else 0.0)
    if side * direction < 0:
        side = 0.0
    return do_exit, side


@numba.njit(cache=True, nogil=True)
def room_for_entry(trades_today: float, max_trades: float) -> bool:
    """Whether a day with ``trades_today`` entries takes another (``max_trades`` 0:
    unlimited)."""
    return max_trades <= 0 or trades_today < max_trades
