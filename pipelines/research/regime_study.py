"""The study step that produces a dataset's regime classifier and drift reference (the
``regime_model`` asset calls :func:`regime_model`); nothing here knows about Dagster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipelines.datasets.schema import read_dataset
from pipelines.research import study
from pipelines.research.config import ResearchSettings, timeframe_class
from pipelines.research.features import StoredFeatures, labels_digest
from pipelines.research.gates import load_gates
from pipelines.research.regime_classifier import (
    StoredRegimeModel,
    session_labels_per_bar,
    settings_digest,
    stored_regime_model,
    train_regime_model,
)
from pipelines.research.regimes import UNLABELLED, load_regime_labels, session_dates
from strategies.bars import Bars, bars_from_frame
from strategies.regime_features import regime_features_digest


def _reference(root: Path, research: ResearchSettings) -> tuple[Bars, npt.ArrayLike]:
    """The labelled reference dataset's bars and per-bar labels (research.regime)."""
    settings = research.regime
    entry = study.dataset_entry(root, settings.reference_dataset)
    assert entry.meta is not None
    frame = read_dataset(entry.path)
    bars = bars_from_frame(frame[frame["symbol"] == settings.reference_symbol],
                           symbol=settings.reference_symbol, venue=entry.meta.venue,
                           cutoff=study.cutoff_value(research.cutoff))
    labels = load_regime_labels(root / settings.reference_labels)
    per_bar = labels.reindex(session_dates(pd.DatetimeIndex(bars.ts))).to_numpy()
    return bars, np.where(pd.isna(per_bar), UNLABELLED, per_bar).astype(str)


def not_applicable(root: Path, dataset: str, features: StoredFeatures,
                   research: ResearchSettings) -> str | None:
    """Why ``dataset`` gets no classifier (None: it gets one): an unlabelled dataset of
    another bar timeframe class than the labelled reference (a classifier of one-minute
    features says nothing about daily bars)."""
    if (features.frame["regime"] != UNLABELLED).any():
        return None
    mine = _timeframe(root, dataset)
    reference = _timeframe(root, research.regime.reference_dataset)
    if timeframe_class(mine) == timeframe_class(reference):
        return None
    return (f"{dataset} has no regime labels and {mine} bars; the reference "
            f"{research.regime.reference_dataset} has {reference} bars: no regime classifier "
            "or drift reference for its versions")


def _timeframe(root: Path, dataset: str) -> str:
    meta = study.dataset_entry(root, dataset).meta
    assert meta is not None
    return meta.timeframe


def regime_model(root: Path, dataset: str, features: StoredFeatures,
                 research: ResearchSettings, gates_file: Path) -> StoredRegimeModel:
    """The dataset's classifier and drift reference, from the store when its key exists.

    The key covers the features' key, the feature definitions, the regime settings, the
    walk-forward windows, the signal gates and (for an unlabelled dataset) the reference
    labels file. An unlabelled dataset's classifier is trained on the reference dataset
    with the reference's own walk-forward windows."""
    gates = load_gates(gates_file).signal
    spec = study.walk_forward_spec(root, dataset, research)
    labelled = bool((features.frame["regime"] != UNLABELLED).any())
    train_spec = spec if labelled else study.walk_forward_spec(
        root, research.regime.reference_dataset, research)
    reference_labels = labels_digest(root / research.regime.reference_labels)
    key = "-".join((features.key.digest, regime_features_digest()[:8],
                    settings_digest(research.regime, (spec, train_spec), gates),
                    reference_labels[:8]))
    bars = features.bars()
    labels = session_labels_per_bar(features.frame["regime"].to_numpy())
    return stored_regime_model(
        root / research.regime.store, dataset, key,
        lambda folder: train_regime_model(bars, labels, spec, gates, research.regime, folder,
                                          reference=lambda: _reference(root, research),
                                          trained_on=dataset, train_spec=train_spec))
