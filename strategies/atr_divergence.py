"""ATR divergence: price makes a new extreme that ATR-normalised momentum does not confirm.

Momentum is ``(close[t] - close[t - lookback]) / ATR[t]``. Pivots need ``left`` bars before
and ``right`` bars after them, so a divergence is known ``right`` bars after its pivot and
the signal fires on that confirmation bar (no look-ahead). Long on a bullish divergence
(lower low, higher momentum), short on a bearish one; each exits on the opposite divergence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numba
import numpy as np

from strategies.arrays import F64, I64, B
from strategies.bars import Bars
from strategies.indicators import _atr_kernel, _atr_normalised_momentum_kernel
from strategies.params import require
from strategies.pivots import _bearish_divergence_kernel, _bullish_divergence_kernel
from strategies.spec import Plan, StrategySpec, TableBuilder


@dataclass(frozen=True, kw_only=True, slots=True)
class AtrDivergenceParams:
    """ATR(``atr_period``)-normalised momentum over ``lookback``; pivots ``left``/``right``."""

    atr_period: int = 14
    lookback: int = 10
    left: int = 5
    right: int = 2

    def __post_init__(self) -> None:
        require(self.atr_period >= 2, "atr_period", self.atr_period, "must be >= 2")
        require(self.lookback >= 1, "lookback", self.lookback, "must be >= 1")
        require(self.left >= 1, "left", self.left, "must be >= 1")
        require(self.right >= 1, "right", self.right, "must be >= 1")


SPACE = {
    "atr_period": (10, 14, 20),
    "lookback": (5, 10, 20),
    "left": (3, 5, 8),
    "right": (1, 2, 3),
}


def warmup(params: AtrDivergenceParams) -> int:
    return max(params.atr_period, params.lookback) + params.left + params.right


def plan(bars: Bars, combos: Sequence[AtrDivergenceParams]) -> Plan:
    rows = TableBuilder(len(bars))
    idx, values = [], []
    for p in combos:
        atr_row = rows.row(("atr", p.atr_period), partial(
            _atr_kernel, bars.high, bars.low, bars.close, p.atr_period))
        osc = rows.row(("mom", p.atr_period, p.lookback), partial(
            _atr_normalised_momentum_kernel, bars.close, rows.series(atr_row), p.lookback))
        idx.append((osc,))
        values.append((float(p.left), float(p.right), float(warmup(p))))
    return Plan(rows.table(), np.array(idx, dtype=np.int64), np.array(values))


@numba.njit(cache=True, nogil=True)
def kernel(o: F64, h: F64, lo: F64, c: F64, session: I64, bar_in_session: I64, table: F64,
           idx: I64, values: F64, le: B, lx: B, se: B, sx: B) -> None:
    osc = table[idx[0]]
    left, right, start = int(values[0]), int(values[1]), int(values[2])
    bull = _bullish_divergence_kernel(lo, osc, left, right)
    bear = _bearish_divergence_kernel(h, osc, left, right)
    for t in range(start, len(c)):
        le[t] = bull[t]
        se[t] = bear[t]
        lx[t] = bear[t]
        sx[t] = bull[t]


SPEC = StrategySpec(
    name="atr_divergence", params_cls=AtrDivergenceParams, space=SPACE, priority=4,
    warmup=warmup, plan=plan, kernel=kernel, description=__doc__.splitlines()[0],
)
