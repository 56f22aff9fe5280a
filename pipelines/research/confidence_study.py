"""A strategy's calibrated confidence, learned and scored by nested walk-forward.

The trades are the walk-forward's out-of-sample trades (each fold's chosen params on its
test window, :class:`~pipelines.research.walk_forward.WalkForwardReport.oos_trades`); the
target is ``net_pnl_inr > 0`` and the inputs are the entry's features at its decision bar
(the bar before its ``next_open`` fill: :func:`strategies.confidence.entry_feature_matrix`,
the code the live runner calls).

For each walk-forward fold ``k``, the calibrator is learned only from trades that were
decided inside fold ``k``'s training window and closed before its test window opens (earlier
folds' out-of-sample trades), and scored on fold ``k``'s test trades. The calibration
method (``isotonic`` or ``sigmoid``) is chosen inside the training trades alone, by the
lower log-loss over a time-ordered ``TimeSeriesSplit``; the base classifier is a
standardised logistic regression wrapped in ``CalibratedClassifierCV``. A fold with fewer
than ``min_trades`` training trades, or with one outcome only, is not scored (counted in
``conf_folds_skipped``).

Scores over all scored test trades: Brier score, log-loss, the Brier score of the training
base rate (the no-skill forecast it must beat), and a reliability table (mean predicted
probability against the observed hit rate per probability bin). The stored calibrator is
refit on every trade with the method chosen the same way. The fits run single-threaded
(many small fits: BLAS threads only contend) and are deterministic (``seed``).
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

from pipelines.research.splits import Fold, walk_forward_folds
from strategies.bars import Bars
from strategies.confidence import CONFIDENCE_DIR, METHODS, entry_feature_matrix, write_confidence
from strategies.errors import BadInputError


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
    """Trades in decision order: features at entry, outcome, decision bar, exit bar."""

    matrix: npt.NDArray[np.float64]
    won: npt.NDArray[np.int64]
    decision_idx: npt.NDArray[np.int64]
    exit_idx: npt.NDArray[np.int64]

    @classmethod
    def of(cls, bars: Bars, trades: pd.DataFrame) -> EntryTable:
        """``trades`` (entry_idx = the fill bar, side, net_pnl_inr, exit_idx) with the
        features at each decision bar; rows with a NaN feature (warm-up) are dropped."""
        if trades.empty:
            return cls(np.empty((0, 0)), np.empty(0, np.int64), np.empty(0, np.int64),
                       np.empty(0, np.int64))
        ordered = trades.sort_values("entry_idx", kind="stable")
        decision = ordered["entry_idx"].to_numpy(np.int64) - 1  # next_open: decided a bar before
        side = np.where(ordered["side"].to_numpy() == "long", 1.0, -1.0)
        matrix = entry_feature_matrix(bars.open, bars.high, bars.low, bars.close,
                                      bars.session, np.maximum(decision, 0), side)
        keep = ~np.isnan(matrix).any(axis=1) & (decision >= 0)
        won = (ordered["net_pnl_inr"].to_numpy(float) > 0).astype(np.int64)
        return cls(matrix[keep], won[keep], decision[keep],
                   ordered["exit_idx"].to_numpy(np.int64)[keep])

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


def _fit(table: EntryTable, rows: npt.NDArray[np.bool_], settings: Any
         ) -> tuple[CalibratedClassifierCV, str, dict[str, float]]:
    x, y = table.matrix[rows], table.won[rows]
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


def nested_scores(table: EntryTable, folds: list[Fold], settings: Any
                  ) -> tuple[dict[str, float], list[dict[str, float]], dict[int, str],
                             list[str]]:
    """Per fold: learn inside its training window, score its test window's trades."""
    probs, truth, base = [], [], []
    methods: dict[int, str] = {}
    notes: list[str] = []
    for fold in folds:
        lo_train, hi_train = fold.train_range
        lo_test, hi_test = fold.test_range
        train = (table.decision_idx >= lo_train) & (table.decision_idx <= hi_train) & \
            (table.exit_idx < lo_test)
        test = (table.decision_idx >= lo_test) & (table.decision_idx <= hi_test)
        if not test.any():
            continue
        try:
            with threadpool_limits(limits=1):  # small fits: BLAS threads only contend
                model, method, _ = _fit(table, train, settings)
        except ConfidenceTrainingError as exc:
            notes.append(f"fold {fold.index}: not scored ({exc})")
            continue
        methods[fold.index] = method
        probs.append(model.predict_proba(table.matrix[test])[:, 1])
        truth.append(table.won[test])
        base.append(np.full(int(test.sum()), table.won[train].mean()))
    metrics: dict[str, float] = {"conf_folds_scored": float(len(methods)),
                                 "conf_folds_skipped": float(len(notes))}
    if not probs:
        metrics.update({"conf_trades_scored": 0.0, "conf_brier": math.nan,
                        "conf_log_loss": math.nan, "conf_brier_base_rate": math.nan})
        return metrics, [], methods, notes
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
    return metrics, reliability, methods, notes


def train_confidence(bars: Bars, trades: pd.DataFrame, folds: list[Fold], settings: Any,
                     folder: Path) -> ConfidenceStudy:
    """Score by nested walk-forward, refit on every trade, write the calibrator into
    ``folder``; raises :class:`ConfidenceTrainingError` when there are too few trades."""
    table = EntryTable.of(bars, trades)
    metrics, reliability, methods, notes = nested_scores(table, folds, settings)
    with threadpool_limits(limits=1):  # small fits: BLAS threads only contend
        final, method, losses = _fit(table, np.ones(len(table), dtype=bool), settings)
    metrics.update({f"conf_cv_log_loss.{m}": v for m, v in losses.items()})
    metrics["conf_trades_trained"] = float(len(table))
    study = ConfidenceStudy(method, metrics, reliability, methods, notes)
    write_confidence(folder, final, method, {
        "seed": settings.seed, "cv": settings.cv, "min_trades": settings.min_trades,
        "methods_by_fold": {str(k): v for k, v in methods.items()},
        "reliability": reliability, "notes": notes, "hit_rate": float(table.won.mean()),
        **{k: v for k, v in metrics.items() if math.isfinite(v)}})
    return study


@dataclass(frozen=True, slots=True)
class TrainedConfidence:
    """A calibrator written for a version: its folder and what its training measured."""

    path: Path
    metrics: dict[str, float]
    method: str


def confidence_for_version(bars: Bars, report: Any, settings: Any, folder: Path
                           ) -> TrainedConfidence | None:
    """With ``research.confidence.attach``: the calibrator of ``report``'s strategy learned
    on its out-of-sample trades (nested in its own walk-forward folds) and written under
    ``folder``; None when not attached, or when there are too few trades to learn from
    (the version is then registered without one and trades its full size; its run carries
    a note saying why)."""
    if not settings.attach:
        return None
    target = folder / CONFIDENCE_DIR
    try:
        study = train_confidence(bars, report.oos_trades,
                                 walk_forward_folds(bars.session, report.spec), settings,
                                 target)
    except ConfidenceTrainingError as exc:
        report.notes.append(f"confidence calibrator not trained: {exc}")
        return None
    return TrainedConfidence(target, study.metrics, study.method)
