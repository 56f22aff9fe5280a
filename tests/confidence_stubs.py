"""A small trained confidence calibrator for tests: the research training code
(:func:`pipelines.research.confidence_study.train_confidence`) run on ema_cross's trades
(default params, 3 lots of 75) over the synthetic NSE NIFTY bars of January-February 2025,
nested in rolling walk-forward folds, once per process."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

from pipelines.research.confidence_study import ConfidenceStudy, train_confidence
from pipelines.research.config import ConfidenceSettings
from pipelines.research.splits import WalkForwardSpec, walk_forward_folds
from strategies.bars import Bars
from strategies.confidence import CONFIDENCE_DIR, ConfidenceModel, load_confidence
from strategies.ema_cross import SPEC as EMA
from strategies.simulator import SimConfig, simulate
from tests.regime_stubs import nifty_bars

WF = WalkForwardSpec(scheme="rolling", train=15, test=5, unit="sessions", purge=1)
SETTINGS = ConfidenceSettings(attach=True, min_trades=30, cv=2, selection_splits=2)


@functools.cache
def bars_and_trades() -> tuple[Bars, pd.DataFrame]:
    bars = nifty_bars(date(2025, 1, 1), date(2025, 2, 28))
    trades = simulate(bars, EMA.signals(bars, EMA.default_params()),
                      SimConfig(lot_size=75, qty_lots=3)).trades
    return bars, trades


@functools.cache
def trained() -> tuple[Path, ConfidenceStudy]:
    """The calibrator folder (a temporary one, removed at exit) and its study."""
    root = Path(tempfile.mkdtemp(prefix="stratops-confidence-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    bars, trades = bars_and_trades()
    folder = root / CONFIDENCE_DIR
    study = train_confidence(bars, trades, walk_forward_folds(bars.session, WF), SETTINGS,
                             folder)
    return folder, study


def confidence_copy(dest: Path) -> Path:
    """A private copy of the trained folder (for tests that damage it)."""
    target = dest / CONFIDENCE_DIR
    shutil.copytree(trained()[0], target)
    return target


def confidence() -> ConfidenceModel:
    return load_confidence(trained()[0])
