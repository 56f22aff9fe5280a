"""The portfolio study: capital allocated across the researched strategies (and symbols) on
their walk-forward out-of-sample returns, by nested walk-forward.

Each *sleeve* is one (strategy, symbol) walk-forward: its stitched OOS per-session returns
(the chosen params of each fold, traded on the test window that followed) and its trial
matrix (every evaluated combination's per-session returns on the same sessions). The
sleeves' OOS returns are the allocators' only input, and they are used the walk-forward way
a second time: skfolio's :class:`~skfolio.model_selection.WalkForward` fits each allocator
(:class:`~skfolio.optimization.EqualWeighted`, :class:`~skfolio.optimization.InverseVolatility`
- volatility targeting per sleeve - or :class:`~skfolio.optimization.RiskBudgeting` with
equal variance budgets - risk parity) on ``train_sessions`` OOS sessions only, and the
weights it learned trade the ``test_sessions`` that follow (``cross_val_predict``). No
weight ever sees the sessions it is applied to.

Every statistic is computed on the same *evaluation sessions* - those the nested walk-forward
tests - for the portfolio, for each sleeve alone and for each strategy on all its symbols
together (equal capital per symbol), so they stand side by side: annualised
Sharpe, maximum drawdown, total return, the deflated Sharpe ratio with the real number of
trials behind it (every sleeve's evaluated combinations plus every allocator compared) and
PBO by CSCV across the allocators compared (when there are at least two). Whether the
portfolio beats the best single sleeve is reported as measured; nothing aims for a sign.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from skfolio.model_selection import WalkForward, cross_val_predict
from skfolio.optimization import (
    BaseOptimization,
    EqualWeighted,
    InverseVolatility,
    RiskBudgeting,
)

from pipelines.research.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probability_of_backtest_overfitting,
    sharpe_moments,
    usable_splits,
)
from pipelines.research.walk_forward import WalkForwardReport
from strategies.errors import BadInputError

ANNUAL = math.sqrt(252.0)


class PortfolioStudyError(BadInputError, ValueError):
    """A portfolio study that cannot run: fewer than two sleeves, sleeves on different
    sessions, too few OOS sessions for one training and one test window, an unknown
    allocator."""


@dataclass(frozen=True, slots=True)
class Sleeve:
    """One (strategy, symbol) walk-forward: its OOS returns and its trials, by session."""

    strategy: str
    symbol: str
    returns: pd.Series
    trials: pd.DataFrame
    passed: bool

    @property
    def name(self) -> str:
        return f"{self.strategy}/{self.symbol}"


def _sessions(index: pd.Index) -> pd.DatetimeIndex:
    """Session dates (tz-naive midnight) of session-end timestamps."""
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    return stamps.normalize()


def sleeve_of(report: WalkForwardReport, passed: bool) -> Sleeve:
    """The sleeve of a walk-forward report (its ``oos_returns`` and ``trials`` are needed);
    a joint walk-forward's sleeve is named by all its symbols (``NIFTY+BANKNIFTY``)."""
    symbol = "+".join(report.traded_symbols)
    name = f"{report.strategy}/{symbol}"
    if report.oos_returns.empty or report.trials.empty:
        raise PortfolioStudyError(f"{name}: the walk-forward report holds no OOS returns or "
                                  "trial matrix (stored before they were kept); re-run "
                                  "`stratops research run` for it")
    if len(report.trials) != len(report.oos_returns):
        raise PortfolioStudyError(f"{name}: {len(report.trials)} trial rows but "
                                  f"{len(report.oos_returns)} OOS returns")
    index = _sessions(report.oos_returns.index)
    returns = pd.Series(report.oos_returns.to_numpy(dtype=float), index=index, name=name)
    trials = pd.DataFrame(report.trials.to_numpy(dtype=float), index=index,
                          columns=[str(c) for c in report.trials.columns])
    bad = ~np.isfinite(returns.to_numpy())
    if bad.any():
        raise PortfolioStudyError(f"{name}: OOS return {returns.iloc[int(bad.argmax())]!r} "
                                  f"on {returns.index[int(bad.argmax())].date()} is not finite")
    return Sleeve(report.strategy, symbol, returns, trials, passed)


def returns_matrix(sleeves: Sequence[Sleeve]) -> pd.DataFrame:
    """Sessions x sleeves OOS returns; every sleeve must cover the same sessions (the same
    dataset and walk-forward windows give the same test sessions)."""
    if len(sleeves) < 2:
        raise PortfolioStudyError(f"a portfolio needs at least two sleeves, got "
                                  f"{[s.name for s in sleeves]}")
    names = [s.name for s in sleeves]
    if len(set(names)) != len(names):
        raise PortfolioStudyError(f"sleeves repeat: {names}")
    first = sleeves[0].returns.index
    for sleeve in sleeves[1:]:
        if not sleeve.returns.index.equals(first):
            diff = sleeve.returns.index.symmetric_difference(first)
            raise PortfolioStudyError(
                f"{sleeve.name} and {sleeves[0].name} are on different OOS sessions (e.g. "
                f"{diff[0].date()}): the study needs one dataset's walk-forward windows")
    return pd.DataFrame({s.name: s.returns for s in sleeves}, index=first)


def allocator(name: str) -> BaseOptimization:
    """The skfolio estimator of an allocator name (``research.portfolio.allocators``)."""
    if name == "equal_weighted":
        return EqualWeighted()
    if name == "inverse_volatility":
        return InverseVolatility()
    if name == "risk_parity":
        return RiskBudgeting()  # variance, equal budgets: the risk-parity portfolio
    raise PortfolioStudyError(f"unknown allocator {name!r}; known: equal_weighted, "
                              "inverse_volatility, risk_parity")


@dataclass(frozen=True, slots=True)
class Allocation:
    """One allocator's nested walk-forward: each window's learned weights and the returns
    they earned on the test sessions that followed."""

    name: str
    returns: pd.Series
    weights: pd.DataFrame  # one row per test window (its first session), one column a sleeve
    windows: tuple[tuple[str, str, str, str], ...]  # train start/end, test start/end


def _check_windows(n_sessions: int, train: int, test: int) -> None:
    if n_sessions < train + test:
        raise PortfolioStudyError(
            f"{n_sessions} OOS sessions cannot hold one allocation training window of "
            f"{train} and a test window of {test} (research.portfolio.train_sessions, "
            "test_sessions)")


def vol_target_scale(train_returns: np.ndarray, target: float, max_leverage: float) -> float:
    """The exposure that brings the training window's annualised portfolio volatility to
    ``target``, capped at ``max_leverage``; a window with no volatility gets the cap."""
    vol = float(np.std(train_returns, ddof=1)) * ANNUAL if len(train_returns) > 1 else 0.0
    return max_leverage if vol <= 0 else min(max_leverage, target / vol)


def allocate(matrix: pd.DataFrame, name: str, train: int, test: int, *,
             target_volatility: float | None = None, max_leverage: float = 1.0) -> Allocation:
    """``name``'s nested walk-forward over ``matrix``: fitted on ``train`` sessions, applied to
    the ``test`` that follow, rolling; the last window may be shorter. With
    ``target_volatility`` each window's weights are then scaled so that the training
    window's portfolio volatility would have been the target (at most ``max_leverage``; the
    rest in cash) - the scale too is learned on the training window only."""
    _check_windows(len(matrix), train, test)
    cv = WalkForward(test_size=test, train_size=train, reduce_test=True)
    predicted = cross_val_predict(allocator(name), matrix, cv=cv)
    windows, rows, pieces = [], [], []
    for (train_idx, test_idx), portfolio in zip(cv.split(matrix), predicted.portfolios,
                                                strict=True):
        dates = matrix.index
        windows.append((str(dates[train_idx[0]].date()), str(dates[train_idx[-1]].date()),
                        str(dates[test_idx[0]].date()), str(dates[test_idx[-1]].date())))
        weights = np.asarray(portfolio.weights, dtype=float)
        if target_volatility is not None:
            weights = weights * vol_target_scale(matrix.iloc[train_idx].to_numpy() @ weights,
                                                 target_volatility, max_leverage)
        rows.append(pd.Series(weights, index=matrix.columns, name=dates[test_idx[0]]))
        # the window's weights held for its test sessions (rebalanced to them daily)
        pieces.append(pd.Series(matrix.iloc[test_idx].to_numpy() @ weights,
                                index=dates[test_idx]))
    returns = pd.concat(pieces).rename(name)
    return Allocation(name, returns, pd.DataFrame(rows), tuple(windows))


def _stats(returns: pd.Series) -> dict[str, float]:
    values = returns.to_numpy(dtype=float)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    equity = np.cumprod(1.0 + values)
    peak = np.maximum.accumulate(np.r_[1.0, equity])[1:]
    return {"sharpe": float(values.mean() / std * ANNUAL) if std > 0 else 0.0,
            "max_drawdown": float((1.0 - equity / peak).max()) if len(values) else 0.0,
            "total_return": float(equity[-1] - 1.0) if len(values) else 0.0,
            "vol": float(std * ANNUAL), "sessions": float(len(values))}


def _trial_sharpes(columns: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([sharpe_moments(c).sr for c in columns if np.std(c) > 0])


def _dsr(returns: pd.Series, trial_sr: np.ndarray) -> dict[str, float]:
    """DSR of ``returns`` against ``trial_sr`` (NaN when either cannot carry one)."""
    values = returns.to_numpy(dtype=float)
    if len(values) <= 2 or np.std(values) == 0 or len(trial_sr) < 2:
        return {"dsr_probability": math.nan, "dsr.n_trials": float(len(trial_sr))}
    moments = sharpe_moments(values)
    variance = float(trial_sr.var(ddof=1))
    return {"dsr_probability": deflated_sharpe_ratio(
                moments.sr, moments.n_obs, moments.skew, moments.kurtosis_raw,
                len(trial_sr), variance),
            "dsr.sr": moments.sr, "dsr.n_trials": float(len(trial_sr)),
            "dsr.var_trial_sr": variance,
            "dsr.sr_benchmark": expected_max_sharpe(len(trial_sr), variance)}


def _pbo(candidates: pd.DataFrame, splits: int) -> dict[str, float]:
    """PBO (CSCV) of choosing among the allocators; NaN with fewer than two or too few
    sessions for ``splits`` blocks (the largest usable even count below it is taken)."""
    if candidates.shape[1] < 2:
        return {"pbo": math.nan, "pbo.n_configs": float(candidates.shape[1])}
    usable = usable_splits(len(candidates), range(2, splits + 1))
    if not usable:
        return {"pbo": math.nan, "pbo.n_configs": float(candidates.shape[1])}
    chosen = usable[-1]
    return {"pbo": probability_of_backtest_overfitting(candidates.to_numpy(),
                                                       n_splits=chosen).pbo,
            "pbo.n_splits": float(chosen), "pbo.n_configs": float(candidates.shape[1])}


def _symbol_rows(sleeves: Sequence[Sleeve], evaluated: pd.Index) -> list[dict[str, Any]]:
    """Each strategy traded on all its symbols together (equal capital per symbol, each
    symbol's own walk-forward choice): the joint equity of the symbols, one row per strategy
    with at least two symbols; DSR counts every symbol's combinations."""
    rows = []
    for strategy in dict.fromkeys(s.strategy for s in sleeves):
        mine = [s for s in sleeves if s.strategy == strategy]
        if len(mine) < 2:
            continue
        joint = pd.concat([s.returns.loc[evaluated] for s in mine], axis=1).mean(axis=1)
        trial_sr = _trial_sharpes([s.trials.loc[evaluated, c].to_numpy() for s in mine
                                   for c in s.trials.columns])
        rows.append({"name": f"{strategy}/{'+'.join(s.symbol for s in mine)}",
                     "kind": "symbols", "gate_passed": all(s.passed for s in mine),
                     **_stats(joint), **_dsr(joint, trial_sr), "pbo": math.nan})
    return rows


@dataclass(slots=True)
class PortfolioStudy:
    """The study's outcome: the allocations, one statistics row per sleeve and per
    allocator on the evaluation sessions, and the headline comparison."""

    dataset: str
    method: str
    sleeves: list[str]
    allocations: dict[str, Allocation]
    rows: list[dict[str, Any]]
    metrics: dict[str, float]
    best_single: str
    beats_best_single: bool
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["name"] == name)


def study_portfolio(dataset: str, sleeves: Sequence[Sleeve], *, allocators: Sequence[str],
                    method: str, train: int, test: int, pbo_splits: int,
                    target_volatility: float | None = None, max_leverage: float = 1.0,
                    settings: Mapping[str, Any] | None = None) -> PortfolioStudy:
    """Allocate across ``sleeves`` by each allocator (nested walk-forward) and put the
    portfolio's statistics next to each sleeve's, on the same evaluation sessions."""
    if method not in allocators:
        raise PortfolioStudyError(f"method {method!r} is not among the allocators "
                                  f"{list(allocators)}")
    matrix = returns_matrix(sleeves)
    allocations = {name: allocate(matrix, name, train, test,
                                  target_volatility=target_volatility,
                                  max_leverage=max_leverage) for name in allocators}
    evaluated = allocations[method].returns.index
    candidates = pd.DataFrame({n: a.returns for n, a in allocations.items()})
    # the portfolio's trials: every sleeve's evaluated combinations and every allocator
    portfolio_trials = _trial_sharpes(
        [s.trials.loc[evaluated, c].to_numpy() for s in sleeves for c in s.trials.columns]
        + [candidates[c].to_numpy() for c in candidates.columns])
    rows: list[dict[str, Any]] = []
    for sleeve in sleeves:
        trial_sr = _trial_sharpes([sleeve.trials.loc[evaluated, c].to_numpy()
                                   for c in sleeve.trials.columns])
        rows.append({"name": sleeve.name, "kind": "strategy", "gate_passed": sleeve.passed,
                     **_stats(sleeve.returns.loc[evaluated]),
                     **_dsr(sleeve.returns.loc[evaluated], trial_sr), "pbo": math.nan})
    rows += _symbol_rows(sleeves, evaluated)
    pbo = _pbo(candidates, pbo_splits)
    for name, allocation in allocations.items():
        rows.append({"name": f"portfolio:{name}", "kind": "portfolio", "gate_passed": None,
                     **_stats(allocation.returns), **_dsr(allocation.returns, portfolio_trials),
                     "pbo": pbo["pbo"]})
    singles = [r for r in rows if r["kind"] == "strategy"]
    best = max(singles, key=lambda r: r["sharpe"])
    chosen = next(r for r in rows if r["name"] == f"portfolio:{method}")
    metrics = {
        "portfolio_sharpe": chosen["sharpe"], "portfolio_max_drawdown": chosen["max_drawdown"],
        "portfolio_total_return": chosen["total_return"],
        "portfolio_dsr_probability": chosen["dsr_probability"],
        "portfolio_dsr_n_trials": chosen["dsr.n_trials"], **{f"portfolio_{k}": v
                                                             for k, v in pbo.items()},
        "best_single_sharpe": best["sharpe"], "best_single_max_drawdown": best["max_drawdown"],
        "best_single_dsr_probability": best["dsr_probability"],
        "sharpe_vs_best_single": chosen["sharpe"] - best["sharpe"],
        "evaluation_sessions": float(len(evaluated)), "sleeves": float(len(sleeves)),
    }
    return PortfolioStudy(dataset=dataset, method=method, sleeves=[s.name for s in sleeves],
                          allocations=allocations, rows=rows, metrics=metrics,
                          best_single=best["name"],
                          beats_best_single=bool(chosen["sharpe"] > best["sharpe"]),
                          settings=dict(settings or {}))
