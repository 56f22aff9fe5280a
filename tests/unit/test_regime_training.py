"""Training the regime classifier: labels are the target only, an unlabelled dataset is
classified by the labelled reference's classifier, and the store reads a key back."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pipelines.research.gates import SignalGates
from pipelines.research.regime_classifier import (
    RegimeTrainingError,
    stored_regime_model,
    train_regime_model,
)
from strategies.regime_model import load_governance
from tests.regime_stubs import SETTINGS, SPEC, labels_for, nifty_bars, trained


@pytest.fixture(scope="module")
def jan_feb() -> tuple:
    bars = nifty_bars(date(2025, 1, 1), date(2025, 2, 28))
    return bars, labels_for(bars)


def test_unlabelled_dataset_is_classified_by_the_reference_datasets_classifier(
        tmp_path: Path, jan_feb: tuple) -> None:
    bars, labels = jan_feb
    unlabelled = np.full(len(bars.ts), "unlabelled")
    study = train_regime_model(bars, unlabelled, SPEC, SignalGates(), SETTINGS,
                               tmp_path / "gov", reference=lambda: (bars, labels),
                               trained_on="my_real_data")
    assert study.trained_on == SETTINGS.reference_dataset
    assert load_governance(tmp_path / "gov").meta["trained_on"] == "nse_index_1m"


def test_unlabelled_dataset_without_a_reference_is_refused(tmp_path: Path,
                                                           jan_feb: tuple) -> None:
    bars, _ = jan_feb
    with pytest.raises(RegimeTrainingError, match="my_real_data: no regime labels"):
        train_regime_model(bars, np.full(len(bars.ts), "unlabelled"), SPEC, SignalGates(),
                           SETTINGS, tmp_path / "gov", trained_on="my_real_data")


def test_training_window_with_one_regime_is_refused(tmp_path: Path, jan_feb: tuple) -> None:
    bars, _ = jan_feb
    with pytest.raises(RegimeTrainingError, match=r"only the regime\(s\) \['trend'\]"):
        train_regime_model(bars, np.full(len(bars.ts), "trend"), SPEC, SignalGates(),
                           SETTINGS, tmp_path / "gov", trained_on="nse_index_1m")


def test_stored_regime_model_reads_an_existing_key_back_without_training(
        tmp_path: Path) -> None:
    folder = trained()[0]
    store = tmp_path / "store"
    (store / "ds" / "k1").mkdir(parents=True)

    shutil.copytree(folder, store / "ds" / "k1" / "signal_governance")

    def never(_: Path) -> object:
        raise AssertionError("trained although the key is stored")

    found = stored_regime_model(store, "ds", "k1", never)  # type: ignore[arg-type]
    assert found.cache_hit and found.digest == load_governance(folder).digest
