"""A tiny fixed regime classifier for tests that need a governed version but not a trained
one (:mod:`tests.regime_stubs` trains the real one, about a minute): ``trend`` when the
30-bar efficiency ratio is above a threshold, its probability a logistic of the distance.
Each ``seed`` is another classifier (another threshold, another digest), so two processes
built with different seeds run different classifiers - as a signal service deployed with
another model would."""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from strategies.drift import RegimeDriftReference
from strategies.regime_features import FEATURE_NAMES
from strategies.regime_model import RegimeModel, SignalGovernance

CLASSES = ("chop", "trend")


class EfficiencyThreshold:
    """``predict_proba`` over :data:`FEATURE_NAMES` rows: P(trend) rises with ``er_30``."""

    def __init__(self, threshold: float, scale: float = 0.05) -> None:
        self.threshold, self.scale = threshold, scale
        self.classes_ = np.asarray(CLASSES)
        self.column = FEATURE_NAMES.index("er_30")

    def predict_proba(self, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        trend = 1.0 / (1.0 + np.exp(-(rows[:, self.column] - self.threshold) / self.scale))
        return np.column_stack([1.0 - trend, trend])


def tiny_governance(seed: int = 0) -> SignalGovernance:
    """The classifier of ``seed`` (threshold 0.3 + 0.05 x seed), no drift reference."""
    threshold = 0.3 + 0.05 * seed
    digest = hashlib.sha256(f"tiny-regime-{threshold!r}".encode()).hexdigest()
    return SignalGovernance(RegimeModel(EfficiencyThreshold(threshold), FEATURE_NAMES, CLASSES),
                            RegimeDriftReference({}), digest, {"tiny": seed})
