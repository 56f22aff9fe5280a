"""Walk-forward validation: optimise in sample with the grid engine, trade the choice out of
sample, stitch the out-of-sample folds, and measure how much of it was luck.

Per fold, every combination of the strategy's space is evaluated on the training window
(one compiled grid pass) and the best by ``select`` is chosen; the chosen params then trade
the test window. Each test window starts cold (indicators warm up inside it), so the fold's
OOS metrics, the stitched trades and the all-combination OOS grid used for the IS/OOS rank
correlation describe the same thing, and nothing before the window leaks in. Overfitting
statistics use all combinations' per-session returns over the test sessions: PBO by CSCV
and the Deflated Sharpe Ratio with the real number of trials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.research.overfitting import (
    deflated_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_moments,
)
from pipelines.research.splits import Fold, WalkForwardSpec, walk_forward_folds
from pipelines.research.stability import params_drift, plateau_score, rank_correlation
from strategies.bars import Bars
from strategies.grid import run_grid
from strategies.params import expand_space, get_params
from strategies.sim_kernel import METRIC_NAMES
from strategies.simulator import SimConfig, simulate
from strategies.spec import StrategySpec


class WalkForwardError(ValueError):
    """A walk-forward that cannot run (no folds, empty grid, unknown selection metric)."""


@dataclass(frozen=True, slots=True)
class FoldResult:
    """One fold: its windows, the chosen params and their IS and OOS metrics."""

    index: int
    train: tuple[str, str]
    test: tuple[str, str]
    params: dict[str, Any]
    is_metrics: dict[str, float]
    oos_metrics: dict[str, float]
    plateau: float
    rank_correlation: float


@dataclass(slots=True)
class WalkForwardReport:
    """Folds, stitched OOS trades and equity, summary metrics and overfitting statistics."""

    strategy: str
    symbol: str
    spec: WalkForwardSpec
    n_trials: int
    folds: list[FoldResult]
    oos_trades: pd.DataFrame
    oos_equity: pd.Series
    metrics: dict[str, float] = field(default_factory=dict)

    def chosen_params(self) -> dict[str, Any]:
        """The params of the last fold: the version that would trade next."""
        return self.folds[-1].params


def _evaluated_space(params: Sequence[Any]) -> dict[str, list[Any]]:
    """Each field's distinct values among the evaluated combinations, in order: the grid
    whose neighbours the stability measures look at."""
    rows = [get_params(p) for p in params]
    return {name: sorted({row[name] for row in rows}, key=lambda v: (str(type(v)), v))
            for name in rows[0]}


LOWER_IS_BETTER = frozenset({"max_drawdown", "cost_share", "costs_inr"})


def _best(metrics: np.ndarray, select: str) -> int:
    """Index of the best combination by ``select`` (lowest for drawdown and cost metrics)."""
    column = metrics[:, METRIC_NAMES.index(select)]
    if select in LOWER_IS_BETTER:
        column = -column
    column = np.where(np.isfinite(column), column, -np.inf)
    return int(np.argmax(column))


def _oos_trades(spec: StrategySpec, test: Bars, fold: Fold, params: Any,
                config: SimConfig) -> pd.DataFrame:
    """The chosen params traded on the test window alone, exactly as the OOS grid saw it."""
    trades = simulate(test, spec.signals(test, params), config).trades
    trades[["entry_idx", "exit_idx"]] += fold.test_range[0]
    return trades.assign(fold=fold.index)


def _test_positions(folds: Sequence[Fold]) -> np.ndarray:
    """Bar positions of every test window, in order (gaps between windows excluded)."""
    return np.concatenate([f.test_idx for f in folds])


def _stitched_equity(trades: pd.DataFrame, bars: Bars, folds: Sequence[Fold],
                     capital: float) -> pd.Series:
    """OOS equity at each test session's close: capital plus cumulative net P&L of the
    trades closed so far (trades never span sessions on intraday bars with a cutoff)."""
    ts = bars.ts[_test_positions(folds)]
    pnl = pd.Series(0.0, index=ts)
    if len(trades):
        closed = trades.groupby("exit_ts")["net_pnl_inr"].sum()
        pnl = pnl.add(closed, fill_value=0.0)
    equity = capital + pnl.cumsum()
    return equity.groupby(equity.index.normalize()).last()


def _summary(equity: pd.Series, trades: pd.DataFrame, capital: float) -> dict[str, float]:
    daily = equity / equity.shift(1).fillna(capital) - 1.0
    std = float(daily.std(ddof=1)) if len(daily) > 1 else 0.0
    sharpe = float(daily.mean() / std * np.sqrt(252.0)) if std > 0 else 0.0
    drawdown = float((1.0 - equity / equity.cummax()).max()) if len(equity) else 0.0
    gross = float(trades["gross_pnl_inr"].sum()) if len(trades) else 0.0
    costs = float(trades["costs_inr"].sum()) if len(trades) else 0.0
    return {
        "oos_sharpe": sharpe, "oos_max_drawdown": drawdown, "oos_trades": float(len(trades)),
        "oos_total_return": float(equity.iloc[-1] / capital - 1.0) if len(equity) else 0.0,
        "oos_hit_ratio": float((trades["net_pnl_inr"] > 0).mean()) if len(trades) else 0.0,
        "oos_cost_share": costs / gross if gross > 0 else (np.inf if costs > 0 else 0.0),
        "oos_gross_pnl_inr": gross, "oos_costs_inr": costs,
    }


def _overfitting(daily: np.ndarray, oos_daily: np.ndarray, n_splits: int) -> dict[str, float]:
    """PBO (CSCV) over all combinations, DSR of the stitched OOS returns vs all trials."""
    out: dict[str, float] = {}
    if daily.shape[1] >= n_splits and daily.shape[0] >= 2:
        pbo = probability_of_backtest_overfitting(daily.T, n_splits=n_splits)
        out["pbo"] = float(pbo.pbo)
    trial_sr = np.array([sharpe_moments(row).sr for row in daily if np.std(row) > 0])
    if len(oos_daily) > 2 and np.std(oos_daily) > 0 and len(trial_sr) > 1:
        m = sharpe_moments(oos_daily)
        out["dsr_probability"] = float(deflated_sharpe_ratio(
            m.sr, m.n_obs, m.skew, m.kurtosis_raw, n_trials=len(trial_sr),
            sr_variance=float(np.var(trial_sr, ddof=1))))
    return out


def run_walk_forward(
    spec: StrategySpec, bars: Bars, config: SimConfig, wf: WalkForwardSpec, *,
    combos: Sequence[Any] | None = None, select: str = "sharpe", pbo_splits: int = 16,
    progress: Callable[[str], None] | None = None,
) -> WalkForwardReport:
    """Walk-forward ``spec`` over ``bars``; see the module docstring for the procedure."""
    if select not in METRIC_NAMES:
        raise WalkForwardError(f"select={select!r} is not a grid metric {METRIC_NAMES}")
    params = list(combos) if combos is not None else list(expand_space(spec.params_cls,
                                                                     spec.space))
    if not params:
        raise WalkForwardError(f"{spec.name}: the parameter grid is empty")
    space = _evaluated_space(params)
    folds = walk_forward_folds(bars.session, wf)
    results, trades = [], []
    for fold in folds:
        if progress is not None:
            progress(f"fold {fold.index + 1}/{len(folds)}")
        train = bars.window(fold.train_range[0], fold.train_range[1] + 1)
        test = bars.window(fold.test_range[0], fold.test_range[1] + 1)
        is_grid = run_grid(spec, train, config, params)
        oos_grid = run_grid(spec, test, config, params)
        best = _best(is_grid.metrics, select)
        frame = is_grid.frame()
        results.append(FoldResult(
            index=fold.index,
            train=(str(train.ts[0]), str(train.ts[-1])), test=(str(test.ts[0]), str(test.ts[-1])),
            params=get_params(params[best]),
            is_metrics=dict(zip(METRIC_NAMES, map(float, is_grid.metrics[best]), strict=True)),
            oos_metrics=dict(zip(METRIC_NAMES, map(float, oos_grid.metrics[best]), strict=True)),
            plateau=plateau_score(frame, get_params(params[best]), space, select),
            rank_correlation=rank_correlation(is_grid.metrics[:, METRIC_NAMES.index(select)],
                                              oos_grid.metrics[:, METRIC_NAMES.index(select)]),
        ))
        trades.append(_oos_trades(spec, test, fold, params[best], config))
    oos_trades = pd.concat(trades, ignore_index=True)
    equity = _stitched_equity(oos_trades, bars, folds, config.initial_capital_inr)
    report = WalkForwardReport(spec.name, bars.symbol, wf, len(params), results, oos_trades,
                               equity)
    report.metrics = _summary(equity, oos_trades, config.initial_capital_inr)
    report.metrics["stability"] = float(np.mean([r.plateau for r in results]))
    report.metrics["is_oos_rank_correlation"] = float(np.nanmean(
        [r.rank_correlation for r in results])) if results else float("nan")
    report.metrics["params_drift"] = params_drift([r.params for r in results], space)
    first, last = folds[0].test_range[0], folds[-1].test_range[1] + 1
    full = run_grid(spec, bars.window(first, last), config, params, daily=True)
    assert full.daily is not None
    sessions = pd.unique(bars.session[first:last])
    in_test = np.isin(sessions, pd.unique(bars.session[_test_positions(folds)]))
    oos_daily = (equity / equity.shift(1).fillna(config.initial_capital_inr) - 1.0).to_numpy()
    report.metrics.update(_overfitting(full.daily[:, in_test], oos_daily, pbo_splits))
    return report
