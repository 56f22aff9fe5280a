"""Walk-forward validation on a short synthetic NSE sample: folds, no look-ahead, stitching."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets.synthetic_nse import generate_nse_index_bars
from pipelines.research.splits import WalkForwardSpec, walk_forward_folds
from pipelines.research.walk_forward import WalkForwardError, WalkForwardReport, run_walk_forward
from strategies.bars import Bars, bars_from_frame
from strategies.ema_cross import SPEC, EmaCrossParams
from strategies.grid import run_grid
from strategies.simulator import SimConfig
from strategies.venues import trading_days

WF = WalkForwardSpec(scheme="rolling", train=10, test=5, unit="sessions", purge=1)
COMBOS = [EmaCrossParams(fast=f, slow=s) for f in (5, 9, 13) for s in (21, 30, 45)]
CONFIG = SimConfig(lot_size=75, stop_points=25)


def _frame() -> pd.DataFrame:
    frame, _ = generate_nse_index_bars(start=date(2025, 1, 1), end=date(2025, 2, 28), seed=3)
    return frame[frame["symbol"] == "NIFTY"].reset_index(drop=True)


def _bars(frame: pd.DataFrame) -> Bars:
    return bars_from_frame(frame, symbol="NIFTY", venue="NSE")


def _run(bars: Bars) -> WalkForwardReport:
    return run_walk_forward(SPEC, bars, CONFIG, WF, combos=COMBOS, pbo_splits=4)


@pytest.fixture(scope="module")
def report() -> WalkForwardReport:
    return _run(_bars(_frame()))


def test_walk_forward_fold_count_follows_the_spec(report: WalkForwardReport) -> None:
    sessions = len(trading_days("NSE", date(2025, 1, 1), date(2025, 2, 28)))
    assert len(report.folds) == (sessions - 10 - 1 - 5) // 5 + 1


def test_walk_forward_oos_trades_enter_inside_their_test_window(
        report: WalkForwardReport) -> None:
    for fold in report.folds:
        trades = report.oos_trades[report.oos_trades["fold"] == fold.index]
        start, end = pd.Timestamp(fold.test[0]), pd.Timestamp(fold.test[1])
        assert ((trades["entry_ts"] >= start) & (trades["entry_ts"] <= end)).all()


def test_walk_forward_stitched_equity_has_one_point_per_test_session(
        report: WalkForwardReport) -> None:
    assert len(report.oos_equity) == len(report.folds) * 5
    assert report.oos_equity.index.is_monotonic_increasing


def test_walk_forward_reports_every_gate_metric(report: WalkForwardReport) -> None:
    for key in ("oos_sharpe", "oos_max_drawdown", "oos_trades", "oos_cost_share", "stability",
                "pbo", "dsr_probability", "is_oos_rank_correlation", "params_drift"):
        assert key in report.metrics, key
    assert 0.0 <= report.metrics["pbo"] <= 1.0


def test_walk_forward_is_deterministic(report: WalkForwardReport) -> None:
    again = _run(_bars(_frame()))
    assert again.metrics == report.metrics
    pd.testing.assert_frame_equal(again.oos_trades, report.oos_trades)


def test_walk_forward_future_data_does_not_change_earlier_folds(
        report: WalkForwardReport) -> None:
    frame = _frame()
    cut = pd.Timestamp(report.folds[1].test[1])
    later = frame["ts"] > cut
    frame.loc[later, ["open", "high", "low", "close"]] *= 1.07  # a different future
    changed = _run(_bars(frame))
    for before, after in zip(report.folds[:2], changed.folds[:2], strict=True):
        assert before.params == after.params
        assert before.oos_metrics == after.oos_metrics
    old = report.oos_trades[report.oos_trades["fold"] <= 1]
    new = changed.oos_trades[changed.oos_trades["fold"] <= 1]
    pd.testing.assert_frame_equal(old.reset_index(drop=True), new.reset_index(drop=True))
    assert not np.allclose(report.oos_equity.to_numpy()[-1], changed.oos_equity.to_numpy()[-1])


def test_walk_forward_unknown_selection_metric_is_refused() -> None:
    with pytest.raises(WalkForwardError, match="select='calmar'"):
        run_walk_forward(SPEC, _bars(_frame()), CONFIG, WF, combos=COMBOS, select="calmar")


def test_walk_forward_fold_oos_metrics_match_its_trades(report: WalkForwardReport) -> None:
    for fold in report.folds:
        trades = report.oos_trades[report.oos_trades["fold"] == fold.index]
        assert fold.oos_metrics["trades"] == len(trades)
        assert fold.oos_metrics["net_pnl_inr"] == pytest.approx(trades["net_pnl_inr"].sum())


def test_walk_forward_drawdown_selection_picks_the_lowest() -> None:
    bars = _bars(_frame())
    report = run_walk_forward(SPEC, bars, CONFIG, WF, combos=COMBOS, select="max_drawdown",
                              pbo_splits=4)
    first = walk_forward_folds(bars.session, WF)[0]
    train = bars.window(first.train_range[0], first.train_range[1] + 1)
    drawdowns = run_grid(SPEC, train, CONFIG, COMBOS).frame()["max_drawdown"]
    assert report.folds[0].is_metrics["max_drawdown"] == drawdowns.min()


def test_walk_forward_gaps_between_test_windows_are_not_stitched() -> None:
    spec = WalkForwardSpec(scheme="rolling", train=10, test=3, unit="sessions", purge=1, step=6)
    report = run_walk_forward(SPEC, _bars(_frame()), CONFIG, spec, combos=COMBOS, pbo_splits=4)
    assert len(report.oos_equity) == 3 * len(report.folds)
