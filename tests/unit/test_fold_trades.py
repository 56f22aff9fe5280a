"""The per-fold trade table: test rows are the walk-forward's OOS trades, train rows the
chosen params' in-sample trades; features and regimes at entry see no later bar."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from live.runner.feed import replay_frame
from pipelines.research.fold_trades import (
    PER_FOLD,
    REFERENCE,
    FoldClassifiers,
    FoldTradesError,
    fold_classifiers,
    fold_trades,
    reference_classifiers,
)
from pipelines.research.regimes import UNLABELLED
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import WalkForwardReport, run_walk_forward
from strategies.bars import Bars, bars_from_frame
from strategies.ema_cross import SPEC, EmaCrossParams
from strategies.regime_features import FEATURE_NAMES, regime_feature_matrix
from strategies.simulator import SimConfig, simulate
from tests.regime_stubs import labels_for
from tests.synthetic_datasets import nse_index_1m_path

WF = WalkForwardSpec(scheme="rolling", train=15, test=5, unit="sessions", purge=1)
COMBOS = [EmaCrossParams(fast=f, slow=s) for f in (5, 9) for s in (21, 45)]
CONFIG = SimConfig(lot_size=75, stop_points=25)


def _frame() -> pd.DataFrame:
    """The synthetic year's NIFTY bars of January-February 2025 (labelled)."""
    return replay_frame(nse_index_1m_path(), ["NIFTY"], date(2025, 1, 1),
                        date(2025, 2, 28)).reset_index()


def _bars(frame: pd.DataFrame) -> Bars:
    return bars_from_frame(frame, symbol="NIFTY", venue="NSE", cutoff="venue")


def _table(bars: Bars, labels: np.ndarray) -> tuple[WalkForwardReport, pd.DataFrame,
                                                     FoldClassifiers]:
    report = run_walk_forward(SPEC, bars, CONFIG, WF, combos=COMBOS, pbo_splits=4)
    classifiers = fold_classifiers(bars, labels, report, kind="logistic", seed=0, stride=5)
    return report, fold_trades(SPEC, bars, CONFIG, report, classifiers), classifiers


@pytest.fixture(scope="module")
def study() -> tuple[Bars, np.ndarray, WalkForwardReport, pd.DataFrame, FoldClassifiers]:
    bars = _bars(_frame())
    labels = labels_for(bars)
    return (bars, labels, *_table(bars, labels))


def test_test_rows_are_the_walk_forward_oos_trades(study: tuple) -> None:
    _, _, report, table, classifiers = study
    assert classifiers.source == PER_FOLD
    assert len(report.folds) >= 3
    test = table[table["window"] == "test"].reset_index(drop=True)
    oos = report.oos_trades
    assert len(test) == len(oos) > 0
    for column in ("fold", "entry_ts", "exit_ts", "side", "net_pnl_inr", "entry_idx",
                   "exit_idx"):
        np.testing.assert_array_equal(test[column].to_numpy(), oos[column].to_numpy())


def test_train_rows_are_the_chosen_params_in_sample(study: tuple) -> None:
    bars, _, report, table, _ = study
    for result in report.folds:
        rows = table[(table["fold"] == result.index) & (table["window"] == "train")]
        assert len(rows) == result.is_metrics["trades"]
        start = pd.Timestamp(result.train[0])
        assert (rows["entry_ts"] >= start).all()
        assert (rows["exit_ts"] <= pd.Timestamp(result.train[1])).all()
        first = int(np.searchsorted(bars.ts, start))
        window = bars.window(first, int(np.searchsorted(bars.ts, pd.Timestamp(
            result.train[1]))) + 1)
        alone = simulate(window, SPEC.signals(window, EmaCrossParams(**result.params)),
                         CONFIG).trades
        np.testing.assert_allclose(rows["net_pnl_inr"], alone["net_pnl_inr"])


def test_features_are_at_the_decision_bar(study: tuple) -> None:
    bars, _, _, table, _ = study
    assert (table["decision_idx"] == table["entry_idx"] - 1).all()  # next_open fills
    row = table.iloc[len(table) // 2]
    stop = int(row["decision_idx"]) + 1
    head = bars.slice(stop)
    alone = regime_feature_matrix(head.open, head.high, head.low, head.close,
                                  head.session)[-1]
    np.testing.assert_array_equal(row[list(FEATURE_NAMES)].to_numpy(dtype=float), alone)
    net = table["net_pnl_inr"] / (table["entry_price"] * table["qty"])
    np.testing.assert_allclose(table["net_return"], net)
    known = table["regime"] != "unknown"
    assert known.mean() > 0.9
    assert table.loc[known, "regime_probability"].between(0.0, 1.0).all()


def test_a_different_future_changes_no_earlier_fold_row(study: tuple) -> None:
    _, labels, report, table, _ = study
    frame = _frame()
    cut = pd.Timestamp(report.folds[1].test[1])
    later = frame["ts"] > cut
    frame.loc[later, ["open", "high", "low", "close"]] *= 1.07
    changed_bars = _bars(frame)
    shuffled = labels.copy()
    shuffled[np.asarray(changed_bars.ts > cut)] = "high_vol"  # later labels differ too
    _, changed, _ = _table(changed_bars, shuffled)
    early = table[table["fold"] <= 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(early, changed[changed["fold"] <= 1].reset_index(drop=True))
    assert not table[table["fold"] > 1].reset_index(drop=True).equals(
        changed[changed["fold"] > 1].reset_index(drop=True))


def test_deterministic_and_reference_classifier(study: tuple) -> None:
    bars, _, report, table, classifiers = study
    again = fold_trades(SPEC, bars, CONFIG, report, classifiers)
    pd.testing.assert_frame_equal(table, again)
    one = reference_classifiers(classifiers.for_fold(0), report)
    assert one.source == REFERENCE
    read = fold_trades(SPEC, bars, CONFIG, report, one)
    pd.testing.assert_frame_equal(read.drop(columns=["regime", "regime_probability"]),
                                  table.drop(columns=["regime", "regime_probability"]))


def test_a_report_of_other_bars_is_refused(study: tuple) -> None:
    bars, _, report, _, classifiers = study
    with pytest.raises(FoldTradesError, match=r"the report has \d+ folds"):
        fold_trades(SPEC, bars.slice(len(bars) - 2000), CONFIG, report, classifiers)
    with pytest.raises(FoldTradesError, match="no regime classifier for fold"):
        fold_trades(SPEC, bars, CONFIG, report, FoldClassifiers({}, PER_FOLD))
    with pytest.raises(FoldTradesError, match="no regime labels"):
        fold_classifiers(bars, np.full(len(bars), UNLABELLED), report, kind="logistic",
                         seed=0, stride=5)
