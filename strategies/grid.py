"""Grid evaluation: every combination of a strategy's parameter space in one compiled pass.

Indicators are computed once per distinct setting (the plan's table) and the bar bits once
per run; then a parallel numba loop over blocks of combinations runs each one's signal
kernel into per-thread scratch buffers (reused across the block's combinations), packs the
signals into one byte per bar and runs the simulator in metrics-only mode. Nothing of size
bars x combinations is ever built: memory is the indicator table plus O(threads x bars).
Progress is reported between chunks of combinations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

from strategies import atr_divergence, atr_reversal, ema_cross, range_breakout
from strategies.arrays import F64, I64, B
from strategies.bars import Bars
from strategies.params import expand_space, get_params
from strategies.sim_kernel import (
    METRIC_NAMES,
    N_METRICS,
    N_TRADE_COLS,
    U8,
    bar_flags,
    pack_signals,
    simulate_packed,
)
from strategies.simulator import SimConfig
from strategies.spec import StrategySpec

# Kernel ids: the grid kernel calls each strategy's signal kernel statically (a jitted
# function passed as an argument defeats numba's on-disk cache: ~30 s compile per process).
KERNEL_IDS = {"ema_cross": 0, "atr_reversal": 1, "atr_divergence": 2, "range_breakout": 3}


@numba.njit(cache=True, nogil=True)
def _signals(kernel_id: int, o: F64, h: F64, lo: F64, c: F64, session: I64, bar_in_session: I64,
             table: F64, idx: I64, values: F64, le: B, lx: B, se: B, sx: B) -> None:
    if kernel_id == 0:
        ema_cross.kernel(o, h, lo, c, session, bar_in_session, table, idx, values, le, lx, se,
                         sx)
    elif kernel_id == 1:
        atr_reversal.kernel(o, h, lo, c, session, bar_in_session, table, idx, values, le, lx,
                            se, sx)
    elif kernel_id == 2:
        atr_divergence.kernel(o, h, lo, c, session, bar_in_session, table, idx, values, le, lx,
                              se, sx)
    else:
        range_breakout.kernel(o, h, lo, c, session, bar_in_session, table, idx, values, le, lx,
                              se, sx)


@numba.njit(cache=True, nogil=True)
def _run_block(kernel_id: int, o: F64, h: F64, lo: F64, c: F64, session: I64,
               bar_in_session: I64, flags: U8, entry_ok: B, entry_ok_close: B, flat_end: bool,
               table: F64, idx: I64, values: F64, cfg: F64, rates: F64, out: F64,
               daily_out: F64, first: int, stop: int) -> None:
    """Combinations ``first .. stop-1``, one after another, in one set of scratch buffers."""
    n = len(c)
    le = np.empty(n, dtype=np.bool_)
    lx = np.empty(n, dtype=np.bool_)
    se = np.empty(n, dtype=np.bool_)
    sx = np.empty(n, dtype=np.bool_)
    sig = np.empty(n, dtype=np.uint8)
    trades = np.zeros((1, N_TRADE_COLS))
    equity = np.zeros(1)
    for j in range(first, stop):
        le[:] = False  # the signal kernels write only the True bars
        lx[:] = False
        se[:] = False
        sx[:] = False
        _signals(kernel_id, o, h, lo, c, session, bar_in_session, table, idx[j], values[j],
                 le, lx, se, sx)
        pack_signals(le, lx, se, sx, sig)
        out[j] = simulate_packed(o, h, lo, c, flags, entry_ok, entry_ok_close, flat_end, sig,
                                 cfg, rates, False, trades, equity, daily_out[j])


@numba.njit(cache=True, nogil=True, parallel=True)
def _grid_kernel(kernel_id: int, o: F64, h: F64, lo: F64, c: F64, session: I64,
                 bar_in_session: I64, flags: U8, entry_ok: B, entry_ok_close: B,
                 flat_end: bool, table: F64, idx: I64, values: F64, cfg: F64, rates: F64,
                 out: F64, daily_out: F64, blocks: int) -> None:
    m = idx.shape[0]
    for b in numba.prange(blocks):
        _run_block(kernel_id, o, h, lo, c, session, bar_in_session, flags, entry_ok,
                   entry_ok_close, flat_end, table, idx, values, cfg, rates, out, daily_out,
                   b * m // blocks, (b + 1) * m // blocks)


@dataclass(frozen=True, slots=True)
class GridResult:
    """One row per combination: its parameters, then the metrics."""

    strategy: str
    params: list[Any]
    metrics: np.ndarray  # combos x N_METRICS
    daily: np.ndarray | None = None  # combos x sessions: each session's return, if asked

    def frame(self) -> pd.DataFrame:
        left = pd.DataFrame([get_params(p) for p in self.params])
        return pd.concat([left, pd.DataFrame(self.metrics, columns=list(METRIC_NAMES))], axis=1)


def run_grid(
    spec: StrategySpec, bars: Bars, config: SimConfig, combos: Sequence[Any] | None = None, *,
    chunk: int = 256, progress: Callable[[int], None] | None = None, daily: bool = False,
) -> GridResult:
    """Evaluate ``combos`` (default: the whole declared space) of ``spec`` on ``bars``.

    With ``daily`` the result also holds every combination's per-session returns
    (combinations x sessions: small, unlike bars x combinations), for PBO and DSR.
    """
    params = list(combos) if combos is not None else list(expand_space(spec.params_cls,
                                                                     spec.space))
    if not params:
        raise ValueError(f"{spec.name}: the parameter grid is empty")
    spec.check_length(bars, max(params, key=spec.warmup))
    if spec.name not in KERNEL_IDS:
        raise ValueError(f"{spec.name}: no grid kernel id; add it to strategies.grid.KERNEL_IDS")
    kernel_id = KERNEL_IDS[spec.name]
    plan = spec.plan(bars, params)
    out = np.zeros((len(params), N_METRICS))
    n_days = int(bars.session_last[:-1].sum()) + 1 if daily and len(bars) else 0
    daily_out = np.zeros((len(params), n_days))
    flags = bar_flags(bars.session, bars.cutoff_exit, bars.session_last)
    cfg, rates = config.to_array(), config.rates()
    for start in range(0, len(params), chunk):
        stop = min(start + chunk, len(params))
        _grid_kernel(kernel_id, bars.open, bars.high, bars.low, bars.close, bars.session,
                     bars.bar_in_session, flags, bars.entry_ok, bars.entry_ok_at_close,
                     bars.flat_at_session_end, plan.table, plan.idx[start:stop],
                     plan.values[start:stop], cfg, rates, out[start:stop], daily_out[start:stop],
                     min(stop - start, numba.get_num_threads()))
        if progress is not None:
            progress(stop - start)
    return GridResult(spec.name, params, out, daily_out if daily else None)
