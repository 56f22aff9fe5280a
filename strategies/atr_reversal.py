"""ATR reversal: fade a stretch of more than ``k`` ATRs from the mean once price turns back.

Long when the previous close sat more than ``k`` x ATR below EMA(``mean_period``) and this
bar confirms the turn (closes up, above its open); short mirrored. Exit when the close gets
back to the mean (long: close >= EMA; short: close <= EMA). ATR is Wilder's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numba
import numpy as np

from strategies.arrays import F64, I64, B
from strategies.bars import Bars
from strategies.indicators import _atr_kernel, _ema_kernel
from strategies.params import require
from strategies.spec import Plan, StrategySpec, TableBuilder


@dataclass(frozen=True, kw_only=True, slots=True)
class AtrReversalParams:
    """``k`` ATRs of stretch from EMA(``mean_period``) with ATR(``atr_period``)."""

    mean_period: int = 20
    atr_period: int = 14
    k: float = 2.0

    def __post_init__(self) -> None:
        require(self.mean_period >= 2, "mean_period", self.mean_period, "must be >= 2")
        require(self.atr_period >= 2, "atr_period", self.atr_period, "must be >= 2")
        require(0 < self.k <= 10, "k", self.k, "must be in (0, 10]")


SPACE = {
    "mean_period": (10, 20, 30, 50, 80),
    "atr_period": (7, 14, 21),
    "k": (1.5, 2.0, 2.5, 3.0, 3.5),
}


def warmup(params: AtrReversalParams) -> int:
    return max(params.mean_period, params.atr_period)


def plan(bars: Bars, combos: Sequence[AtrReversalParams]) -> Plan:
    rows = TableBuilder(len(bars))
    idx, values = [], []
    for p in combos:
        mean = rows.row(("ema", p.mean_period), partial(_ema_kernel, bars.close, p.mean_period))
        atr = rows.row(("atr", p.atr_period), partial(
            _atr_kernel, bars.high, bars.low, bars.close, p.atr_period))
        idx.append((mean, atr))
        values.append((p.k, float(warmup(p))))
    return Plan(rows.table(), np.array(idx, dtype=np.int64), np.array(values))


@numba.njit(cache=True, nogil=True)
def kernel(o: F64, h: F64, lo: F64, c: F64, session: I64, bar_in_session: I64, table: F64,
           idx: I64, values: F64, le: B, lx: B, se: B, sx: B) -> None:
    mean, atr = table[idx[0]], table[idx[1]]
    k = values[0]
    start = max(int(values[1]), 1)
    for t in range(start, len(c)):
        band = k * atr[t - 1]
        if np.isnan(band):
            continue
        le[t] = c[t - 1] < mean[t - 1] - band and c[t] > o[t] and c[t] > c[t - 1]
        se[t] = c[t - 1] > mean[t - 1] + band and c[t] < o[t] and c[t] < c[t - 1]
        lx[t] = c[t] >= mean[t]
        sx[t] = c[t] <= mean[t]


SPEC = StrategySpec(
    name="atr_reversal", params_cls=AtrReversalParams, space=SPACE, priority=3,
    warmup=warmup, plan=plan, kernel=kernel, description=__doc__.splitlines()[0],
)
