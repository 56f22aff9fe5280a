"""A version's calibrated confidence: the probability that an entry is profitable, from a
scikit-learn ``CalibratedClassifierCV`` over the entry's features, stored beside the
version's model files (so its signed ``model_digest`` covers it) and loaded as data.

The features of an entry decided at bar ``t``'s close are the regime features of
:mod:`strategies.regime_features` at ``t`` plus the entry's side (+1 long, -1 short):
:data:`CONFIDENCE_FEATURES`. Research (:func:`entry_feature_matrix`, every entry of a
trade table) and the live runner (:meth:`ConfidenceModel.read_last`, the last closed bar)
compute them with the same code, so the probability live is the one research scored.

Layout of the folder (:data:`CONFIDENCE_DIR` inside the registered model):

- ``manifest.json``: the features (names and the digest of their definitions), the
  calibration method, the training summary, and the calibrator file's SHA-256;
- ``calibrator.skops``: the fitted ``CalibratedClassifierCV`` in skops' format (canonical
  bytes), loaded with an explicit allow-list of types (:data:`TRUSTED_TYPES`).

:func:`load_confidence` refuses, naming the file and value: a calibrator trained on other
features than the version declares or the installed code computes, an altered file, a
non-binary classifier. At run time :meth:`ConfidenceModel.read` turns a NaN feature, and a
probability that is NaN or outside [0, 1], into a reading with a ``problem``: the caller
holds that entry, never trades it silently.

Size (:func:`confidence_lots`): ``lots = floor(base * clip((p - p0) / (p1 - p0), 0, 1))``
- nothing at or below ``p0``, the version's full size at or above ``p1``, linear between;
never negative and never above the version's lots. :class:`ConfidenceSizing` sets the two
bounds relative to the version's own training hit rate ``h`` (the share of its trades that
were profitable, stored in the manifest): ``p0 = zero_at * h``, ``p1 = min(1, full_at * h)``
(policy.yaml ``signal_governance.confidence``; defaults 0.5 and 1.0: an entry no likelier to
win than the strategy usually is trades full size, one half as likely trades nothing). An
absolute bound would starve a low-hit-rate, high-payoff strategy of every entry.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from strategies.errors import BadInputError
from strategies.files import atomic_write, read_manifest
from strategies.regime_features import (
    FEATURE_NAMES,
    TAIL_BARS,
    regime_feature_matrix,
    regime_features_digest,
)
from strategies.skops_bytes import canonical_skops

CONFIDENCE_DIR = "confidence"
MANIFEST = "manifest.json"
MODEL_FILE = "calibrator.skops"
#: An entry's features: the regime features at its decision bar and its side.
CONFIDENCE_FEATURES = (*FEATURE_NAMES, "side")
METHODS = ("isotonic", "sigmoid")
#: Types beyond skops' defaults a stored calibrator may contain.
TRUSTED_TYPES = ("sklearn.calibration._CalibratedClassifier",
                 "sklearn.calibration._SigmoidCalibration")


class ConfidenceError(BadInputError, ValueError):
    """A confidence calibrator that cannot be trusted or used; names the file and value."""


class SizingError(BadInputError, ValueError):
    """Confidence sizing bounds that make no sense (``0 <= p0 < p1 <= 1``)."""


def confidence_features_digest() -> str:
    """What the calibrator's inputs mean: the regime features' definitions plus the side."""
    text = json.dumps({"regime": regime_features_digest(), "extra": ["side"]})
    return hashlib.sha256(text.encode()).hexdigest()


def entry_feature_matrix(open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike,
                         close: npt.ArrayLike, session: npt.ArrayLike,
                         decision_idx: npt.ArrayLike, side: npt.ArrayLike
                         ) -> npt.NDArray[np.float64]:
    """One row per entry: the regime features at its decision bar and its side (+1/-1)."""
    regime = regime_feature_matrix(open_, high, low, close, session)
    idx = np.asarray(decision_idx, dtype=np.int64)
    sides = np.asarray(side, dtype=np.float64).reshape(-1, 1)
    return np.hstack([regime[idx], sides])


@dataclass(frozen=True, slots=True)
class ConfidenceReading:
    """One entry's probability of being profitable; ``problem`` set (probability NaN)
    when there is none to trust - the entry is held."""

    probability: float
    problem: str | None = None


def checked_probability(p: float) -> ConfidenceReading:
    """``p`` as a reading: NaN or outside [0, 1] is a problem, never a size."""
    if not math.isfinite(p) or not 0.0 <= p <= 1.0:
        return ConfidenceReading(float("nan"), f"confidence {p!r} is not a probability in "
                                               "[0, 1]")
    return ConfidenceReading(float(p))


@dataclass(frozen=True, slots=True)
class ConfidenceModel:
    """A fitted binary calibrator over :data:`CONFIDENCE_FEATURES` (class 1: profitable)."""

    estimator: Any
    features: tuple[str, ...]
    method: str
    digest: str  # the manifest's SHA-256
    meta: dict[str, Any]

    @property
    def hit_rate(self) -> float:
        """The share of its training trades that were profitable (checked at load)."""
        return float(self.meta["hit_rate"])

    def probabilities(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(profitable) per row (rows must be NaN-free)."""
        return np.asarray(self.estimator.predict_proba(matrix)[:, 1], dtype=np.float64)

    def read(self, row: npt.NDArray[np.float64]) -> ConfidenceReading:
        """One entry's reading; a NaN feature or a probability outside [0, 1] is a problem."""
        bad = [self.features[j] for j in np.flatnonzero(np.isnan(row))]
        if bad:
            return ConfidenceReading(float("nan"), f"NaN feature {', '.join(bad)} "
                                                   "(warm-up or bad bars)")
        return checked_probability(float(self.probabilities(row.reshape(1, -1))[0]))

    def read_last(self, open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike,
                  close: npt.ArrayLike, session: npt.ArrayLike, side: int
                  ) -> ConfidenceReading:
        """The confidence of an entry of ``side`` decided at the last (closed) bar, from at
        most :data:`TAIL_BARS` bars of history - the row research computes at that bar."""
        o, h, lo, c, s = (np.asarray(a)[-TAIL_BARS:] for a in (open_, high, low, close,
                                                               session))
        n = len(o)
        if n == 0:
            return ConfidenceReading(float("nan"), "no bars to compute the features on")
        row = entry_feature_matrix(o, h, lo, c, s, [n - 1], [1.0 if side > 0 else -1.0])[0]
        return self.read(row)


def confidence_lots(base_lots: int, probability: float, p0: float, p1: float) -> int:
    """Lots for an entry of confidence ``probability``: ``floor(base * clip((p - p0) /
    (p1 - p0), 0, 1))``, in ``[0, base_lots]``. A probability that is not one raises."""
    if not 0.0 <= p0 < p1 <= 1.0:
        raise SizingError(f"confidence sizing p0={p0!r}, p1={p1!r}: need 0 <= p0 < p1 <= 1")
    reading = checked_probability(probability)
    if reading.problem is not None:
        raise SizingError(reading.problem)
    scale = min(1.0, max(0.0, (probability - p0) / (p1 - p0)))
    return max(0, min(base_lots, math.floor(base_lots * scale + 1e-9)))


@dataclass(frozen=True, slots=True)
class ConfidenceSizing:
    """The size mapping's bounds as multiples of the version's training hit rate."""

    zero_at: float = 0.5
    full_at: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.zero_at) and math.isfinite(self.full_at)
                and 0.0 <= self.zero_at < self.full_at):
            raise SizingError(f"signal_governance.confidence zero_at={self.zero_at!r}, "
                              f"full_at={self.full_at!r}: need 0 <= zero_at < full_at")

    def bounds(self, hit_rate: float) -> tuple[float, float]:
        """(p0, p1) for a version whose training hit rate is ``hit_rate``."""
        if not (math.isfinite(hit_rate) and 0.0 < hit_rate < 1.0):
            raise SizingError(f"training hit rate {hit_rate!r} is not in (0, 1)")
        p0, p1 = self.zero_at * hit_rate, min(1.0, self.full_at * hit_rate)
        if p0 >= p1:
            raise SizingError(f"zero_at {self.zero_at} x hit rate {hit_rate:.4f} = {p0:.4f} "
                              "leaves no probability to size up to")
        return p0, p1

    def lots(self, base_lots: int, probability: float, hit_rate: float) -> int:
        """:func:`confidence_lots` with this version's bounds."""
        p0, p1 = self.bounds(hit_rate)
        return confidence_lots(base_lots, probability, p0, p1)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_confidence(folder: Path, estimator: Any, method: str, meta: dict[str, Any]) -> str:
    """Write the calibrator and its manifest into ``folder`` (created); returns the
    manifest's SHA-256."""
    import skops.io as sio

    if method not in METHODS:
        raise ConfidenceError(f"calibration method {method!r}: expected one of "
                              f"{list(METHODS)}")
    folder.mkdir(parents=True, exist_ok=True)
    data = canonical_skops(sio.dumps(estimator))
    atomic_write(folder / MODEL_FILE, lambda tmp: Path(tmp).write_bytes(data))
    manifest = {"features": list(CONFIDENCE_FEATURES),
                "features_digest": confidence_features_digest(), "method": method,
                "files": {MODEL_FILE: sha256_file(folder / MODEL_FILE)}, "meta": meta}
    body = json.dumps(manifest, sort_keys=True, indent=1)
    atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(body))
    return sha256_file(folder / MANIFEST)


def _manifest(folder: Path) -> dict[str, Any]:
    return read_manifest(folder / MANIFEST, ConfidenceError, "confidence")


def _load_estimator(path: Path, features: tuple[str, ...]) -> Any:
    import skops.io as sio

    data = path.read_bytes()
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted types on a malformed archive
        raise ConfidenceError(f"{path}: not a skops file ({exc})") from exc
    extra = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if extra:
        raise ConfidenceError(f"{path}: refuses untrusted types {extra}")
    try:
        estimator = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # a malformed archive fails in assorted ways: refuse them all
        raise ConfidenceError(f"{path}: cannot load the calibrator ({exc})") from exc
    if not hasattr(estimator, "predict_proba"):
        raise ConfidenceError(f"{path}: {type(estimator).__name__} has no predict_proba")
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in != len(features):
        raise ConfidenceError(f"{path}: the calibrator takes {n_in} features, the version "
                              f"declares {len(features)} {list(features)}")
    classes = [int(c) for c in getattr(estimator, "classes_", [])]
    if classes != [0, 1]:
        raise ConfidenceError(f"{path}: calibrator classes {classes} != [0, 1] "
                              "(unprofitable, profitable)")
    return estimator


def load_confidence(folder: Path) -> ConfidenceModel:
    """The version's calibrator from ``folder``, its file checked against the manifest's
    digest and its features against the installed definitions."""
    manifest = _manifest(folder)
    declared = tuple(manifest.get("features") or ())
    if declared != CONFIDENCE_FEATURES or \
            manifest.get("features_digest") != confidence_features_digest():
        raise ConfidenceError(
            f"{folder / MANIFEST}: calibrator trained on features {list(declared)} "
            f"(definitions {manifest.get('features_digest')!r}) but the installed code "
            f"computes {list(CONFIDENCE_FEATURES)} (definitions "
            f"{confidence_features_digest()!r})")
    method = manifest.get("method")
    if method not in METHODS:
        raise ConfidenceError(f"{folder / MANIFEST}: method {method!r}, expected one of "
                              f"{list(METHODS)}")
    path = folder / MODEL_FILE
    want = manifest["files"].get(MODEL_FILE)
    if not path.is_file() or want is None:
        raise ConfidenceError(f"{path}: the confidence calibrator is missing from the "
                              "version")
    got = sha256_file(path)
    if got != want:
        raise ConfidenceError(f"{path}: sha256 {got} != manifest {want}; the calibrator "
                              "was altered")
    estimator = _load_estimator(path, declared)
    meta = manifest.get("meta") if isinstance(manifest.get("meta"), dict) else {}
    hit_rate = (meta or {}).get("hit_rate")
    if not isinstance(hit_rate, int | float) or not 0.0 < float(hit_rate) < 1.0:
        raise ConfidenceError(f"{folder / MANIFEST}: meta.hit_rate {hit_rate!r} is not a "
                              "training hit rate in (0, 1)")
    return ConfidenceModel(estimator, declared, str(method), sha256_file(folder / MANIFEST),
                           dict(meta or {}))
