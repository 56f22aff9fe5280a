"""A strategy's calibrated confidence, learned and scored by nested walk-forward.

The trades are the per-fold trade table of :mod:`pipelines.research.fold_trades` (each fold's
chosen params traded in its training window and in its test window, with the regime
features at each entry's decision bar); the target is ``net_pnl_inr > 0`` and the inputs
are those features plus the entry's side - :data:`strategies.confidence.CONFIDENCE_FEATURES`,
which the live runner computes with the same code
(:meth:`strategies.confidence.ConfidenceModel.read_last`).

For each walk-forward fold, the calibrator is learned only from the fold's **training
window** trades and scored on its **test window** trades. The calibration method
(``isotonic`` or ``sigmoid``) is chosen inside the training trades alone, by the lower
log-loss over a time-ordered ``TimeSeriesSplit``; the base classifier is a standardised
logistic regression wrapped in ``CalibratedClassifierCV``. A fold with fewer than
``min_trades`` training trades, or too few of one outcome, is not scored (counted in
``conf_folds_skipped``).

Scores over all scored test trades: Brier score, log-loss, the Brier score of the training
base rate (the no-skill forecast it must beat), and a reliability table (mean predicted
probability against the observed hit rate per probability bin). The default sizing
(:class:`ConfidenceSizing`, bounds from the fold's training hit rate) is applied to each
scored trade as an unrounded scale: ``conf_sized_net_pnl_inr`` against ``conf_net_pnl_inr``
and ``conf_mean_size`` (an approximation - a trade sized to nothing would leave the
strategy flat and free to enter later, which the scale does not replay). The stored calibrator is
refit on every test-window trade (the stitched out-of-sample trades, each trade once) with
the method chosen the same way. The fits run single-threaded (many small fits: BLAS
threads only contend) and are deterministic (``seed``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from strategies.confidence import (
    CONFIDENCE_DIR,
    METHODS,
    ConfidenceSizing,
    write_confidence,
)
from strategies.errors import BadInputError
from strategies.regime_features import FEATURE_NAMES


class ConfidenceTrainingError(BadInputError, ValueError):
    """A calibrator that cannot be trained: too few trades, one outcome only."""


def make_calibrator(method: str, seed: int, cv: int) -> CalibratedClassifierCV:
    """A fresh ``CalibratedClassifierCV`` over a standardised logistic regression."""
    if method not in METHODS:
        raise ConfidenceTrainingError(f"calibration method {method!r}: expected one of "
                                      f"{list(METHODS)}")
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000,
                                                              random_state=seed))
    return CalibratedClassifierCV(base, method=method, cv=cv)


@dataclass(frozen=True, slots=True)
class EntryTable:
    """A fold trade table as arrays: features at entry (and side), outcome, fold, window."""

    matrix: npt.NDArray[np.float64]
    won: npt.NDArray[np.int64]
    fold: npt.NDArray[np.int64]
    train: npt.NDArray[np.bool_]  # False: a test-window trade
    decision_idx: npt.NDArray[np.int64]
    pnl: npt.NDArray[np.float64] | None = None  # net P&L (INR) per trade

    @classmethod
    def of(cls, table: pd.DataFrame) -> EntryTable:
        """From :func:`pipelines.research.fold_trades.fold_trades`' table; rows with a NaN
        feature (warm-up) are dropped; rows in fold, window, decision order."""
        missing = [c for c in ("fold", "window", "side", "net_pnl_inr", "decision_idx",
                               *FEATURE_NAMES) if c not in table.columns]
        if missing:
            raise ConfidenceTrainingError(f"fold trade table lacks columns {missing}")
        ordered = table.sort_values(["fold", "window", "decision_idx"], kind="stable")
        side = np.where(ordered["side"].to_numpy() == "long", 1.0, -1.0).reshape(-1, 1)
        matrix = np.hstack([ordered[list(FEATURE_NAMES)].to_numpy(dtype=float), side])
        keep = ~np.isnan(matrix).any(axis=1)
        return cls(matrix[keep],
                   (ordered["net_pnl_inr"].to_numpy(float) > 0).astype(np.int64)[keep],
                   ordered["fold"].to_numpy(np.int64)[keep],
                   (ordered["window"].to_numpy() == "train")[keep],
                   ordered["decision_idx"].to_numpy(np.int64)[keep],
                   ordered["net_pnl_inr"].to_numpy(float)[keep])

    def __len__(self) -> int:
        return len(self.won)


def choose_method(x: npt.NDArray[np.float64], y: npt.NDArray[np.int64], seed: int, cv: int,
                  splits: int) -> tuple[str, dict[str, float]]:
    """The method with the lower time-ordered CV log-loss on (x, y) alone, and each one's."""
    losses: dict[str, float] = {}
    for method in METHODS:
        scores = []
        for train, test in TimeSeriesSplit(n_splits=splits).split(x):
            if len(set(y[train].tolist())) < 2 or \
                    min(np.bincount(y[train], minlength=2)) < cv:
                continue
            model = make_calibrator(method, seed, cv).fit(x[train], y[train])
            scores.append(log_loss(y[test], model.predict_proba(x[test])[:, 1],
                                   labels=[0, 1]))
        losses[method] = float(np.mean(scores)) if scores else math.inf
    best = min(METHODS, key=lambda m: (losses[m], m))
    return best, losses


def fit_calibrator(table: EntryTable, rows: npt.NDArray[np.bool_], settings: Any
         ) -> tuple[CalibratedClassifierCV, str, dict[str, float]]:
    order = np.flatnonzero(rows)[np.argsort(table.decision_idx[rows], kind="stable")]
    x, y = table.matrix[order], table.won[order]
    if len(y) < settings.min_trades:
        raise ConfidenceTrainingError(f"{len(y)} trades < research.confidence.min_trades "
                                      f"{settings.min_trades}")
    counts = np.bincount(y, minlength=2)
    if counts.min() < settings.cv:
        raise ConfidenceTrainingError(f"outcomes {counts.tolist()} (losing, winning): too "
                                      f"few of one for {settings.cv}-fold calibration")
    method, losses = choose_method(x, y, settings.seed, settings.cv,
                                   settings.selection_splits)
    return make_calibrator(method, settings.seed, settings.cv).fit(x, y), method, losses


@dataclass(slots=True)
class ConfidenceStudy:
    """Out-of-sample scores of the nested walk-forward, and the stored calibrator's method."""

    method: str
    metrics: dict[str, float]
    reliability: list[dict[str, float]] = field(default_factory=list)
    methods_by_fold: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class NestedScores:
    """The nested walk-forward's pooled scores, each fold's test predictions and method."""

    metrics: dict[str, float]
    reliability: list[dict[str, float]]
    predictions: dict[int, npt.NDArray[np.float64]]
    methods: dict[int, str]
    notes: list[str]


def nested_scores(table: EntryTable, settings: Any) -> NestedScores:
    """Per fold: learn from its training-window trades, score its test-window trades."""
    probs, truth, base, scale, pnl = [], [], [], [], []
    sizing = ConfidenceSizing()
    predictions: dict[int, npt.NDArray[np.float64]] = {}
    methods: dict[int, str] = {}
    notes: list[str] = []
    for fold in sorted(set(table.fold.tolist())):
        train = (table.fold == fold) & table.train
        test = (table.fold == fold) & ~table.train
        if not test.any():
            continue
        try:
            with threadpool_limits(limits=1):  # small fits: BLAS threads only contend
                model, method, _ = fit_calibrator(table, train, settings)
        except ConfidenceTrainingError as exc:
            notes.append(f"fold {fold}: not scored ({exc})")
            continue
        methods[fold] = method
        predictions[fold] = np.asarray(model.predict_proba(table.matrix[test])[:, 1])
        probs.append(predictions[fold])
        truth.append(table.won[test])
        base.append(np.full(int(test.sum()), table.won[train].mean()))
        p0, p1 = sizing.bounds(float(table.won[train].mean()))
        scale.append(np.clip((predictions[fold] - p0) / (p1 - p0), 0.0, 1.0))
        if table.pnl is not None:
            pnl.append(table.pnl[test])
    metrics: dict[str, float] = {"conf_folds_scored": float(len(methods)),
                                 "conf_folds_skipped": float(len(notes))}
    if not probs:
        metrics.update({"conf_trades_scored": 0.0, "conf_brier": math.nan,
                        "conf_log_loss": math.nan, "conf_brier_base_rate": math.nan})
        return NestedScores(metrics, [], predictions, methods, notes)
    p, y, b = np.concatenate(probs), np.concatenate(truth), np.concatenate(base)
    metrics.update({
        "conf_trades_scored": float(len(y)), "conf_hit_rate": float(y.mean()),
        "conf_brier": float(brier_score_loss(y, p)),
        "conf_log_loss": float(log_loss(y, p, labels=[0, 1])),
        "conf_brier_base_rate": float(brier_score_loss(y, b)),
        "conf_mean_p": float(p.mean())})
    observed, predicted = calibration_curve(y, p, n_bins=settings.reliability_bins,
                                            strategy="quantile")
    reliability = [{"predicted": float(a), "observed": float(o)}
                   for a, o in zip(predicted, observed, strict=True)]
    if len(reliability):
        metrics["conf_reliability_gap"] = float(np.mean(np.abs(predicted - observed)))
    if pnl:  # the default sizing's effect, trade by trade (each trade kept, only scaled)
        money, weight = np.concatenate(pnl), np.concatenate(scale)
        metrics.update({"conf_net_pnl_inr": float(money.sum()),
                        "conf_sized_net_pnl_inr": float((money * weight).sum()),
                        "conf_mean_size": float(weight.mean())})
    return NestedScores(metrics, reliability, predictions, methods, notes)


def train_confidence(fold_table: pd.DataFrame, settings: Any, folder: Path
                     ) -> ConfidenceStudy:
    """Score by nested walk-forward, refit on every test-window trade, write the calibrator
    into ``folder``; raises :class:`ConfidenceTrainingError` when there are too few."""
    table = EntryTable.of(fold_table)
    nested = nested_scores(table, settings)
    final_rows = ~table.train
    with threadpool_limits(limits=1):  # small fits: BLAS threads only contend
        final, method, losses = fit_calibrator(table, final_rows, settings)
    metrics = dict(nested.metrics)
    metrics.update({f"conf_cv_log_loss.{m}": v for m, v in losses.items()})
    metrics["conf_trades_trained"] = float(final_rows.sum())
    study = ConfidenceStudy(method, metrics, nested.reliability, nested.methods, nested.notes)
    write_confidence(folder, final, method, {
        "seed": settings.seed, "cv": settings.cv, "min_trades": settings.min_trades,
        "methods_by_fold": {str(k): v for k, v in nested.methods.items()},
        "reliability": nested.reliability, "notes": nested.notes,
        "hit_rate": float(table.won[final_rows].mean()),
        **{k: v for k, v in metrics.items() if math.isfinite(v)}})
    return study


@dataclass(frozen=True, slots=True)
class TrainedConfidence:
    """A calibrator written for a version: its folder and what its training measured."""

    path: Path
    metrics: dict[str, float]
    method: str


def confidence_for_version(fold_table: Any, report: Any, settings: Any, folder: Path
                           ) -> TrainedConfidence | None:
    """With ``research.confidence.attach``: the calibrator of ``report``'s strategy learned
    from ``fold_table`` (a callable giving the fold trade table; called only when attached)
    and written under ``folder``; None when not attached, or when there are too few trades
    to learn from (the version is then registered without one and trades its full size; the
    report's notes say why)."""
    if not settings.attach:
        return None
    target = folder / CONFIDENCE_DIR
    try:
        study = train_confidence(fold_table(), settings, target)
    except ConfidenceTrainingError as exc:
        report.notes.append(f"confidence calibrator not trained: {exc}")
        return None
    return TrainedConfidence(target, study.metrics, study.method)


def confidence_fold_table(features: Any, report: Any, config: Any,
                          classifier: Any, research: Any) -> pd.DataFrame:
    """The study's fold trade table (:func:`pipelines.research.fold_trades.fold_trades`),
    its regimes read by the classifiers the enable matrix uses; a dataset without a regime
    classifier has none (refused: :class:`ConfidenceTrainingError`)."""
    from pipelines.research.fold_trades import fold_trades
    from pipelines.research.matrix_study import classifiers_for
    from strategies.regime_model import load_governance
    from strategies.roster import get_strategy

    if classifier is None:
        raise ConfidenceTrainingError(f"{report.strategy}: the dataset has no regime "
                                      "classifier, so no fold trade table")
    governance = load_governance(classifier.path)
    return fold_trades(get_strategy(report.strategy), features.bars(), config, report,
                       classifiers_for(features, report, governance, research))
