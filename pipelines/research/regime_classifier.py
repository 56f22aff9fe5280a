"""The regime classifier of a study: trained walk-forward on features only, scored out of
sample against the per-session labels, refit on every labelled bar, and stored with the
drift reference as the version's signal governance artifacts (:mod:`strategies.regime_model`).

The labels are the training **target** only, never an input: the inputs are the causal
features of :mod:`strategies.regime_features`. Each candidate family (``hgb``: scikit-learn's
HistGradientBoostingClassifier; ``logistic``: StandardScaler + LogisticRegression) is
evaluated on the study's walk-forward folds (purged, :mod:`pipelines.research.splits`); the
one with the higher out-of-sample balanced accuracy over all test bars is refit on all
labelled bars and stored. Training rows are every ``train_stride``-th bar (one-minute
features are strongly autocorrelated: a stride loses little and saves most of the time).

A dataset without labels (real data) is classified by a classifier trained on the labelled
reference dataset (``research.regime.reference_dataset``, the synthetic year): its features
are scale-free or in basis points, so they transfer; the drift reference is still the
studied dataset's own training distribution, which is what live is compared with.
Per test fold, drift (PSI, KS) of the fold's features against that fold's training reference
is reported against the ``signal_governance`` gates of ``gates.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.research.gates import SignalGates
from pipelines.research.regimes import UNLABELLED
from pipelines.research.splits import Fold, WalkForwardSpec, walk_forward_folds
from strategies.bars import Bars
from strategies.drift import RegimeDriftReference
from strategies.errors import BadInputError
from strategies.names import path_under, validate_name
from strategies.regime_features import (
    DRIFT_FEATURES,
    FEATURE_NAMES,
    drift_feature_matrix,
    regime_feature_matrix,
)
from strategies.regime_model import (
    GOVERNANCE_DIR,
    REGIME_CLASSES,
    RegimeModel,
    load_governance,
    write_governance,
)

CANDIDATES = ("hgb", "logistic")


class RegimeTrainingError(BadInputError, ValueError):
    """A regime classifier that cannot be trained: no labels, too few folds, one class."""


def make_estimator(kind: str, seed: int) -> Any:
    """A fresh candidate estimator (``hgb`` or ``logistic``), seeded."""
    if kind == "hgb":
        return HistGradientBoostingClassifier(max_iter=50, max_leaf_nodes=15,
                                              class_weight="balanced", random_state=seed)
    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(
            max_iter=1000, class_weight="balanced", random_state=seed))
    raise RegimeTrainingError(f"research.regime.candidates entry {kind!r}: expected one of "
                              f"{list(CANDIDATES)}")


@dataclass(frozen=True, slots=True)
class LabelledFeatures:
    """Feature matrix, each bar's session number and regime label (``unlabelled`` allowed)."""

    matrix: npt.NDArray[np.float64]
    session: npt.NDArray[np.int64]
    labels: npt.NDArray[np.str_]
    drift: npt.NDArray[np.float64]

    @classmethod
    def of(cls, bars: Bars, labels: npt.ArrayLike) -> LabelledFeatures:
        matrix = regime_feature_matrix(bars.open, bars.high, bars.low, bars.close,
                                       bars.session)
        return cls(matrix, np.asarray(bars.session, dtype=np.int64),
                   np.asarray(labels).astype(str),
                   drift_feature_matrix(bars.high, bars.low, bars.close))

    def usable(self, idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Positions of ``idx`` with complete features and a known label."""
        keep = ~np.isnan(self.matrix[idx]).any(axis=1) & np.isin(self.labels[idx],
                                                                   REGIME_CLASSES)
        return idx[keep]

    @property
    def labelled(self) -> bool:
        return bool(np.isin(self.labels, REGIME_CLASSES).any())


@dataclass(frozen=True, slots=True)
class FoldDrift:
    """One test fold's drift, session by session, against its own training window's
    per-regime reference: the worst session's PSI and KS and how many sessions breach."""

    fold: int
    max_psi: float
    max_ks: float
    sessions: int
    breached_sessions: int


@dataclass(frozen=True, slots=True)
class RegimeStudy:
    """The walk-forward evaluation of every candidate and the chosen one."""

    chosen: str
    balanced_accuracy: dict[str, float]  # candidate -> OOS balanced accuracy over bars
    session_accuracy: dict[str, float]  # candidate -> at each test session's last bar
    folds: int
    trained_on: str
    fold_drift: tuple[FoldDrift, ...] = field(default=())

    def metrics(self) -> dict[str, float]:
        out = {f"regime_bacc.{k}": v for k, v in self.balanced_accuracy.items()}
        out.update({f"regime_session_bacc.{k}": v for k, v in self.session_accuracy.items()})
        out["regime_bacc"] = self.balanced_accuracy[self.chosen]
        out["regime_session_bacc"] = self.session_accuracy[self.chosen]
        sessions = sum(f.sessions for f in self.fold_drift)
        breached = sum(f.breached_sessions for f in self.fold_drift)
        out["drift_breach_share"] = breached / sessions if sessions else 0.0
        out["drift_max_psi"] = max((f.max_psi for f in self.fold_drift), default=0.0)
        out["drift_max_ks"] = max((f.max_ks for f in self.fold_drift), default=0.0)
        return out


def _fit(kind: str, data: LabelledFeatures, rows: npt.NDArray[np.int64], seed: int) -> Any:
    classes = {str(c) for c in data.labels[rows]}
    if len(classes) < 2:
        raise RegimeTrainingError(f"a training window holds only the regime(s) "
                                  f"{sorted(classes)}: nothing to classify")
    return make_estimator(kind, seed).fit(data.matrix[rows], data.labels[rows])


def evaluate(data: LabelledFeatures, folds: list[Fold], candidates: tuple[str, ...],
             stride: int, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """OOS balanced accuracy per candidate over all test bars, and at session ends."""
    bars_acc, sess_acc = {}, {}
    for kind in candidates:
        truth, pred, s_truth, s_pred = [], [], [], []
        for fold in folds:
            train = data.usable(fold.train_idx)[::stride]
            test = data.usable(fold.test_idx)
            if not len(test):
                continue
            got = _fit(kind, data, train, seed).predict(data.matrix[test])
            truth.append(data.labels[test])
            pred.append(got)
            sess = data.session[test]
            last = np.r_[sess[1:] != sess[:-1], True]
            s_truth.append(data.labels[test][last])
            s_pred.append(got[last])
        if not truth:
            raise RegimeTrainingError("no walk-forward test fold holds a labelled bar")
        bars_acc[kind] = float(balanced_accuracy_score(np.concatenate(truth),
                                                       np.concatenate(pred)))
        sess_acc[kind] = float(balanced_accuracy_score(np.concatenate(s_truth),
                                                       np.concatenate(s_pred)))
    return bars_acc, sess_acc


def fold_drift(data: LabelledFeatures, regimes: npt.NDArray[np.str_], folds: list[Fold],
               gates: SignalGates) -> tuple[FoldDrift, ...]:
    """Each test session's drift (as live measures it at a session's end) against the
    fold's training window's per-regime reference; ``regimes`` are the stored classifier's
    (its in-sample rows only decide which reference a bar is compared with)."""
    out = []
    classes = sorted(set(regimes) & set(REGIME_CLASSES))
    for fold in folds:
        train = fold.train_idx
        reference = RegimeDriftReference.from_samples(data.drift[train], regimes[train],
                                                      DRIFT_FEATURES, classes)
        worst_psi = worst_ks = 0.0
        sessions = breached = 0
        test_sessions = data.session[fold.test_idx]
        for session in np.unique(test_sessions):
            rows = fold.test_idx[test_sessions == session]
            reading = reference.measure(data.drift[rows], regimes[rows])
            if not reading.compared:
                continue
            psi, ks = reading.worst()
            worst_psi, worst_ks = max(worst_psi, psi), max(worst_ks, ks)
            sessions += 1
            breached += bool(reading.breaches(gates.max_drift_psi, gates.max_drift_ks))
        out.append(FoldDrift(fold.index, worst_psi, worst_ks, sessions, breached))
    return tuple(out)


def train_regime_model(studied: Bars, studied_labels: npt.ArrayLike, spec: WalkForwardSpec,
                       gates: SignalGates, settings: Any, folder: Path,
                       reference: Callable[[], tuple[Bars, npt.ArrayLike]] | None = None,
                       trained_on: str = "", train_spec: WalkForwardSpec | None = None
                       ) -> RegimeStudy:
    """Evaluate, choose, refit and write the governance artifacts into ``folder``.

    ``reference`` supplies the labelled bars to train on when ``studied`` has no labels,
    walked forward in ``train_spec`` (default ``spec``); ``spec`` always gives the studied
    dataset's drift folds.
    """
    data = LabelledFeatures.of(studied, studied_labels)
    train_data, source = data, trained_on
    if not data.labelled:
        if reference is None:
            raise RegimeTrainingError(f"{trained_on}: no regime labels and no labelled "
                                      "reference dataset (research.regime.reference_dataset)")
        ref_bars, ref_labels = reference()
        train_data, source = LabelledFeatures.of(ref_bars, ref_labels), \
            settings.reference_dataset
    folds = walk_forward_folds(train_data.session, train_spec or spec)
    candidates = tuple(settings.candidates)
    bars_acc, sess_acc = evaluate(train_data, folds, candidates, settings.train_stride,
                                  settings.seed)
    chosen = max(candidates, key=lambda k: bars_acc[k])
    final = _fit(chosen, train_data, train_data.usable(
        np.arange(len(train_data.labels), dtype=np.int64))[::settings.train_stride],
        settings.seed)
    model = RegimeModel(final, FEATURE_NAMES, tuple(str(c) for c in final.classes_))
    regimes, _ = model.classify(data.matrix)
    drift = fold_drift(data, regimes, walk_forward_folds(data.session, spec), gates)
    study = RegimeStudy(chosen, bars_acc, sess_acc, len(folds), source, drift)
    reference_dist = RegimeDriftReference.from_samples(data.drift, regimes, DRIFT_FEATURES,
                                                       model.classes)
    meta = {"estimator": chosen, "trained_on": source, "seed": settings.seed,
            "train_stride": settings.train_stride, **study.metrics()}
    write_governance(folder, final, reference_dist, meta)
    return study


def settings_digest(settings: Any, spec: object, gates: SignalGates) -> str:
    """What a stored classifier is a function of, besides the features' key."""
    text = json.dumps({"regime": settings.model_dump(mode="json"), "spec": repr(spec),
                       "gates": gates.model_dump()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StoredRegimeModel:
    """Where a study's governance folder lives and what its training measured."""

    path: Path
    digest: str
    metrics: dict[str, float]
    cache_hit: bool

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "digest": self.digest, "metrics": self.metrics,
                "cache_hit": self.cache_hit}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StoredRegimeModel:
        return cls(Path(value["path"]), str(value["digest"]),
                   {k: float(v) for k, v in value["metrics"].items()},
                   bool(value["cache_hit"]))


def stored_regime_model(store: Path, dataset: str, key: str,
                        train: Callable[[Path], RegimeStudy]) -> StoredRegimeModel:
    """The governance folder under ``store/<dataset>/<key>``: read back (and re-verified)
    when present, else trained into a temporary sibling and renamed into place."""
    final = path_under(store, validate_name(dataset, field="dataset"), key)
    if (final / GOVERNANCE_DIR).is_dir():
        loaded = load_governance(final / GOVERNANCE_DIR)
        metrics = {k: float(v) for k, v in loaded.meta.items()
                   if k.startswith(("regime_", "drift_")) and isinstance(v, int | float)}
        return StoredRegimeModel(final / GOVERNANCE_DIR, loaded.digest, metrics, True)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}-"))
    try:
        study = train(tmp / GOVERNANCE_DIR)
        tmp.rename(final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / GOVERNANCE_DIR).is_dir():
            raise
        # another partition stored the same key meanwhile: same inputs, use theirs
        return stored_regime_model(store, dataset, key, train)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    loaded = load_governance(final / GOVERNANCE_DIR)
    return StoredRegimeModel(final / GOVERNANCE_DIR, loaded.digest, study.metrics(), False)


def session_labels_per_bar(frame_regime: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """The feature frame's ``regime`` column as labels (``unlabelled`` kept as is)."""
    labels = np.asarray(frame_regime).astype(str)
    labels[labels == "None"] = UNLABELLED
    return labels
