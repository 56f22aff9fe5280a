"""A small trained regime classifier and drift reference for tests: the research training
code (:func:`pipelines.research.regime_classifier.train_regime_model`) run on the synthetic
NSE NIFTY bars of January-February 2025 with their labels, once per process."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from live.runner.feed import replay_frame
from pipelines.research.config import RegimeSettings
from pipelines.research.gates import SignalGates
from pipelines.research.regime_classifier import RegimeStudy, train_regime_model
from pipelines.research.regimes import UNLABELLED, load_regime_labels, session_dates
from pipelines.research.splits import WalkForwardSpec
from strategies.bars import Bars, bars_from_frame
from strategies.regime_model import SignalGovernance, load_governance
from tests.synthetic_datasets import nse_index_1m_path, nse_index_1m_regimes_path

SPEC = WalkForwardSpec(scheme="rolling", train=20, test=10, unit="sessions", purge=1)
SETTINGS = RegimeSettings(candidates=("hgb", "logistic"), train_stride=10)


def nifty_bars(start: date, end: date) -> Bars:
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], start, end).reset_index()
    return bars_from_frame(frame, symbol="NIFTY", venue="NSE", cutoff="venue")


def labels_for(bars: Bars) -> np.ndarray:
    labels = load_regime_labels(nse_index_1m_regimes_path())
    per_bar = labels.reindex(session_dates(pd.DatetimeIndex(bars.ts))).to_numpy()
    return np.where(pd.isna(per_bar), UNLABELLED, per_bar).astype(str)


@functools.cache
def trained() -> tuple[Path, RegimeStudy]:
    """The governance folder (a temporary one, removed at exit) and its study."""
    root = Path(tempfile.mkdtemp(prefix="stratops-regime-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    bars = nifty_bars(date(2025, 1, 1), date(2025, 2, 28))
    folder = root / "signal_governance"
    study = train_regime_model(bars, labels_for(bars), SPEC, SignalGates(), SETTINGS, folder,
                               trained_on="nse_index_1m")
    return folder, study


def governance_copy(dest: Path) -> Path:
    """A private copy of the trained folder (for tests that damage it)."""
    target = dest / "signal_governance"
    shutil.copytree(trained()[0], target)
    return target


def governance() -> SignalGovernance:
    return load_governance(trained()[0])
