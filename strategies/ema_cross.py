"""EMA cross: long when the fast EMA crosses above the slow one, short when it crosses below.

Optional trend filter: with ``trend > 0`` a long needs the close above EMA(trend) and a short
below it. Exits: the opposite cross. EMAs follow pandas ``ewm(span, adjust=False)`` seeded
with the first close (vectorbt's convention); no signal before ``slow`` bars of warm-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from strategies.arrays import F64, I64, B
from strategies.bars import Bars
from strategies.indicators import _ema_kernel
from strategies.params import require
from strategies.spec import Plan, StrategySpec, TableBuilder


@dataclass(frozen=True, kw_only=True, slots=True)
class EmaCrossParams:
    """``fast`` < ``slow`` bars; ``trend`` 0 (off) or > ``slow``."""

    fast: int = 9
    slow: int = 21
    trend: int = 0

    def __post_init__(self) -> None:
        require(self.fast >= 2, "fast", self.fast, "must be >= 2")
        require(self.slow > self.fast, "slow", self.slow, f"must be > fast ({self.fast})")
        require(self.trend == 0 or self.trend > self.slow, "trend", self.trend,
                f"must be 0 (off) or > slow ({self.slow})")


SPACE = {
    "fast": tuple(range(3, 31, 3)),
    "slow": tuple(range(20, 121, 10)),
    "trend": (0, 200),
}


def warmup(params: EmaCrossParams) -> int:
    return max(params.slow, params.trend)


def plan(bars: Bars, combos: Sequence[EmaCrossParams]) -> Plan:
    rows = TableBuilder(len(bars))
    idx, values = [], []
    for p in combos:
        def ema(span: int) -> int:
            return rows.row(("ema", span), lambda: _ema_kernel(bars.close, span))
        idx.append((ema(p.fast), ema(p.slow), ema(p.trend) if p.trend else -1))
        values.append((float(warmup(p)),))
    return Plan(rows.table(), np.array(idx, dtype=np.int64), np.array(values))


@numba.njit(cache=True, nogil=True)
def kernel(o: F64, h: F64, lo: F64, c: F64, session: I64, bar_in_session: I64, table: F64,
           idx: I64, values: F64, le: B, lx: B, se: B, sx: B) -> None:
    fast, slow = table[idx[0]], table[idx[1]]
    has_trend = idx[2] >= 0
    trend = table[max(idx[2], 0)]
    start = max(int(values[0]), 1)
    for t in range(start, len(c)):  # outputs arrive zeroed: write only the True bars
        if fast[t - 1] <= slow[t - 1] and fast[t] > slow[t]:
            le[t] = not has_trend or c[t] > trend[t]
            sx[t] = True
        elif fast[t - 1] >= slow[t - 1] and fast[t] < slow[t]:
            se[t] = not has_trend or c[t] < trend[t]
            lx[t] = True


SPEC = StrategySpec(
    name="ema_cross", params_cls=EmaCrossParams, space=SPACE, priority=2, warmup=warmup,
    plan=plan, kernel=kernel, description=__doc__.splitlines()[0],
)
