"""Range breakout: trade the close beyond a range, after consolidation.

``mode="opening"``: the range is the high/low of each session's first ``range_bars`` bars
(opening range); at most one long and one short breakout per session. ``mode="rolling"``:
the range is the high/low of the previous ``range_bars`` bars. Long on the first close above
the range high, short on the first close below the range low. Chop filter: with
``chop_min > 0`` a breakout counts only if the Choppiness Index (``chop_period``) of the bar
before was at least ``chop_min`` - price was consolidating. A long exits on a close below
the range low (and vice versa); the session cutoff flattens whatever is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numba
import numpy as np

from strategies.arrays import F64, I64, B
from strategies.bars import Bars
from strategies.indicators import _choppiness_kernel, _rolling_max_kernel, _rolling_min_kernel
from strategies.params import require
from strategies.spec import Plan, StrategySpec, TableBuilder

MODES = ("opening", "rolling")


@dataclass(frozen=True, kw_only=True, slots=True)
class RangeBreakoutParams:
    """Range of ``range_bars`` bars (``mode`` opening or rolling); chop filter off at 0."""

    mode: str = "opening"
    range_bars: int = 15
    chop_period: int = 14
    chop_min: float = 0.0

    def __post_init__(self) -> None:
        require(self.mode in MODES, "mode", self.mode, f"must be one of {MODES}")
        require(self.range_bars >= 2, "range_bars", self.range_bars, "must be >= 2")
        require(self.chop_period >= 2, "chop_period", self.chop_period, "must be >= 2")
        require(0 <= self.chop_min < 100, "chop_min", self.chop_min, "must be in [0, 100)")


SPACE = {
    "mode": MODES,
    "range_bars": (5, 10, 15, 30, 45, 60),
    "chop_period": (14, 30),
    "chop_min": (0.0, 50.0, 61.8),
}


def warmup(params: RangeBreakoutParams) -> int:
    return max(params.range_bars, params.chop_period if params.chop_min > 0 else 0)


def plan(bars: Bars, combos: Sequence[RangeBreakoutParams]) -> Plan:
    rows = TableBuilder(len(bars))
    idx, values = [], []
    for p in combos:
        chop = -1
        if p.chop_min > 0:
            chop = rows.row(("chop", p.chop_period), partial(
                _choppiness_kernel, bars.high, bars.low, bars.close, p.chop_period))
        hi = lo = -1
        if p.mode == "rolling":
            hi = rows.row(("max", p.range_bars), partial(
                _rolling_max_kernel, bars.high, p.range_bars))
            lo = rows.row(("min", p.range_bars), partial(
                _rolling_min_kernel, bars.low, p.range_bars))
        idx.append((chop, hi, lo))
        values.append((1.0 if p.mode == "opening" else 0.0, float(p.range_bars), p.chop_min,
                       float(warmup(p))))
    return Plan(rows.table(), np.array(idx, dtype=np.int64), np.array(values))


@numba.njit(cache=True, nogil=True)
def _consolidated(table: F64, row: int, t: int, chop_min: float) -> bool:
    if row < 0:
        return True
    value = table[row, t - 1]
    return not np.isnan(value) and value >= chop_min


@numba.njit(cache=True, nogil=True)
def _opening(h: F64, lo: F64, c: F64, session: I64, bar_in_session: I64, table: F64, idx: I64,
             values: F64, le: B, lx: B, se: B, sx: B) -> None:
    n_range = int(values[1])
    top, bottom = -np.inf, np.inf
    long_done = short_done = False
    for t in range(len(c)):  # from bar 0: the first session's range includes its first bar
        if t > 0 and session[t] != session[t - 1]:
            top, bottom = -np.inf, np.inf
            long_done = short_done = False
        if bar_in_session[t] < n_range:
            top, bottom = max(top, h[t]), min(lo[t], bottom)
            continue
        up = c[t] > top and not long_done
        down = c[t] < bottom and not short_done
        calm = _consolidated(table, idx[0], t, values[2])
        le[t] = up and calm
        se[t] = down and calm
        long_done = long_done or le[t]
        short_done = short_done or se[t]
        lx[t] = c[t] < bottom
        sx[t] = c[t] > top


@numba.njit(cache=True, nogil=True)
def _rolling(c: F64, table: F64, idx: I64, values: F64, le: B, lx: B, se: B, sx: B) -> None:
    top, bottom = table[idx[1]], table[idx[2]]
    start = max(int(values[3]) + 1, 2)
    for t in range(start, len(c)):
        up = c[t] > top[t - 1] and c[t - 1] <= top[t - 2]
        down = c[t] < bottom[t - 1] and c[t - 1] >= bottom[t - 2]
        calm = _consolidated(table, idx[0], t, values[2])
        le[t] = up and calm
        se[t] = down and calm
        lx[t] = c[t] < bottom[t - 1]
        sx[t] = c[t] > top[t - 1]


@numba.njit(cache=True, nogil=True)
def kernel(o: F64, h: F64, lo: F64, c: F64, session: I64, bar_in_session: I64, table: F64,
           idx: I64, values: F64, le: B, lx: B, se: B, sx: B) -> None:
    if values[0] > 0.5:
        _opening(h, lo, c, session, bar_in_session, table, idx, values, le, lx, se, sx)
    else:
        _rolling(c, table, idx, values, le, lx, se, sx)


SPEC = StrategySpec(
    name="range_breakout", params_cls=RangeBreakoutParams, space=SPACE, priority=1,
    warmup=warmup, plan=plan, kernel=kernel, description=__doc__.splitlines()[0],
)
