"""The regime enable matrix of a strategy, learned nested inside the walk-forward.

For outer fold k the matrix is learned from the **inner walk-forward's out-of-sample
trades** inside fold k's training window (:mod:`pipelines.research.inner_walk_forward`:
``gates.yaml`` ``enable_matrix.inner_folds`` anchored inner folds; params chosen on each
inner train window, traded on its inner test window, each trade's regime at its entry
decision read by fold k's classifier) and applied to fold k's test window, from the per-fold
trade table (:mod:`pipelines.research.fold_trades`): the *governed* OOS stream keeps the
test trades whose entry regime that fold's matrix enables (a trade whose regime could not be
read is held, as live holds it). The stream is stitched over the test sessions like the
walk-forward's and gets its own metrics (``governed.*``).

A regime is enabled when its trades pass a rule of ``gates.yaml`` ``enable_matrix.rules``:
at least ``min_trades``, mean net return per trade above ``min_mean_net_return``, and a
one-sided t-test (scipy's ``ttest_1samp``, ``alternative="greater"``) p-value of a positive
mean at most ``max_p_value``; a regime without trades is disabled (fail closed). Every rule
listed is run nested; ``rules[0]`` is the version's. The Deflated Sharpe of the governed
stream counts as trials every parameter combination of the walk-forward **and** every rule
tried (their governed streams' Sharpe ratios join the trial set).

The version's matrix (``final``) is learned with ``rules[0]`` on all the data: the chosen
params traded over the whole series, each entry read by the version's stored classifier -
the classifier live reads with. Per-regime OOS statistics (all test trades by entry regime,
and how many folds enabled each) are reported as ``matrix.oos.<regime>.*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipelines.research.fold_trades import (
    FoldClassifiers,
    fold_trades,
    report_folds,
    span_trades,
)
from pipelines.research.gates import MatrixGates, MatrixRule
from pipelines.research.inner_walk_forward import inner_oos_trades
from pipelines.research.overfitting import deflated_sharpe_from_trials, sharpe_moments
from pipelines.research.splits import Fold
from pipelines.research.walk_forward import WalkForwardReport, _stitched_equity, _summary
from strategies.bars import Bars
from strategies.enable_matrix import EnableMatrix, RegimeCell, matrix_from_json
from strategies.regime_features import regime_feature_matrix
from strategies.regime_model import RegimeModel
from strategies.simulator import SimConfig
from strategies.spec import StrategySpec

GOVERNED = "governed"
#: The ``enable_matrix`` asset's warning check of the governed stream against the gates.
GOVERNED_CHECK = "governed_oos_meets_gate"


def regime_cell(returns: np.ndarray, rule: MatrixRule) -> RegimeCell:
    """One regime's statistics over per-trade net returns and the rule's decision."""
    values = returns[np.isfinite(returns)]
    n = len(values)
    mean = float(values.mean()) if n else 0.0
    t_stat, p_value = 0.0, 1.0
    if n >= 2 and float(values.std(ddof=1)) > 0.0:
        test = stats.ttest_1samp(values, 0.0, alternative="greater")
        t_stat, p_value = float(test.statistic), float(test.pvalue)
    enabled = n >= rule.min_trades and mean > rule.min_mean_net_return and \
        p_value <= rule.max_p_value
    return RegimeCell(bool(enabled), n, mean, t_stat, p_value)


def learn_matrix(trades: pd.DataFrame, classes: Sequence[str], rule: MatrixRule,
                 strategy: str) -> EnableMatrix:
    """The matrix ``rule`` gives on ``trades`` (table rows) for each of ``classes``."""
    regimes = trades["regime"].to_numpy(dtype=str)
    returns = trades["net_return"].to_numpy(dtype=float)
    cells = {c: regime_cell(returns[regimes == c], rule) for c in classes}
    return EnableMatrix(strategy, cells, rule.model_dump())


def governed_trades(table: pd.DataFrame, matrices: dict[int, EnableMatrix]) -> pd.DataFrame:
    """The test rows whose entry regime their fold's matrix enables."""
    test = table[table["window"] == "test"]
    keep = [matrices[int(f)].enabled(str(r)) for f, r in zip(test["fold"], test["regime"],
                                                              strict=True)]
    return test[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def session_returns(trades: pd.DataFrame, bars: Bars, folds: Sequence[Fold],
                    capital: float) -> np.ndarray:
    """Per test session, the stream's return (net P&L by exit session over the equity
    before it), as the walk-forward's stitched OOS returns are made."""
    tested = np.concatenate([f.test_idx for f in folds])
    sessions = pd.unique(bars.session[tested])
    pnl = pd.Series(0.0, index=sessions)
    if len(trades):
        exits = bars.session[trades["exit_idx"].to_numpy(dtype=np.int64)]
        pnl = pnl.add(trades["net_pnl_inr"].groupby(exits).sum(), fill_value=0.0)
    equity = capital + pnl.cumsum()
    return np.asarray(equity / equity.shift(1).fillna(capital) - 1.0, dtype=np.float64)


def _stream_metrics(trades: pd.DataFrame, bars: Bars, folds: Sequence[Fold],
                    capital: float) -> dict[str, float]:
    equity = _stitched_equity(trades, bars, folds, capital)
    return _summary(equity, trades, capital)


def _trial_sharpes(report: WalkForwardReport, streams: Sequence[np.ndarray]
                   ) -> np.ndarray | None:
    """Every trial's Sharpe ratio (the parameter combinations' and each rule's stream);
    None when the report does not hold its trial matrix (the DSR is then not reported, so
    the governed check fails closed rather than deflating by the rules alone)."""
    if report.trials.shape[1] != report.n_trials:
        return None
    columns = [report.trials[c].to_numpy(dtype=float) for c in report.trials.columns]
    return np.array([sharpe_moments(x).sr for x in [*columns, *streams]
                     if len(x) > 2 and np.std(x) > 0])


def _dsr(governed: np.ndarray, trial_sr: np.ndarray | None) -> dict[str, float]:
    if trial_sr is None:
        return {}
    if len(governed) <= 2 or np.std(governed) == 0 or len(trial_sr) < 2:
        return {"dsr.n_trials": float(len(trial_sr))}
    dsr = deflated_sharpe_from_trials(governed, trial_sr)
    return {"dsr_probability": dsr.dsr, "dsr.sr": dsr.sr, "dsr.n_trials": float(dsr.n_trials),
            "dsr.sr_benchmark": dsr.sr_benchmark, "dsr.t": float(dsr.n_obs)}


@dataclass(slots=True)
class MatrixStudy:
    """The nested study's outcome: each fold's matrix (``rules[0]``), the version's final
    matrix, per-regime OOS statistics, the governed stream's metrics, and what the nested
    check needs (when each fold's learning trades ended, when its test began)."""

    strategy: str
    classes: tuple[str, ...]
    classifier_source: str
    rules: list[dict[str, float]]
    fold_matrices: dict[int, EnableMatrix]
    final: EnableMatrix
    oos: dict[str, dict[str, float]]
    metrics: dict[str, float] = field(default_factory=dict)
    learned_until: dict[int, str] = field(default_factory=dict)  # fold -> last learning exit
    test_start: dict[int, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Why the matrix is not nested or not usable (empty: it is)."""
        out = []
        for fold, until in self.learned_until.items():
            if until and pd.Timestamp(until) >= pd.Timestamp(self.test_start[fold]):
                out.append(f"fold {fold}: its matrix learned from a trade exiting {until}, "
                           f"at or after its test window's start {self.test_start[fold]}")
        if tuple(sorted(self.final.cells)) != tuple(sorted(self.classes)):
            out.append(f"the final matrix decides {sorted(self.final.cells)}, the "
                       f"classifier knows {sorted(self.classes)}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "classes": list(self.classes),
                "classifier_source": self.classifier_source, "rules": self.rules,
                "fold_matrices": {str(k): m.to_json() for k, m in self.fold_matrices.items()},
                "final": self.final.to_json(), "oos": self.oos, "metrics": self.metrics,
                "learned_until": {str(k): v for k, v in self.learned_until.items()},
                "test_start": {str(k): v for k, v in self.test_start.items()}}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> MatrixStudy:
        classes = tuple(str(c) for c in value["classes"])
        strategy = str(value["strategy"])

        def matrix(raw: object, where: str) -> EnableMatrix:
            return matrix_from_json(raw, where, strategy=strategy, classes=classes)

        return cls(strategy, classes, str(value["classifier_source"]), list(value["rules"]),
                   {int(k): matrix(m, f"fold {k} matrix")
                    for k, m in value["fold_matrices"].items()},
                   matrix(value["final"], "final matrix"), dict(value["oos"]),
                   {str(k): float(v) for k, v in value["metrics"].items()},
                   {int(k): str(v) for k, v in value["learned_until"].items()},
                   {int(k): str(v) for k, v in value["test_start"].items()})


def _oos_by_regime(table: pd.DataFrame, classes: Sequence[str], rule: MatrixRule,
                   matrices: dict[int, EnableMatrix]) -> dict[str, dict[str, float]]:
    test = table[table["window"] == "test"]
    regimes = test["regime"].to_numpy(dtype=str)
    returns = test["net_return"].to_numpy(dtype=float)
    out = {}
    for regime in [*classes, "unknown"]:
        cell = regime_cell(returns[regimes == regime], rule)
        out[regime] = {"trades": float(cell.trades), "mean_net_return": cell.mean_net_return,
                       "t_stat": cell.t_stat, "p_value": cell.p_value,
                       "net_pnl_inr": float(test["net_pnl_inr"][regimes == regime].sum()),
                       "enabled_folds": float(sum(m.enabled(regime)
                                                  for m in matrices.values()))}
    return out


def _flat_metrics(study: MatrixStudy, governed: dict[str, float],
                  variants: list[dict[str, float]]) -> dict[str, float]:
    out = {f"{GOVERNED}.{k}": v for k, v in governed.items()}
    for i, metrics in enumerate(variants):
        out[f"{GOVERNED}.rule{i}.oos_sharpe"] = metrics["oos_sharpe"]
        out[f"{GOVERNED}.rule{i}.oos_trades"] = metrics["oos_trades"]
    out["matrix.rules_tried"] = float(len(variants))
    for regime, values in study.oos.items():
        out.update({f"matrix.oos.{regime}.{k}": v for k, v in values.items()})
    for regime, cell in study.final.cells.items():
        out[f"matrix.final.{regime}.enabled"] = float(cell.enabled)
        out[f"matrix.final.{regime}.trades"] = float(cell.trades)
        out[f"matrix.final.{regime}.p_value"] = cell.p_value
    return out


def nested_learning_trades(spec: StrategySpec, bars: Bars, config: SimConfig,
                           report: WalkForwardReport, classifiers: FoldClassifiers, *,
                           combos: Sequence[Any], n_inner: int, select: str) -> pd.DataFrame:
    """Every outer fold's inner OOS trades (``fold`` = the outer fold, ``window`` =
    ``inner``): what each outer fold's matrix is learned from."""
    folds = report_folds(bars, report)
    features = regime_feature_matrix(bars.open, bars.high, bars.low, bars.close,
                                     bars.session)
    parts = [inner_oos_trades(spec, bars, features, config, fold, report.spec,
                              combos=combos, model=classifiers.for_fold(fold.index),
                              n_inner=n_inner, select=select)[0] for fold in folds]
    return pd.concat(parts, ignore_index=True)


def study_enable_matrix(spec: StrategySpec, bars: Bars, config: SimConfig,
                        report: WalkForwardReport, classifiers: FoldClassifiers,
                        version_model: RegimeModel, gates: MatrixGates, *,
                        combos: Sequence[Any], select: str = "sharpe") -> MatrixStudy:
    """Nested matrices per fold for every rule (each learned from the fold's inner
    walk-forward OOS trades over ``combos``, chosen by ``select``), the governed stream's
    metrics (``rules[0]``; DSR against the parameter trials and every rule's stream) and
    the final matrix."""
    folds = report_folds(bars, report)
    table = fold_trades(spec, bars, config, report, classifiers)
    learning = nested_learning_trades(spec, bars, config, report, classifiers, combos=combos,
                                      n_inner=gates.inner_folds, select=select)
    classes = tuple(version_model.classes)
    capital = config.initial_capital_inr
    streams, variants, per_rule = [], [], []
    for rule in gates.rules:
        matrices = {f.index: learn_matrix(learning[learning["fold"] == f.index], classes,
                                          rule, spec.name) for f in folds}
        kept = governed_trades(table, matrices)
        per_rule.append((matrices, kept))
        streams.append(session_returns(kept, bars, folds, capital))
        variants.append(_stream_metrics(kept, bars, folds, capital))
    matrices, kept = per_rule[0]
    governed = {**variants[0], **_dsr(streams[0], _trial_sharpes(report, streams))}
    everything = span_trades(spec, bars, config, spec.params_cls(**report.chosen_params()),
                             (0, len(bars) - 1), version_model)
    final = learn_matrix(everything, classes, gates.rules[0], spec.name)
    study = MatrixStudy(
        spec.name, classes, classifiers.source, [r.model_dump() for r in gates.rules],
        matrices, final, _oos_by_regime(table, classes, gates.rules[0], matrices),
        learned_until={f.index: str(learning.loc[learning["fold"] == f.index, "exit_ts"].max())
                       if (learning["fold"] == f.index).any() else "" for f in folds},
        test_start={r.index: r.test[0] for r in report.folds})
    study.metrics = _flat_metrics(study, governed, variants)
    study.metrics["matrix.inner_folds"] = float(gates.inner_folds)
    study.metrics["matrix.inner_trades"] = float(len(learning))
    return study
