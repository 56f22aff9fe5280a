"""A version's signal governance artifacts: the regime classifier and the drift reference,
stored beside the version's model files (so the version's signed ``model_digest`` covers
them) and loaded with every file's digest checked - without pickle.

Layout of the folder (:data:`GOVERNANCE_DIR` inside the registered model):

- ``manifest.json``: the features the classifier was trained on (names and the digest of
  their definitions), its classes, and each file's SHA-256;
- ``regime_model.skops``: the scikit-learn estimator in skops' format, loaded with an
  explicit allow-list of types (:data:`TRUSTED_TYPES`): anything else is refused, never run;
- ``drift_reference.json``: the binned training distribution of the drift features per
  classified regime (:class:`strategies.drift.RegimeDriftReference`);
- ``enable_matrix.json`` (a registered version's copy only, added by
  :func:`add_enable_matrix`): the strategy's regime enable matrix
  (:mod:`strategies.enable_matrix`). Once the manifest lists it, a missing or altered file
  refuses the whole folder.

:func:`load_governance` refuses, naming the file and value: a classifier trained on other
features than the installed definitions (or than the manifest declares), a missing or
altered reference, classes outside :data:`REGIME_CLASSES`. At run time :meth:`RegimeModel.read`
turns a NaN feature into a reading with a ``problem`` (the caller holds), never a guess.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from strategies.drift import DriftReferenceError, RegimeDriftReading, RegimeDriftReference
from strategies.enable_matrix import MATRIX_FILE, EnableMatrix, matrix_from_text
from strategies.errors import BadInputError
from strategies.files import atomic_write, read_manifest
from strategies.regime_features import (
    DRIFT_FEATURES,
    FEATURE_NAMES,
    TAIL_BARS,
    drift_feature_matrix,
    regime_feature_matrix,
    regime_features_digest,
)
from strategies.skops_bytes import canonical_skops

GOVERNANCE_DIR = "signal_governance"
MANIFEST = "manifest.json"
MODEL_FILE = "regime_model.skops"
REFERENCE_FILE = "drift_reference.json"
#: The regimes a classifier may predict (the synthetic generator's labels).
REGIME_CLASSES = ("trend", "chop", "high_vol")
#: Types beyond skops' defaults the stored estimator may contain (HistGradientBoosting's
#: tree predictors). A file naming any other type is refused before it is loaded.
TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)
UNKNOWN = "unknown"
FEW_ROWS = 64  # predicted on one thread (RegimeModel.probabilities)


class SignalGovernanceError(BadInputError, ValueError):
    """Signal governance artifacts that cannot be trusted or used; names file and value."""


class UnseenRegimeError(SignalGovernanceError, LookupError):
    """A regime the version's classifier never saw in training."""


@functools.cache
def _threadpools() -> Any:
    """The process's native thread pools (threadpoolctl, scikit-learn's own dependency);
    found once: a fresh scan per call costs more than the prediction."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """One bar's regime: the class, its probability and every class's; ``problem`` set
    (regime :data:`UNKNOWN`) when it could not be classified."""

    regime: str
    probability: float
    probabilities: dict[str, float]
    problem: str | None = None
    features: tuple[float, ...] = ()  # the feature row it was read from (NaN: not known)


@dataclass(frozen=True, slots=True)
class RegimeModel:
    """A trained regime classifier over :data:`FEATURE_NAMES` (any estimator with
    ``predict_proba`` and ``classes_``)."""

    estimator: Any
    features: tuple[str, ...]
    classes: tuple[str, ...]

    def probabilities(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Class probabilities per row, columns in :attr:`classes` order (rows must be
        NaN-free). A few rows (the live runner's one bar) are predicted on one OpenMP
        thread: a parallel region per tree costs milliseconds each on a busy machine
        (measured 0.5 s per row under load), and the values do not depend on it."""
        if len(matrix) > FEW_ROWS:
            return np.asarray(self.estimator.predict_proba(matrix), dtype=np.float64)
        with _threadpools().limit(limits=1, user_api="openmp"):
            return np.asarray(self.estimator.predict_proba(matrix), dtype=np.float64)

    def classify(self, matrix: npt.NDArray[np.float64]
                 ) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.float64]]:
        """Regime and its probability per row; rows with a NaN feature are :data:`UNKNOWN`
        with probability NaN."""
        regimes = np.full(len(matrix), UNKNOWN, dtype=object)
        probs = np.full(len(matrix), np.nan)
        ok = ~np.isnan(matrix).any(axis=1)
        if ok.any():
            p = self.probabilities(matrix[ok])
            best = p.argmax(axis=1)
            regimes[ok] = np.asarray(self.classes, dtype=object)[best]
            probs[ok] = p[np.arange(len(p)), best]
        return regimes.astype(str), probs

    def nan_problem(self, row: npt.NDArray[np.float64]) -> str | None:
        """Why ``row`` cannot be classified (its NaN features named), or None."""
        bad = [self.features[j] for j in np.flatnonzero(np.isnan(row))]
        return f"NaN feature {', '.join(bad)} (warm-up or bad bars)" if bad else None

    def entry_hold(self, reading: RegimeReading) -> str | None:
        """Why a new entry must wait at a bar read as ``reading`` (None: it need not): the
        bar could not be classified, or its regime was never seen in training - the rule
        live and research both apply."""
        if reading.problem is not None:
            return f"regime: {reading.problem}"
        try:
            self.probability_of(reading, reading.regime)
        except UnseenRegimeError as exc:
            return f"regime: {exc}"
        return None

    def read(self, row: npt.NDArray[np.float64]) -> RegimeReading:
        """One feature row's regime; a NaN feature gives an :data:`UNKNOWN` reading with the
        feature named (still warming up, or a bad bar)."""
        values = tuple(float(v) for v in row)
        problem = self.nan_problem(row)
        if problem is not None:
            return RegimeReading(UNKNOWN, float("nan"), {}, problem, values)
        p = self.probabilities(row.reshape(1, -1))[0]
        best = int(p.argmax())
        return RegimeReading(self.classes[best], float(p[best]),
                             {c: float(v) for c, v in zip(self.classes, p, strict=True)},
                             None, values)

    def read_last(self, open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike,
                  close: npt.ArrayLike, session: npt.ArrayLike) -> RegimeReading:
        """The regime at the last (closed) bar, from at most :data:`TAIL_BARS` bars of
        history - the same value the research matrix holds at that bar."""
        arrays = [np.asarray(a)[-TAIL_BARS:] for a in (open_, high, low, close, session)]
        return self.read(regime_feature_matrix(*arrays)[-1])

    def probability_of(self, reading: RegimeReading, regime: str) -> float:
        """``regime``'s probability in ``reading``; a regime the classifier never saw in
        training raises :class:`UnseenRegimeError` (a consumer must hold, not guess)."""
        if regime not in self.classes:
            raise UnseenRegimeError(f"regime {regime!r} was never seen in training; the "
                                    f"classifier knows {list(self.classes)}")
        return reading.probabilities[regime]


@dataclass(frozen=True, slots=True)
class SignalGovernance:
    """What a version carries for regime and drift governance, loaded and checked."""

    model: RegimeModel
    reference: RegimeDriftReference
    digest: str  # the manifest's SHA-256
    meta: dict[str, Any]
    matrix: EnableMatrix | None = None  # the strategy's regime enable matrix, if it has one

    def drift(self, open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike,
              close: npt.ArrayLike, session: npt.ArrayLike,
              window: npt.NDArray[np.bool_]) -> RegimeDriftReading:
        """Drift of the bars selected by ``window`` (bars before it warm the features up),
        each compared within the regime the classifier gives it."""
        regimes, _ = self.model.classify(regime_feature_matrix(open_, high, low, close,
                                                               session))
        drift = drift_feature_matrix(high, low, close)
        return self.reference.measure(drift[window], regimes[window])


def write_governance(folder: Path, estimator: Any, reference: RegimeDriftReference,
                     meta: dict[str, Any]) -> str:
    """Write the three files into ``folder`` (created); returns the manifest's SHA-256."""
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    classes = [str(c) for c in estimator.classes_]
    data = canonical_skops(sio.dumps(estimator))  # same estimator, same bytes, same version
    atomic_write(folder / MODEL_FILE, lambda tmp: Path(tmp).write_bytes(data))
    text = json.dumps(reference.to_json(), sort_keys=True)
    atomic_write(folder / REFERENCE_FILE, lambda tmp: Path(tmp).write_text(text))
    manifest = {"features": list(FEATURE_NAMES), "features_digest": regime_features_digest(),
                "classes": classes, "files": {MODEL_FILE: sha256_file(folder / MODEL_FILE),
                                              REFERENCE_FILE: sha256_file(folder /
                                                                          REFERENCE_FILE)},
                "meta": meta}
    body = json.dumps(manifest, sort_keys=True, indent=1)
    atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(body))
    return sha256_file(folder / MANIFEST)


def add_enable_matrix(folder: Path, matrix: EnableMatrix) -> str:
    """Write ``matrix`` into a version's governance ``folder`` and list it, with its SHA-256,
    in the manifest; returns the manifest's new SHA-256. Its regimes must be the
    classifier's classes."""
    manifest = _manifest(folder)
    classes = tuple(str(c) for c in manifest.get("classes") or ())
    text = matrix.dumps()
    matrix_from_text(text, str(folder / MATRIX_FILE), strategy=None, classes=classes)
    atomic_write(folder / MATRIX_FILE, lambda tmp: Path(tmp).write_text(text))
    manifest["files"][MATRIX_FILE] = sha256_file(folder / MATRIX_FILE)
    body = json.dumps(manifest, sort_keys=True, indent=1)
    atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(body))
    return sha256_file(folder / MANIFEST)


def _manifest(folder: Path) -> dict[str, Any]:
    return read_manifest(folder / MANIFEST, SignalGovernanceError, "signal governance")


def _checked_file(folder: Path, manifest: dict[str, Any], name: str, what: str) -> Path:
    path = folder / name
    want = manifest["files"].get(name)
    if not path.is_file() or want is None:
        raise SignalGovernanceError(f"{path}: the {what} is missing from the version")
    got = sha256_file(path)
    if got != want:
        raise SignalGovernanceError(f"{path}: sha256 {got} != manifest {want}; the {what} "
                                    "was altered")
    return path


def _check_features(folder: Path, manifest: dict[str, Any]) -> tuple[str, ...]:
    declared = tuple(manifest.get("features") or ())
    if declared != FEATURE_NAMES or manifest.get("features_digest") != \
            regime_features_digest():
        raise SignalGovernanceError(
            f"{folder / MANIFEST}: classifier trained on features {list(declared)} "
            f"(definitions {manifest.get('features_digest')!r}) but the installed code "
            f"computes {list(FEATURE_NAMES)} (definitions {regime_features_digest()!r})")
    return declared


def _load_estimator(path: Path, features: Sequence[str], classes: Sequence[str]) -> Any:
    import skops.io as sio

    data = path.read_bytes()
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted types on a malformed archive
        raise SignalGovernanceError(f"{path}: not a skops file ({exc})") from exc
    extra = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if extra:
        raise SignalGovernanceError(f"{path}: refuses untrusted types {extra}")
    try:
        estimator = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # a malformed archive fails in assorted ways: refuse them all
        raise SignalGovernanceError(f"{path}: cannot load the classifier ({exc})") from exc
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in != len(features):
        raise SignalGovernanceError(f"{path}: the classifier takes {n_in} features, the "
                                    f"version declares {len(features)} {list(features)}")
    fitted = [str(c) for c in getattr(estimator, "classes_", [])]
    if fitted != list(classes):
        raise SignalGovernanceError(f"{path}: classifier classes {fitted} != manifest "
                                    f"{list(classes)}")
    return estimator


def load_governance(folder: Path, strategy: str | None = None) -> SignalGovernance:
    """The version's classifier, drift reference and (when the manifest lists one) enable
    matrix from ``folder``, every file checked against the manifest's digest, the features
    against the installed definitions and the matrix against the classifier's classes (and
    ``strategy``, when given)."""
    manifest = _manifest(folder)
    features = _check_features(folder, manifest)
    classes = tuple(str(c) for c in manifest.get("classes") or ())
    unknown = [c for c in classes if c not in REGIME_CLASSES]
    if not classes or unknown:
        raise SignalGovernanceError(f"{folder / MANIFEST}: classes {list(classes)}; "
                                    f"unknown {unknown}, expected some of "
                                    f"{list(REGIME_CLASSES)}")
    model_path = _checked_file(folder, manifest, MODEL_FILE, "regime classifier")
    ref_path = _checked_file(folder, manifest, REFERENCE_FILE, "drift reference")
    try:
        reference = RegimeDriftReference.from_json(json.loads(ref_path.read_text()),
                                                   str(ref_path))
    except ValueError as exc:
        raise SignalGovernanceError(str(exc)) from exc
    extra = sorted(set(reference.by_regime) - set(classes))
    if reference.names != DRIFT_FEATURES or extra:
        raise DriftReferenceError(f"{ref_path}: reference features {list(reference.names)} "
                                  f"(expected {list(DRIFT_FEATURES)}), regimes "
                                  f"{sorted(reference.by_regime)} (classifier: "
                                  f"{list(classes)})")
    estimator = _load_estimator(model_path, features, classes)
    matrix = None
    if MATRIX_FILE in manifest["files"]:
        matrix_path = _checked_file(folder, manifest, MATRIX_FILE, "enable matrix")
        matrix = matrix_from_text(matrix_path.read_text(), str(matrix_path),
                                  strategy=strategy, classes=classes)
    meta = manifest.get("meta") if isinstance(manifest.get("meta"), dict) else {}
    return SignalGovernance(RegimeModel(estimator, features, classes), reference,
                            sha256_file(folder / MANIFEST), dict(meta or {}), matrix)
