"""A small trained confidence calibrator for tests: the research training code
(:func:`pipelines.research.confidence_study.train_confidence`) run on ema_cross's fold
trade table (:func:`pipelines.research.fold_trades.fold_trades`: a rolling walk-forward of
two combinations over the synthetic NSE NIFTY bars of January-February 2025), once per
process."""

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
from pipelines.research.ensemble_study import Member
from pipelines.research.fold_trades import fold_classifiers, fold_trades
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import run_walk_forward
from strategies.bars import Bars
from strategies.confidence import CONFIDENCE_DIR, ConfidenceModel, load_confidence
from strategies.ema_cross import EmaCrossParams
from strategies.roster import get_strategy
from strategies.simulator import SimConfig
from tests.regime_stubs import labels_for, nifty_bars

WF = WalkForwardSpec(scheme="rolling", train=15, test=5, unit="sessions", purge=1)
COMBOS = [EmaCrossParams(fast=9, slow=s) for s in (21, 30, 45)]
CONFIG = SimConfig(lot_size=75)
SETTINGS = ConfidenceSettings(attach=True, min_trades=30, cv=2, selection_splits=2)


@functools.cache
def bars() -> Bars:
    return nifty_bars(date(2025, 1, 1), date(2025, 2, 28))


@functools.cache
def member(strategy: str = "ema_cross") -> Member:
    """``strategy``'s walk-forward (ema_cross: three combinations; another: its defaults)
    and fold trade table on :func:`bars`."""
    spec = get_strategy(strategy)
    combos = COMBOS if strategy == "ema_cross" else [spec.default_params()]
    report = run_walk_forward(spec, bars(), CONFIG, WF, combos=combos, pbo_splits=4)
    classifiers = fold_classifiers(bars(), labels_for(bars()), report, kind="logistic",
                                   seed=0, stride=10)
    return Member(spec, report, fold_trades(spec, bars(), CONFIG, report, classifiers))


def bars_and_table() -> tuple[Bars, pd.DataFrame]:
    return bars(), member().fold_table


@functools.cache
def trained() -> tuple[Path, ConfidenceStudy]:
    """The calibrator folder (a temporary one, removed at exit) and its study."""
    root = Path(tempfile.mkdtemp(prefix="stratops-confidence-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    folder = root / CONFIDENCE_DIR
    study = train_confidence(bars_and_table()[1], SETTINGS, folder)
    return folder, study


def confidence_copy(dest: Path) -> Path:
    """A private copy of the trained folder (for tests that damage it)."""
    target = dest / CONFIDENCE_DIR
    shutil.copytree(trained()[0], target)
    return target


def confidence() -> ConfidenceModel:
    return load_confidence(trained()[0])
