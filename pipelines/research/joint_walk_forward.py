"""Joint walk-forward: one version trading several symbols of a dataset, its params chosen on
the symbols together.

Per fold, every combination is evaluated on each symbol's training window (one compiled grid
pass per symbol, with that symbol's own lot, tick and costs) and the combination with the best
**joint objective** is chosen: the annualised Sharpe ratio of the symbols' per-session returns
averaged (equal capital per symbol; the same ranking as their sum). The chosen params then
trade each symbol's test window, cold, as :func:`~pipelines.research.walk_forward.run_walk_forward`
does for one symbol, and the OOS trades keep their ``symbol``.

The stitched joint returns are the equal-capital portfolio of the symbols - the mean of each
symbol's stitched OOS per-session returns, the construction of the portfolio study's joint
rows (:mod:`pipelines.research.portfolio`) - and every summary metric (``oos_sharpe``,
drawdown, total return, trades, costs) is that portfolio's. The trial matrix is each
combination traded on all the symbols at equal capital, so PBO (CSCV) and the Deflated Sharpe
Ratio are those of the joint choice, with the real number of combinations. Gates read these
metrics as they read a one-symbol report's. Each symbol's own OOS Sharpe is kept as
``symbol.<SYMBOL>.oos_sharpe``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipelines.research.splits import Fold, WalkForwardSpec, walk_forward_folds
from pipelines.research.stability import params_drift, plateau_score, rank_correlation
from pipelines.research.walk_forward import (
    PBO_SPREAD_SPLITS,
    FoldResult,
    WalkForwardError,
    WalkForwardReport,
    _evaluated_space,
    _fitting_combos,
    _oos_trades,
    _overfitting,
    _skip_note,
    _summary,
    _trials,
    _window,
    trial_label,
)
from strategies.bars import Bars
from strategies.grid import run_grid
from strategies.params import expand_space, get_params
from strategies.simulator import SimConfig
from strategies.spec import StrategySpec

ANNUAL = np.sqrt(252.0)
#: the joint objective's name in each fold's ``is_metrics``/``oos_metrics``
JOINT_SHARPE = "joint_sharpe"


def joint_sharpe(daily: np.ndarray) -> np.ndarray:
    """Annualised Sharpe of each row of ``daily`` (combinations x sessions); NaN-free (a row
    that never varies scores 0)."""
    if daily.shape[1] < 2:
        return np.zeros(len(daily))
    mean, std = daily.mean(axis=1), daily.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(std > 0, mean / std * ANNUAL, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _check_folds(symbols: Sequence[str], bars: Mapping[str, Bars],
                 folds: Mapping[str, list[Fold]]) -> None:
    """Every symbol's folds must cover the same sessions (one dataset's session clock)."""
    first = symbols[0]

    def sessions(symbol: str) -> list[tuple[Any, ...]]:
        s = bars[symbol].session
        return [(s[f.train_range[0]], s[f.train_range[1]], s[f.test_range[0]],
                 s[f.test_range[1]]) for f in folds[symbol]]

    for symbol in symbols[1:]:
        if sessions(symbol) != sessions(first):
            raise WalkForwardError(
                f"joint walk-forward: {symbol}'s folds cover other sessions than {first}'s "
                f"({len(folds[symbol])} vs {len(folds[first])} folds); the symbols must "
                "share the dataset's sessions")


def _joint_daily(spec: StrategySpec, windows: Mapping[str, Bars],
                 configs: Mapping[str, SimConfig], params: list[Any]) -> np.ndarray:
    """Combinations x sessions: the symbols' per-session returns averaged."""
    daily = []
    for symbol, window in windows.items():
        grid = run_grid(spec, window, configs[symbol], params, daily=True)
        assert grid.daily is not None
        daily.append(grid.daily)
    shapes = {d.shape for d in daily}
    if len(shapes) != 1:
        raise WalkForwardError(f"joint walk-forward: the symbols' windows hold different "
                               f"session counts {sorted(s[1] for s in shapes)} "
                               f"({list(windows)}); they must share the dataset's sessions")
    joint: np.ndarray = np.mean(daily, axis=0)
    return joint


def _span(windows: Mapping[str, Bars]) -> tuple[str, str]:
    return (str(min(w.ts[0] for w in windows.values())),
            str(max(w.ts[-1] for w in windows.values())))


def run_joint_walk_forward(
    spec: StrategySpec, bars: Mapping[str, Bars], configs: Mapping[str, SimConfig],
    wf: WalkForwardSpec, *, combos: Sequence[Any] | None = None, pbo_splits: int = 16,
    pbo_spread: Sequence[int] = PBO_SPREAD_SPLITS,
    progress: Callable[[str], None] | None = None,
) -> WalkForwardReport:
    """Walk-forward ``spec`` over several symbols' ``bars`` (the first is the version's
    primary symbol), each with its own ``configs`` entry; see the module docstring."""
    symbols = list(bars)
    if len(symbols) < 2 or set(configs) != set(symbols):
        raise WalkForwardError(f"joint walk-forward needs two or more symbols, each with its "
                               f"rules; got bars for {symbols}, rules for {sorted(configs)}")
    candidates = list(combos) if combos is not None else list(
        expand_space(spec.params_cls, spec.space))
    if not candidates:
        raise WalkForwardError(f"{spec.name}: the parameter grid is empty")
    folds = {s: walk_forward_folds(bars[s].session, wf) for s in symbols}
    _check_folds(symbols, bars, folds)
    window = min(_fitting_combos(spec, candidates, folds[s], wf)[2] for s in symbols)
    params = [p for p in candidates if spec.warmup(p) + 2 <= window]
    skipped = [p for p in candidates if spec.warmup(p) + 2 > window]
    if not params:
        raise WalkForwardError(f"{spec.name}: no combination's warm-up fits in every "
                               f"symbol's walk-forward windows ({symbols}, {window} bars)")
    notes = [_skip_note(spec, skipped, len(candidates), window)] if skipped else []
    space = _evaluated_space(params)
    results: list[FoldResult] = []
    trades: dict[str, list[pd.DataFrame]] = {s: [] for s in symbols}
    for i in range(len(folds[symbols[0]])):
        if progress is not None:
            progress(f"joint fold {i + 1}/{len(folds[symbols[0]])} on {'+'.join(symbols)}")
        train = {s: _window(bars[s], folds[s][i].train_range) for s in symbols}
        test = {s: _window(bars[s], folds[s][i].test_range) for s in symbols}
        is_sr = joint_sharpe(_joint_daily(spec, train, configs, params))
        oos_sr = joint_sharpe(_joint_daily(spec, test, configs, params))
        best = int(np.argmax(is_sr))
        chosen = get_params(params[best])
        frame = pd.DataFrame([get_params(p) for p in params]).assign(**{JOINT_SHARPE: is_sr})
        results.append(FoldResult(
            index=i, train=_span(train), test=_span(test), params=chosen,
            is_metrics={JOINT_SHARPE: float(is_sr[best])},
            oos_metrics={JOINT_SHARPE: float(oos_sr[best])},
            plateau=plateau_score(frame, chosen, space, JOINT_SHARPE),
            rank_correlation=rank_correlation(is_sr, oos_sr)))
        for s in symbols:
            trades[s].append(_oos_trades(spec, test[s], folds[s][i], params[best], configs[s])
                             .assign(symbol=s))
    return _joint_report(spec, bars, configs, wf, folds, params, skipped, notes, results,
                         trades, space, pbo_splits, pbo_spread)


def _joint_report(spec: StrategySpec, bars: Mapping[str, Bars],
                  configs: Mapping[str, SimConfig], wf: WalkForwardSpec,
                  folds: Mapping[str, list[Fold]], params: list[Any], skipped: list[Any],
                  notes: list[str], results: list[FoldResult],
                  trades: Mapping[str, list[pd.DataFrame]], space: dict[str, list[Any]],
                  pbo_splits: int, pbo_spread: Sequence[int]) -> WalkForwardReport:
    """Stitch each symbol's OOS, then the equal-capital joint returns, trials and metrics."""
    symbols = list(bars)
    per_trials, per_returns, per_trades = [], [], []
    for s in symbols:
        symbol_trades = pd.concat(trades[s], ignore_index=True)
        t, r = _trials(spec, bars[s], configs[s], folds[s], params, symbol_trades)
        per_trials.append(t.to_numpy())
        per_returns.append(r)
        per_trades.append(symbol_trades)
    index = per_returns[0].index
    if any(len(r) != len(index) for r in per_returns):
        raise WalkForwardError(f"joint walk-forward: the symbols' OOS sessions differ "
                               f"({[len(r) for r in per_returns]} for {symbols})")
    joint_returns = pd.Series(np.mean([r.to_numpy() for r in per_returns], axis=0),
                              index=index, name="oos_return")
    joint_trials = pd.DataFrame(np.mean(per_trials, axis=0), index=index,
                                columns=[trial_label(p) for p in params])
    capital = configs[symbols[0]].initial_capital_inr
    days = pd.DatetimeIndex(index).normalize()
    equity = pd.Series(capital * np.cumprod(1.0 + joint_returns.to_numpy()), index=days,
                       name="equity")
    all_trades = pd.concat(per_trades, ignore_index=True).sort_values(
        ["exit_ts", "symbol"], kind="stable").reset_index(drop=True)
    report = WalkForwardReport(spec.name, symbols[0], wf, len(params), results, all_trades,
                               equity, skipped=[get_params(p) for p in skipped], notes=notes,
                               symbols=tuple(symbols))
    report.metrics = _summary(equity, all_trades, capital)
    report.metrics["stability"] = float(np.mean([r.plateau for r in results]))
    report.metrics["is_oos_rank_correlation"] = float(np.nanmean(
        [r.rank_correlation for r in results])) if results else float("nan")
    report.metrics["params_drift"] = params_drift([r.params for r in results], space)
    report.metrics["joint.symbols"] = float(len(symbols))
    for s, r in zip(symbols, per_returns, strict=True):
        values = r.to_numpy()
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        report.metrics[f"symbol.{s}.oos_sharpe"] = float(values.mean() / std * ANNUAL) \
            if std > 0 else 0.0
    report.trials, report.oos_returns = joint_trials, joint_returns
    report.metrics.update(_overfitting(joint_trials.to_numpy(), joint_returns.to_numpy(),
                                       pbo_splits, pbo_spread))
    return report
