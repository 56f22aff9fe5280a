"""The per-symbol ensemble evaluated walk-forward: several strategies' studies of one
symbol on one dataset, their entries resolved bar by bar by the runner's rules
(:mod:`strategies.ensemble`, the same :meth:`Resolver.resolve` the runner calls), and the
combined out-of-sample stream compared with the best single strategy.

Per fold, each strategy trades its fold's chosen params on the test window alone (cold
start, as the walk-forward did). On a bar where two or more strategies' entry signals fire
(a long or a short entry, not both), the resolver keeps one: ``priority`` (the policy's
order) or ``confidence`` (each strategy's calibrator learned from **that fold's
training-window trades only** - the fold trade table's ``train`` rows - read at the bar's
features and side; a strategy without one in that fold has no vote). The losers' entry
signals at that bar are removed and every strategy is simulated again with its own signals,
so a denied entry leaves it flat exactly as the runner would. ``independent`` (nothing
resolved) is the sum of the strategies as they trade alone.

Each variant's stream is every strategy's trades, on the strategies' combined capital;
its OOS Sharpe sits next to the best single strategy's (from its own walk-forward) in
:attr:`EnsembleStudy.metrics`, and its Deflated Sharpe Ratio counts every trial: each
strategy's parameter trials plus every ensemble variant. Each variant is checked against
the same gates as a version (``gates.yaml`` defaults, no override), with its own PBO and
stability:

- **PBO** is CSCV over the trial matrix of every choice the researcher had: each member's
  parameter trials (its walk-forward's T x N matrix, per-session returns on its own capital)
  and the three ensemble variants' streams, on the same T test sessions
  (:attr:`EnsembleStudy.trials`). It asks whether picking the in-sample best among all of
  them - single strategies' combinations and ensembles alike - lands below the median out
  of sample; the same set the DSR counts.
- **Stability** is the least stable member's (its walk-forward ``stability``: the mean
  plateau share of its chosen params' grid neighbours). The ensemble's parameter point is
  its members' points together; it sits on a plateau no wider than its narrowest member's.
  The resolver is a discrete choice with no neighbours; PBO covers it.

Research resolves on the entry
signals; the runner resolves on the decided entries (a strategy already in a position
wants no entry): a signal-level approximation of the live rule, said in the notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines.research.confidence_study import (
    ConfidenceTrainingError,
    EntryTable,
    fit_calibrator,
)
from pipelines.research.enable_matrix import session_returns
from pipelines.research.fold_trades import report_folds
from pipelines.research.gates import Gates
from pipelines.research.overfitting import deflated_sharpe_from_trials, sharpe_moments
from pipelines.research.walk_forward import (
    PBO_SPREAD_SPLITS,
    WalkForwardReport,
    _pbo_metrics,
    _stitched_equity,
    _summary,
)
from strategies.bars import Bars
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_simulation import SimMember, simulate_ensemble
from strategies.errors import BadInputError
from strategies.regime_features import regime_feature_matrix
from strategies.simulator import SimConfig
from strategies.spec import StrategySpec

VARIANTS = ("independent", "priority", "confidence")
#: The name the gates are evaluated under (``gates.yaml`` defaults; no override applies).
ENSEMBLE = "ensemble"


class EnsembleStudyError(BadInputError, ValueError):
    """Studies that cannot be combined: fewer than two, other symbols or folds."""


@dataclass(frozen=True, slots=True)
class Member:
    """One strategy's study of the symbol: its spec, walk-forward and fold trade table."""

    spec: StrategySpec
    report: WalkForwardReport
    fold_table: pd.DataFrame


@dataclass(slots=True)
class EnsembleStudy:
    symbol: str
    strategies: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: T test sessions x (members' parameter trials + the variants): PBO's and DSR's input
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: per variant, the metrics its gate verdict reads (``oos_*``, ``dsr_probability``,
    #: ``pbo``, ``stability``)
    summaries: dict[str, dict[str, float]] = field(default_factory=dict)


def _calibrators(members: Sequence[Member], fold: int, settings: Any) -> list[Any]:
    out = []
    for m in members:
        table = EntryTable.of(m.fold_table[m.fold_table["fold"] == fold])
        try:
            with threadpool_limits(limits=1):
                out.append(fit_calibrator(table, table.train, settings)[0])
        except ConfidenceTrainingError:
            out.append(None)
    return out


def resolved_trades(members: Sequence[Member], bars: Bars, config: SimConfig,
                    variant: str, policy_order: Sequence[str], settings: Any
                    ) -> pd.DataFrame:
    """Every strategy's test-window trades (positions of ``bars``, ``fold``, ``strategy``)
    with the entries ``variant`` resolves away removed."""
    folds = report_folds(bars, members[0].report)
    features = regime_feature_matrix(bars.open, bars.high, bars.low, bars.close,
                                     bars.session)
    policy = None if variant == "independent" else \
        EnsemblePolicy(make_resolver(variant), tuple(policy_order))
    parts = []
    for fold in folds:
        lo, hi = fold.test_range
        window = bars.window(lo, hi + 1)
        sims = [SimMember(m.spec, m.spec.signals(window, m.spec.params_cls(
            **m.report.folds[fold.index].params)), config) for m in members]
        calibrators = _calibrators(members, fold.index, settings) \
            if variant == "confidence" else [None] * len(members)

        def confidence(i: int, t: int, side: int, lo: int = lo,
                       calibrators: list[Any] = calibrators) -> float | None:
            row = np.r_[features[lo + t], float(side)]
            calibrator = calibrators[i]
            if calibrator is None or np.isnan(row).any():
                return None
            return float(calibrator.predict_proba(row.reshape(1, -1))[0, 1])

        for m, trades in zip(members, simulate_ensemble(window, sims, policy, confidence),
                             strict=True):
            trades[["entry_idx", "exit_idx"]] += lo
            parts.append(trades.assign(fold=fold.index, strategy=m.spec.name))
    return pd.concat(parts, ignore_index=True)


def study_ensemble(members: Sequence[Member], bars: Bars, config: SimConfig,
                   policy_order: Sequence[str], settings: Any,
                   gates: Gates | None = None, pbo_splits: int = 16,
                   pbo_spread: Sequence[int] = PBO_SPREAD_SPLITS) -> EnsembleStudy:
    """Each variant's OOS metrics and DSR next to the best single strategy's; with
    ``gates``, each variant checked against the same thresholds as a strategy version
    (``gates.yaml`` defaults: the ensemble has no overrides)."""
    if len(members) < 2:
        raise EnsembleStudyError(f"an ensemble needs two strategies or more, got "
                                 f"{[m.spec.name for m in members]}")
    symbols = {m.report.symbol for m in members}
    if symbols != {bars.symbol}:
        raise EnsembleStudyError(f"studies of symbols {sorted(symbols)}, bars of "
                                 f"{bars.symbol!r}: an ensemble is per symbol")
    folds = report_folds(bars, members[0].report)
    for m in members[1:]:
        report_folds(bars, m.report)  # refuses other windows
    study = EnsembleStudy(bars.symbol, tuple(m.spec.name for m in members))
    capital = config.initial_capital_inr * len(members)
    streams: dict[str, np.ndarray] = {}
    summaries: dict[str, dict[str, float]] = {}
    for variant in VARIANTS:
        trades = resolved_trades(members, bars, config, variant, policy_order, settings)
        summary = _summary(_stitched_equity(trades, bars, folds, capital), trades, capital)
        summaries[variant] = summary
        study.metrics.update({f"ensemble.{variant}.{k}": v for k, v in summary.items()
                              if k in ("oos_sharpe", "oos_trades", "oos_max_drawdown",
                                       "oos_total_return", "oos_hit_ratio")})
        streams[variant] = session_returns(trades, bars, folds, capital)
    singles = {m.spec.name: float(m.report.metrics.get("oos_sharpe", np.nan))
               for m in members}
    best = max(singles, key=lambda k: singles[k] if np.isfinite(singles[k]) else -np.inf)
    study.metrics.update({f"single.{k}.oos_sharpe": v for k, v in singles.items()})
    study.metrics["single.best.oos_sharpe"] = singles[best]
    study.trials = trial_matrix(members, streams)
    trial_sr = np.array([sharpe_moments(x).sr for x in study.trials.to_numpy().T
                         if len(x) > 2 and np.std(x) > 0])
    for variant, stream in streams.items():
        if len(stream) > 2 and np.std(stream) > 0 and len(trial_sr) >= 2:
            dsr = deflated_sharpe_from_trials(stream, trial_sr)
            study.metrics[f"ensemble.{variant}.dsr_probability"] = dsr.dsr
            summaries[variant]["dsr_probability"] = dsr.dsr
    study.metrics["ensemble.dsr.n_trials"] = float(len(trial_sr))
    pbo = _pbo_metrics(study.trials.to_numpy(), pbo_splits, pbo_spread)
    study.metrics.update({f"ensemble.{k}": v for k, v in pbo.items()})
    # the narrowest member's plateau; a member without one (NaN) makes it NaN: fails closed
    stability = float(np.min([float(m.report.metrics.get("stability", np.nan))
                              for m in members]))
    study.metrics["ensemble.stability"] = stability
    for summary in summaries.values():
        summary.update(pbo)
        summary["stability"] = stability
    study.summaries = summaries
    if gates is not None:
        for variant, summary in summaries.items():
            verdict = gates.evaluate(ENSEMBLE, summary)
            study.metrics[f"ensemble.{variant}.gates_passed"] = float(verdict.passed)
            failed = [c.name for c in verdict.checks if not c.passed]
            study.notes.append(f"{variant}: gates {'passed' if verdict.passed else 'failed'}"
                               + (f" ({', '.join(failed)})" if failed else ""))
    study.notes.append(f"best single strategy: {best}; research resolves on entry signals, "
                       "the runner on decided entries (a strategy in a position wants none)")
    return study


def trial_matrix(members: Sequence[Member], streams: dict[str, np.ndarray]) -> pd.DataFrame:
    """The T x N matrix of every trial: each member's parameter trials (columns
    ``<strategy>:<params>``) and each variant's stream (``ensemble:<variant>``), on the
    members' test sessions (refused when the row counts differ)."""
    index = members[0].report.trials.index
    columns: dict[str, np.ndarray] = {}
    for m in members:
        trials = m.report.trials
        if len(trials) != len(index):
            raise EnsembleStudyError(f"{m.spec.name}: {len(trials)} trial sessions, "
                                     f"{members[0].spec.name}: {len(index)}")
        for c in trials.columns:
            columns[f"{m.spec.name}:{c}"] = trials[c].to_numpy(dtype=float)
    for variant, stream in streams.items():
        if len(stream) != len(index):
            raise EnsembleStudyError(f"ensemble {variant}: {len(stream)} sessions, trials: "
                                     f"{len(index)}")
        columns[f"{ENSEMBLE}:{variant}"] = stream
    return pd.DataFrame(columns, index=index)
