"""The bar simulator's compiled core: one position per instrument, stops, cutoff, costs.

One loop, :func:`simulate_packed`, serves a single backtest (``record=True``: trades and
equity written out, via :func:`simulate_kernel`) and the grid engine (``record=False``: only
the metrics vector, nothing per bar kept). It reads each bar's signals and session events
as bits of one byte (``S_*`` | ``F_*``) and runs through the quiet bars - those whose bits
ask nothing of the current position and that touch no stop or target - with only the
mark-to-market. The per-order rules (the decision at a close, stop/trail/target levels, how
a level fills against a bar, slippage, the tick grid) are :mod:`strategies.rules`, which the
live runner and the paper exchange call too; the loop's conventions:

* **Fills.** ``next_open`` (default): a signal seen at bar t's close fills at bar t+1's open,
  in the same session only. ``close``: fills at bar t's close (vectorbt's default).
* **Order inside a bar.** (1) cutoff: at the open of the first bar at/after the cutoff any
  position is closed; (2) pending next-open orders fill; (3) stop-loss/trailing stop, then
  target, against the bar's open/low/high - a gap through the level fills at the open;
  (4) signals at the close (ignored on a bar that stopped out, as vectorbt does);
  (5) session end: with a cutoff, a position still open at a session's last bar closes at
  its close. The trailing peak is updated after the stop check, with this bar's high (low).
* **No zero-length trades.** A close fill is refused where the position would be closed at
  once: on the last bar of the data or, with a cutoff, of a session, and at the cutoff.
* **Ruin.** When equity reaches zero the position is closed at that bar's close and no
  further trade is taken (the account is blown; metrics stop moving).
* **Levels on the tick grid** (``C_LEVEL_TICK`` > 0): stop, trail and target prices are
  rounded to the instrument's tick, up for a long and down for a short (stops tighter,
  targets further), as an exchange takes them; 0 keeps them exact (vectorbt's convention).
* **Size.** ``C_SIZE_FRAC`` 0: every trade is ``C_QTY`` units. ``C_SIZE_FRAC`` f > 0: a
  trade buys (sells short) ``f`` x cash / fill price units, rounded down to ``C_QTY_STEP``
  units (0: fractional) - vectorbt's ``size_type="percent"`` with ``size_granularity``;
  cash equals equity whenever a position opens. A size of zero units opens nothing.
* **Direction** (``C_DIRECTION``: 0 both, 1 long only, -1 short only): an entry on the other
  side is not taken, but still closes an open position, as it does with both sides.
* **Slippage** of ``slip`` points against the position on every fill except a target exit
  (a resting limit order fills at its price or, on a gap, the better open: the live runner
  sends targets as limit orders); **costs** from the NSE F&O schedule on every fill's
  turnover.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from strategies.arrays import F64, I64, B
from strategies.costs import fill_cost_tuple_inr
from strategies.metric_names import METRIC_NAMES as METRIC_NAMES  # re-exported
from strategies.rules import (
    R_CUTOFF,
    R_END,
    R_RUIN,
    R_SESSION_END,
    R_SIGNAL,
    R_STOP,
    R_TARGET,
    decide,
    entry_levels,
    exit_fill,
    on_tick,
    room_for_entry,
    slipped,
    stop_level,
    trail_level,
)

U8 = npt.NDArray[np.uint8]

_on_tick = on_tick  # the name tests/unit/test_simulator.py reads the tick rounding by

# packed inputs of simulate_packed: signal bits (one byte per bar, from pack_signals) and
# bar bits (from bar_flags) never overlap, so one OR gives everything a bar holds
S_LONG_ENTRY, S_LONG_EXIT, S_SHORT_ENTRY, S_SHORT_EXIT = 1, 2, 4, 8
F_NEW_SESSION, F_CUTOFF, F_SESSION_LAST, F_LAST = 16, 32, 64, 128
F_BOUNDARIES = F_NEW_SESSION | F_CUTOFF | F_SESSION_LAST | F_LAST

# cfg vector
C_QTY, C_STOP, C_STOP_FRAC, C_TRAIL, C_TRAIL_FRAC, C_TARGET, C_TARGET_FRAC = range(7)
C_MAX_TRADES, C_SLIP, C_NEXT_OPEN, C_CAPITAL, C_LEVEL_TICK = range(7, 12)
C_SIZE_FRAC, C_QTY_STEP, C_DIRECTION = range(12, 15)
N_CFG = 15

# trade record columns
T_ENTRY_IDX, T_EXIT_IDX, T_SIDE, T_QTY, T_ENTRY_PX, T_EXIT_PX = range(6)
T_GROSS, T_COSTS, T_NET, T_REASON = range(6, 10)
N_TRADE_COLS = 10

# metrics vector
M_TOTAL_RETURN, M_SHARPE, M_MAX_DD, M_TRADES, M_HIT, M_PROFIT_FACTOR = range(6)
M_COST_SHARE, M_NET_PNL, M_GROSS_PNL, M_COSTS, M_DAYS, M_EXPOSURE = range(6, 12)
N_METRICS = len(METRIC_NAMES)

# running trade book: trades, wins, sum of winning net P&L, sum of losing, gross P&L, costs
Book = tuple[float, float, float, float, float, float]


# Hot-loop helpers take and return scalars only: passing arrays to a numba function costs
# reference-count traffic on every call, which dominated the per-bar time (measured 25x).


@numba.njit(cache=True, nogil=True)
def _entry_qty(px: float, cash: float, sizing: tuple[float, float, float]) -> float:
    """Units of a new position filled at ``px``: ``sizing`` = (fixed units, fraction of cash,
    unit step); the fraction, when > 0, wins (rounded down to the step, as vectorbt's
    ``size_granularity``: ``units // step * step``)."""
    fixed, frac, step = sizing
    if frac <= 0:
        return fixed
    units = frac * cash / px
    if step > 0:
        units = units // step * step
    return max(units, 0.0)


@numba.njit(cache=True, nogil=True)
def _open(side: float, raw: float, cash: float, sizing: tuple[float, float, float],
          slip: float, rates: tuple[float, ...], rules: tuple[float, float, float, float],
          trail_pts: float, trail_frac: float, tick: float
          ) -> tuple[float, float, float, float, float, float, float, int]:
    """A position of ``side`` filled at ``raw`` (then slipped): (units, entry price, entry
    costs, stop, target, trail, the stop level that acts first, its reason); zero units
    when the sizing gives none (nothing opens)."""
    px = slipped(raw, side, slip)
    qty = _entry_qty(px, cash, sizing)
    cost = fill_cost_tuple_inr(rates, side > 0, px * qty)
    stop, target = entry_levels(side, px, rules, tick)
    trail = trail_level(side, px, trail_pts, trail_frac, tick)
    level, reason = stop_level(side, stop, trail)
    return qty, px, cost, stop, target, trail, level, reason


@numba.njit(cache=True, nogil=True)
def _record(trades: np.ndarray, k: int, entry_idx: int, exit_idx: int, side: float,
            qty: float, entry_px: float, exit_px: float, gross: float, costs: float,
            reason: int) -> None:
    if k < trades.shape[0]:
        row = trades[k]
        row[T_ENTRY_IDX], row[T_EXIT_IDX], row[T_SIDE], row[T_QTY] = entry_idx, exit_idx, side, qty
        row[T_ENTRY_PX], row[T_EXIT_PX] = entry_px, exit_px
        row[T_GROSS], row[T_COSTS], row[T_NET], row[T_REASON] = gross, costs, gross - costs, reason


@numba.njit(cache=True, nogil=True)
def _daily_sharpe(days: float, sum_r: float, sum_r2: float) -> float:
    if days < 2:
        return 0.0
    mean = sum_r / days
    var = (sum_r2 - days * mean * mean) / (days - 1)
    return mean / np.sqrt(var) * np.sqrt(252.0) if var > 1e-18 else 0.0


@numba.njit(cache=True, nogil=True)
def _ratio(num: float, den: float) -> float:
    """num / den; +inf for a positive numerator over nothing, 0 for nothing over nothing."""
    if den > 0:
        return num / den
    return np.inf if num > 0 else 0.0


@numba.njit(cache=True, nogil=True)
def _metrics(final_eq: float, capital: float, sharpe: float, max_dd: float, book: Book,
             days: float, exposure: float) -> np.ndarray:
    trades, wins, win_sum, loss_sum, gross, costs = book
    out = np.zeros(N_METRICS)
    out[M_TOTAL_RETURN] = final_eq / capital - 1.0
    out[M_SHARPE] = sharpe
    out[M_MAX_DD] = max_dd
    out[M_TRADES] = trades
    out[M_HIT] = wins / trades if trades > 0 else 0.0
    out[M_PROFIT_FACTOR] = _ratio(win_sum, loss_sum)
    out[M_COST_SHARE] = _ratio(costs, gross)
    out[M_NET_PNL] = gross - costs
    out[M_GROSS_PNL] = gross
    out[M_COSTS] = costs
    out[M_DAYS] = days
    out[M_EXPOSURE] = exposure
    return out


@numba.njit(cache=True, nogil=True)
def _settle(side: float, entry_px: float, entry_cost: float, raw_px: float, qty: float,
            slip: float, rates: tuple[float, ...]) -> tuple[float, float, float, float]:
    """Close at ``raw_px`` (slipped): (fill price, gross P&L, trade costs, cash change).
    The cash change is gross less the exit's costs; the entry's were paid at entry."""
    px = slipped(raw_px, -side, slip)
    exit_cost = fill_cost_tuple_inr(rates, side < 0, px * qty)
    gross = (px - entry_px) * side * qty
    return px, gross, entry_cost + exit_cost, gross - exit_cost


@numba.njit(cache=True, nogil=True)
def _booked(book: Book, gross: float, costs: float) -> Book:
    trades, wins, win_sum, loss_sum, gross_sum, cost_sum = book
    net = gross - costs
    if net > 0:
        wins, win_sum = wins + 1.0, win_sum + net
    else:
        loss_sum -= net
    return trades + 1.0, wins, win_sum, loss_sum, gross_sum + gross, cost_sum + costs


@numba.njit(cache=True, nogil=True)
def _active_bits(pos: float, ruined: bool, direction: float) -> int:
    """The signal and bar bits that make a bar more than a mark-to-market for a trader in
    position ``pos`` allowed to enter ``direction`` (0 both sides, 1 long, -1 short); on any
    other bar only a stop or target can act."""
    if pos > 0:
        return S_LONG_EXIT | S_SHORT_ENTRY | F_BOUNDARIES
    if pos < 0:
        return S_SHORT_EXIT | S_LONG_ENTRY | F_BOUNDARIES
    if ruined:
        return F_BOUNDARIES
    if direction > 0:
        return S_LONG_ENTRY | F_BOUNDARIES
    if direction < 0:
        return S_SHORT_ENTRY | F_BOUNDARIES
    return S_LONG_ENTRY | S_SHORT_ENTRY | F_BOUNDARIES


@numba.njit(cache=True, nogil=True)
def bar_flags(session: I64, cutoff_exit: B, session_last: B) -> U8:
    """The bar bits ``F_*`` of each bar: computed once per instrument, shared by every run."""
    n = len(session)
    flags = np.zeros(n, dtype=np.uint8)
    for t in range(n):
        bits = 0
        if t > 0 and session[t] != session[t - 1]:
            bits |= F_NEW_SESSION
        if cutoff_exit[t]:
            bits |= F_CUTOFF
        if session_last[t]:
            bits |= F_SESSION_LAST
        if t == n - 1:
            bits |= F_LAST
        flags[t] = bits
    return flags


@numba.njit(cache=True, nogil=True)
def pack_signals(le: B, lx: B, se: B, sx: B, out: U8) -> None:
    """The four signal arrays as the bits ``S_*`` of one byte per bar, into ``out``."""
    for t in range(len(out)):
        out[t] = (le[t] * S_LONG_ENTRY) | (lx[t] * S_LONG_EXIT) | (se[t] * S_SHORT_ENTRY) | (
            sx[t] * S_SHORT_EXIT)


@numba.njit(cache=True, nogil=True)
def simulate_kernel(
    o: F64, h: F64, lo: F64, c: F64, session: I64, entry_ok: B, entry_ok_close: B,
    cutoff_exit: B, session_last: B, flat_end: bool, le: B, lx: B, se: B, sx: B, cfg: F64,
    rates: F64, record: bool, trades: F64, equity: F64, daily: F64,
) -> F64:
    """Run one instrument through the signals; returns the metrics vector.

    With ``record`` the closed trades go to ``trades`` (rows ``0 .. metrics[M_TRADES]-1``)
    and the equity at each close to ``equity``. If ``daily`` is not empty, the return of each
    session (close of its last bar over the previous one's) goes to ``daily[k]`` for the k-th
    session seen (the input for PBO and DSR). Packs the bar and signal arrays into bits and
    runs :func:`simulate_packed`, the loop the grid engine runs too.
    """
    sig = np.empty(len(c), dtype=np.uint8)
    pack_signals(le, lx, se, sx, sig)
    return simulate_packed(o, h, lo, c, bar_flags(session, cutoff_exit, session_last), entry_ok,
                           entry_ok_close, flat_end, sig, cfg, rates, record, trades, equity,
                           daily)


@numba.njit(cache=True, nogil=True)
def _touch_bounds(side: float, level: float, target: float) -> tuple[float, float]:
    """(below, above): a bar whose open or low is at/below ``below``, or whose open or high is
    at/above ``above``, may exit at the stop level or the target (NaN: no such level). Used
    only to skip ``exit_fill`` on bars that touch neither: for +-1 sides and finite prices
    ``(o - level) * side <= 0`` is ``o <= level`` (long) or ``o >= level`` (short)."""
    if side > 0:
        return level, target
    return target, level


# error_model="numpy": no zero-division checks in the loop; its divisors are never zero
@numba.njit(cache=True, nogil=True, error_model="numpy")
def simulate_packed(  # noqa: C901 - the hot loop stays one flat function (see module doc)
    o: F64, h: F64, lo: F64, c: F64, flags: U8, entry_ok: B, entry_ok_close: B,
    flat_end: bool, sig: U8, cfg: F64, rates: F64, record: bool, trades: F64, equity: F64,
    daily: F64, skip_quiet: bool = True,
) -> F64:
    """:func:`simulate_kernel` on packed inputs: ``flags`` from :func:`bar_flags`, ``sig``
    from :func:`pack_signals`.

    One flat loop with scalar state on purpose: it is the hot path of every grid evaluation.
    A quiet bar - nothing pending and no bit of ``_active_bits`` set (no signal that could
    act on the position, no session boundary, cutoff or last bar) - is skipped when flat
    (equity stays at cash) and, in a position, only marked to market unless it touches a
    stop or target level or ruins the account; every other bar runs all five steps of the
    module doc. Both paths give the same numbers, bit for bit: ``skip_quiet=False`` runs
    every bar through the five steps, the reference the tests hold the fast path to.
    """
    n = len(c)
    slip, capital, tick = cfg[C_SLIP], cfg[C_CAPITAL], cfg[C_LEVEL_TICK]
    sizing = (cfg[C_QTY], cfg[C_SIZE_FRAC], cfg[C_QTY_STEP])
    direction = cfg[C_DIRECTION]
    qty = cfg[C_QTY]  # units of the open position
    trail_pts, trail_frac = cfg[C_TRAIL], cfg[C_TRAIL_FRAC]
    rules = (cfg[C_STOP], cfg[C_STOP_FRAC], cfg[C_TARGET], cfg[C_TARGET_FRAC])
    rt = (rates[0], rates[1], rates[2], rates[3], rates[4], rates[5], rates[6])
    max_trades = cfg[C_MAX_TRADES]
    next_open = cfg[C_NEXT_OPEN] > 0.5
    trailing = trail_pts > 0 or trail_frac > 0
    has_levels = trailing or rules[0] > 0 or rules[1] > 0 or rules[2] > 0 or rules[3] > 0
    book = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    pos = entry_px = entry_cost = peak = 0.0
    stop = target = trail = level = np.nan
    level_reason = R_STOP
    entry_idx = 0
    cash = capital  # capital + realised P&L - all costs paid so far
    today = 0
    pend_exit, pend_side = False, 0.0
    peak_eq, max_dd, prev_day_eq = capital, 0.0, capital
    days = sum_r = sum_r2 = in_pos = 0.0
    eq = capital
    ruined = False
    active = _active_bits(pos, ruined, direction)
    t = 0
    while t < n:
        if skip_quiet and not pend_exit and pend_side == 0:  # run through the quiet bars
            # unsigned bar index: no negative-index handling in the compiled loop
            first, t = np.uint64(t), n
            if pos == 0:  # flat: equity stays at cash
                for u in range(first, np.uint64(n)):
                    if (flags[u] | sig[u]) & active:
                        t = np.int64(u)  # type: ignore[assignment]  # numba: int(u) stays uint64
                        break
                    if record:
                        equity[u] = eq
            else:  # in a position: mark to market until a level is touched or ruin
                below, above = _touch_bounds(pos, level, target)
                for u in range(first, np.uint64(n)):
                    if (flags[u] | sig[u]) & active or (has_levels and (
                            (o[u] <= below) | (lo[u] <= below) | (o[u] >= above) | (
                            h[u] >= above))):
                        t = np.int64(u)  # type: ignore[assignment]  # numba: int(u) stays uint64
                        break
                    mark = cash + (c[u] - entry_px) * pos * qty
                    if mark <= 0:
                        t = np.int64(u)  # type: ignore[assignment]  # numba: int(u) stays uint64
                        break
                    if trailing:
                        peak = max(peak, h[u]) if pos > 0 else min(peak, lo[u])
                        trail = trail_level(pos, peak, trail_pts, trail_frac, tick)
                        level, level_reason = stop_level(pos, stop, trail)
                        below, above = _touch_bounds(pos, level, target)
                    eq = mark
                    in_pos += 1.0
                    peak_eq = max(peak_eq, eq)
                    max_dd = max(max_dd, 1.0 - eq / peak_eq)
                    if record:
                        equity[u] = eq
            if t == n:
                break
        bits = flags[t] | sig[t]
        full = (bits & active) != 0 or pend_exit or pend_side != 0
        if full:
            if bits & F_NEW_SESSION:
                today = 0
                if flat_end:
                    pend_exit, pend_side = False, 0.0
            reason, raw = -1, 0.0
            if pos != 0 and bits & F_CUTOFF:
                reason, raw = R_CUTOFF, o[t]
            elif next_open and pend_exit and pos != 0:
                reason, raw = R_SIGNAL, o[t]
            if reason >= 0:
                px, gross, costs, delta = _settle(pos, entry_px, entry_cost, raw, qty, slip, rt)
                if record:
                    _record(trades, int(book[0]), entry_idx, t, pos, qty, entry_px, px, gross,
                            costs, reason)
                book, cash, pos = _booked(book, gross, costs), cash + delta, 0.0
            enter_side, enter_raw = 0.0, 0.0
            if next_open and pend_side != 0 and pos == 0 and entry_ok[t] and not ruined:
                enter_side, enter_raw = pend_side, o[t]
            pend_exit, pend_side = False, 0.0
            if enter_side != 0 and room_for_entry(today, max_trades):
                qty, entry_px, entry_cost, stop, target, trail, level, level_reason = _open(
                    enter_side, enter_raw, cash, sizing, slip, rt, rules, trail_pts,
                    trail_frac, tick)
                if qty > 0:
                    pos = enter_side
                    cash -= entry_cost
                    entry_idx, peak, today = t, entry_px, today + 1
        stopped = False
        if pos != 0 and has_levels:
            raw, reason = exit_fill(pos, o[t], h[t], lo[t], level, level_reason, target)
            if reason >= 0:  # a target is a limit order: no slippage
                px, gross, costs, delta = _settle(pos, entry_px, entry_cost, raw, qty,
                                                  0.0 if reason == R_TARGET else slip, rt)
                if record:
                    _record(trades, int(book[0]), entry_idx, t, pos, qty, entry_px, px, gross,
                            costs, reason)
                book, cash, pos, stopped = _booked(book, gross, costs), cash + delta, 0.0, True
            elif trailing:
                peak = max(peak, h[t]) if pos > 0 else min(peak, lo[t])
                trail = trail_level(pos, peak, trail_pts, trail_frac, tick)
                level, level_reason = stop_level(pos, stop, trail)
        last = t == n - 1
        if full:
            if not stopped and not ruined:
                do_exit, side = decide(pos, (bits & S_LONG_ENTRY) != 0,
                                       (bits & S_LONG_EXIT) != 0, (bits & S_SHORT_ENTRY) != 0,
                                       (bits & S_SHORT_EXIT) != 0, direction)
                if next_open:
                    pend_exit, pend_side = do_exit, side
                else:
                    if do_exit and pos != 0:
                        px, gross, costs, delta = _settle(pos, entry_px, entry_cost, c[t], qty,
                                                          slip, rt)
                        if record:
                            _record(trades, int(book[0]), entry_idx, t, pos, qty, entry_px, px,
                                    gross, costs, R_SIGNAL)
                        book, cash, pos = _booked(book, gross, costs), cash + delta, 0.0
                    if side != 0 and pos == 0 and entry_ok_close[t] and room_for_entry(
                            today, max_trades) and not (
                            last or (flat_end and bits & F_SESSION_LAST)):  # would close at once
                        qty, entry_px, entry_cost, stop, target, trail, level, level_reason = \
                            _open(side, c[t], cash, sizing, slip, rt, rules, trail_pts,
                                  trail_frac, tick)
                        if qty > 0:
                            pos = side
                            cash -= entry_cost
                            entry_idx, peak, today = t, entry_px, today + 1
            if pos != 0 and (last or (flat_end and bits & F_SESSION_LAST)):
                reason = R_END if last else R_SESSION_END
                px, gross, costs, delta = _settle(pos, entry_px, entry_cost, c[t], qty, slip, rt)
                if record:
                    _record(trades, int(book[0]), entry_idx, t, pos, qty, entry_px, px, gross,
                            costs, reason)
                book, cash, pos = _booked(book, gross, costs), cash + delta, 0.0
        eq = cash + (c[t] - entry_px) * pos * qty
        if eq <= 0 and not ruined:
            ruined = True
            if pos != 0:
                px, gross, costs, delta = _settle(pos, entry_px, entry_cost, c[t], qty, slip, rt)
                if record:
                    _record(trades, int(book[0]), entry_idx, t, pos, qty, entry_px, px, gross,
                            costs, R_RUIN)
                book, cash, pos = _booked(book, gross, costs), cash + delta, 0.0
                eq = cash
        if pos != 0:
            in_pos += 1.0
        peak_eq = max(peak_eq, eq)
        max_dd = max(max_dd, 1.0 - eq / peak_eq)
        if bits & (F_SESSION_LAST | F_LAST) and prev_day_eq > 0:
            r = eq / prev_day_eq - 1.0
            if daily.shape[0] > int(days):
                daily[int(days)] = r
            days += 1.0
            sum_r += r
            sum_r2 += r * r
            prev_day_eq = eq
        if record:
            equity[t] = eq
        active = _active_bits(pos, ruined, direction)
        t += 1
    return _metrics(eq, capital, _daily_sharpe(days, sum_r, sum_r2), max_dd, book, days,
                    in_pos / n if n > 0 else 0.0)
