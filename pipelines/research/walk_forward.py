"""Walk-forward validation: optimise in sample with the grid engine, trade the choice out of
sample, stitch the out-of-sample folds, and measure how much of it was luck.

Per fold, every combination of the strategy's space is evaluated on the training window
(one compiled grid pass) and the best by ``select`` is chosen; the chosen params then trade
the test window. Each test window starts cold (indicators warm up inside it), so the fold's
OOS metrics, the stitched trades and the all-combination OOS grid used for the IS/OOS rank
correlation describe the same thing, and nothing before the window leaks in. Because every
window starts cold, a combination whose warm-up does not fit in the shortest train or test
window cannot be evaluated: it is skipped and the report says so (all skipped: refused).

Overfitting statistics use all evaluated combinations' per-session returns over the test
sessions (the T x N trial matrix, kept in the report): PBO by CSCV at the gated block count
and at a few others (its spread), and the Deflated Sharpe Ratio of the stitched OOS returns
with the real number of trials. Every input of both is kept in ``metrics`` (``dsr.*``,
``pbo.*``) so they can be recomputed from the record alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.research.overfitting import (
    deflated_sharpe_from_trials,
    pbo_across_splits,
    probability_of_backtest_overfitting,
    sharpe_moments,
)
from pipelines.research.splits import Fold, WalkForwardSpec, walk_forward_folds
from pipelines.research.stability import params_drift, plateau_score, rank_correlation
from strategies.bars import Bars
from strategies.errors import BadInputError
from strategies.grid import run_grid
from strategies.params import expand_space, get_params
from strategies.sim_kernel import METRIC_NAMES
from strategies.simulator import SimConfig, simulate
from strategies.spec import StrategySpec


class WalkForwardError(BadInputError, ValueError):
    """A walk-forward that cannot run (no folds, empty grid, unknown selection metric, no
    combination whose warm-up fits in the windows)."""


#: Block counts PBO is reported at besides the gated one (``research.pbo_spread_splits``).
PBO_SPREAD_SPLITS = (8, 10, 12, 16)


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
    #: T test sessions x N evaluated combinations: each session's return (PBO, DSR's N, V)
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the stitched OOS per-session returns of the chosen params (DSR's SR, skew, kurtosis)
    oos_returns: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    #: combinations left out because their warm-up exceeds the shortest window
    skipped: list[dict[str, Any]] = field(default_factory=list)
    #: things a reader must know about how the numbers were made (skips, ...)
    notes: list[str] = field(default_factory=list)
    #: every symbol of a joint walk-forward (``symbol`` first); empty: ``symbol`` alone
    symbols: tuple[str, ...] = ()

    @property
    def traded_symbols(self) -> tuple[str, ...]:
        """The symbols the version trades: the joint walk-forward's, else ``symbol``."""
        return self.symbols or (self.symbol,)

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


def _pbo_metrics(perf: np.ndarray, n_splits: int, spread: Sequence[int]) -> dict[str, float]:
    """PBO at the gated ``n_splits`` (``pbo``) and at each usable count of ``spread`` and
    ``n_splits`` (``pbo.s<S>``), their range, and the matrix shape it came from."""
    n_obs, n_configs = perf.shape
    out: dict[str, float] = {"pbo.t": float(n_obs), "pbo.n_configs": float(n_configs),
                             "pbo.n_splits": float(n_splits)}
    if n_configs < 2 or n_obs < 2:
        return out
    if n_obs >= n_splits:
        out["pbo"] = probability_of_backtest_overfitting(perf, n_splits=n_splits).pbo
    by_splits = pbo_across_splits(perf, sorted({*spread, n_splits}))
    out.update({f"pbo.s{s}": value for s, value in by_splits.items()})
    if by_splits:
        out["pbo.min"], out["pbo.max"] = min(by_splits.values()), max(by_splits.values())
    return out


def _dsr_metrics(trials: np.ndarray, oos_daily: np.ndarray) -> dict[str, float]:
    """DSR of the stitched OOS returns against every trial that varies, and its inputs."""
    trial_sr = np.array([sharpe_moments(col).sr for col in trials.T if np.std(col) > 0])
    if len(oos_daily) <= 2 or np.std(oos_daily) == 0 or len(trial_sr) < 2:
        return {}
    dsr = deflated_sharpe_from_trials(oos_daily, trial_sr)
    return {"dsr_probability": dsr.dsr, "dsr.sr": dsr.sr, "dsr.skew": dsr.skew,
            "dsr.kurtosis_raw": dsr.kurtosis_raw, "dsr.t": float(dsr.n_obs),
            "dsr.n_trials": float(dsr.n_trials), "dsr.var_trial_sr": dsr.sr_variance,
            "dsr.sr_benchmark": dsr.sr_benchmark}


def _overfitting(trials: np.ndarray, oos_daily: np.ndarray, n_splits: int,
                 spread: Sequence[int]) -> dict[str, float]:
    """PBO (CSCV) of the T x N trial matrix, DSR of the stitched OOS returns vs the trials."""
    return {**_pbo_metrics(trials, n_splits, spread), **_dsr_metrics(trials, oos_daily)}


def _fitting_combos(spec: StrategySpec, params: list[Any], folds: Sequence[Fold],
                    wf: WalkForwardSpec) -> tuple[list[Any], list[Any], int]:
    """The combinations whose warm-up fits in every train and test window (each starts
    cold), those that do not, and the shortest window in bars."""
    window = min(min(len(f.train_idx), len(f.test_idx)) for f in folds)
    fits = [p for p in params if spec.warmup(p) + 2 <= window]
    skipped = [p for p in params if spec.warmup(p) + 2 > window]
    if not fits:
        need = min(spec.warmup(p) for p in params) + 2
        raise WalkForwardError(
            f"{spec.name}: no combination's warm-up fits in the walk-forward windows: the "
            f"shortest train/test window holds {window} bars (train {wf.train}, test "
            f"{wf.test} {wf.unit}) and the shortest warm-up needs {need}; lengthen "
            f"research.walk_forward.train and .test to hold at least {need} bars")
    return fits, skipped, window


def _skip_note(spec: StrategySpec, skipped: Sequence[Any], n_all: int, window: int) -> str:
    longest = max(skipped, key=spec.warmup)
    return (f"{spec.name}: skipped {len(skipped)} of {n_all} combinations whose warm-up "
            f"exceeds the shortest train/test window ({window} bars), e.g. "
            f"{get_params(longest)} needs {spec.warmup(longest) + 2}; "
            f"n_trials counts the {n_all - len(skipped)} evaluated")


def _session_ends(bars: Bars, positions: np.ndarray) -> pd.DatetimeIndex:
    """Timestamp of the last bar of each session among ``positions`` (in order)."""
    session = bars.session[positions]
    last = np.r_[session[1:] != session[:-1], True]
    return pd.DatetimeIndex(bars.ts[positions[last]], name="session_end")


def trial_label(params: Any) -> str:
    """A trial matrix column name: ``field=value`` pairs in declaration order."""
    return ",".join(f"{k}={v}" for k, v in get_params(params).items())


def run_walk_forward(
    spec: StrategySpec, bars: Bars, config: SimConfig, wf: WalkForwardSpec, *,
    combos: Sequence[Any] | None = None, select: str = "sharpe", pbo_splits: int = 16,
    pbo_spread: Sequence[int] = PBO_SPREAD_SPLITS,
    progress: Callable[[str], None] | None = None,
) -> WalkForwardReport:
    """Walk-forward ``spec`` over ``bars``; see the module docstring for the procedure."""
    if select not in METRIC_NAMES:
        raise WalkForwardError(f"select={select!r} is not a grid metric {METRIC_NAMES}")
    candidates = list(combos) if combos is not None else list(expand_space(spec.params_cls,
                                                                         spec.space))
    if not candidates:
        raise WalkForwardError(f"{spec.name}: the parameter grid is empty")
    folds = walk_forward_folds(bars.session, wf)
    params, skipped, window = _fitting_combos(spec, candidates, folds, wf)
    notes = [_skip_note(spec, skipped, len(candidates), window)] if skipped else []
    for note in notes:
        if progress is not None:
            progress(note)
    space = _evaluated_space(params)
    results, trades = [], []
    for fold in folds:
        if progress is not None:
            progress(f"fold {fold.index + 1}/{len(folds)}")
        result, chosen = _fold_result(spec, bars, config, fold, params, space, select)
        results.append(result)
        trades.append(_oos_trades(spec, _window(bars, fold.test_range), fold, chosen, config))
    oos_trades = pd.concat(trades, ignore_index=True)
    equity = _stitched_equity(oos_trades, bars, folds, config.initial_capital_inr)
    report = WalkForwardReport(spec.name, bars.symbol, wf, len(params), results, oos_trades,
                               equity, skipped=[get_params(p) for p in skipped], notes=notes)
    report.metrics = _summary(equity, oos_trades, config.initial_capital_inr)
    report.metrics["stability"] = float(np.mean([r.plateau for r in results]))
    report.metrics["is_oos_rank_correlation"] = float(np.nanmean(
        [r.rank_correlation for r in results])) if results else float("nan")
    report.metrics["params_drift"] = params_drift([r.params for r in results], space)
    report.trials, report.oos_returns = _trials(spec, bars, config, folds, params, oos_trades)
    report.metrics.update(_overfitting(report.trials.to_numpy(), report.oos_returns.to_numpy(),
                                       pbo_splits, pbo_spread))
    return report


def _window(bars: Bars, span: tuple[int, int]) -> Bars:
    return bars.window(span[0], span[1] + 1)


def _fold_result(spec: StrategySpec, bars: Bars, config: SimConfig, fold: Fold,
                 params: list[Any], space: dict[str, list[Any]],
                 select: str) -> tuple[FoldResult, Any]:
    """Optimise on the fold's train window, evaluate every combination on its test window;
    the fold's result and the chosen params."""
    train, test = _window(bars, fold.train_range), _window(bars, fold.test_range)
    is_grid = run_grid(spec, train, config, params)
    oos_grid = run_grid(spec, test, config, params)
    best = _best(is_grid.metrics, select)
    column = METRIC_NAMES.index(select)
    result = FoldResult(
        index=fold.index,
        train=(str(train.ts[0]), str(train.ts[-1])), test=(str(test.ts[0]), str(test.ts[-1])),
        params=get_params(params[best]),
        is_metrics=dict(zip(METRIC_NAMES, map(float, is_grid.metrics[best]), strict=True)),
        oos_metrics=dict(zip(METRIC_NAMES, map(float, oos_grid.metrics[best]), strict=True)),
        plateau=plateau_score(is_grid.frame(), get_params(params[best]), space, select),
        rank_correlation=rank_correlation(is_grid.metrics[:, column],
                                          oos_grid.metrics[:, column]),
    )
    return result, params[best]


def _trials(spec: StrategySpec, bars: Bars, config: SimConfig, folds: Sequence[Fold],
            params: list[Any], trades: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The T x N trial matrix (every combination's return per test session, one grid pass
    from the first to the last test bar) and the stitched OOS returns per test session (the
    chosen params' trades' net P&L by exit session), on the same rows: the session ends."""
    first, last = folds[0].test_range[0], folds[-1].test_range[1] + 1
    full = run_grid(spec, bars.window(first, last), config, params, daily=True)
    assert full.daily is not None
    sessions = pd.unique(bars.session[first:last])
    tested = _test_positions(folds)
    test_sessions = pd.unique(bars.session[tested])
    in_test = np.isin(sessions, test_sessions)
    index = _session_ends(bars, tested)
    trials = pd.DataFrame(full.daily[:, in_test].T, index=index,
                          columns=[trial_label(p) for p in params])
    pnl = pd.Series(0.0, index=test_sessions)
    if len(trades):
        exits = bars.session[trades["exit_idx"].to_numpy(dtype=np.int64)]
        pnl = pnl.add(trades["net_pnl_inr"].groupby(exits).sum(), fill_value=0.0)
    capital = config.initial_capital_inr
    equity = capital + pnl.cumsum()
    returns = (equity / equity.shift(1).fillna(capital) - 1.0).to_numpy()
    return trials, pd.Series(returns, index=index, name="oos_return")
