"""Walk-forward on daily bars: combinations whose warm-up exceeds a window are skipped and
noted (all of them: refused), and the overfitting statistics keep every input they used."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import WalkForwardError, WalkForwardReport, run_walk_forward
from strategies.bars import Bars, bars_from_frame
from strategies.ema_cross import SPEC, EmaCrossParams
from strategies.params import get_params
from strategies.simulator import SimConfig
from tests import reference_stats as ref
from tests.stubs import nyse_daily_bars

COMBOS = [EmaCrossParams(fast=f, slow=s) for f in (5, 9, 13) for s in (21, 30, 45)]
CONFIG = SimConfig(lot_size=1, tick_size=0.01)
# 35-session test windows hold slow=21 (needs 23 bars) and slow=30 (32), not slow=45 (47)
WF = WalkForwardSpec(scheme="rolling", train=40, test=35, unit="sessions", purge=1)


def _daily_bars() -> Bars:
    """Two years of NYSE sessions with a seeded random-walk close (one bar per session)."""
    frame = nyse_daily_bars(start=date(2023, 1, 3), end=date(2024, 12, 31))
    rng = np.random.default_rng(11)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, len(frame))))
    frame["close"] = close
    frame["open"] = np.r_[close[0], close[:-1]]
    frame["high"] = np.maximum(frame["open"], close) * 1.004
    frame["low"] = np.minimum(frame["open"], close) * 0.996
    return bars_from_frame(frame, symbol="GOOG", venue="NYSE")


@pytest.fixture(scope="module")
def report() -> WalkForwardReport:
    return run_walk_forward(SPEC, _daily_bars(), CONFIG, WF, combos=COMBOS, pbo_splits=8)


def test_walk_forward_windows_shorter_than_every_warmup_are_refused() -> None:
    short = WalkForwardSpec(scheme="rolling", train=60, test=15, unit="sessions", purge=1)
    with pytest.raises(WalkForwardError,
                       match=r"ema_cross: .*window holds 15 bars .* needs 23"):
        run_walk_forward(SPEC, _daily_bars(), CONFIG, short, combos=COMBOS, pbo_splits=8)


def test_walk_forward_combination_whose_warmup_exceeds_a_window_is_skipped(
        report: WalkForwardReport) -> None:
    assert report.skipped == [get_params(p) for p in COMBOS if p.slow == 45]
    assert report.n_trials == 6


def test_walk_forward_skipped_combinations_are_noted(report: WalkForwardReport) -> None:
    assert len(report.notes) == 1
    assert "skipped 3 of 9" in report.notes[0] and "'slow': 45" in report.notes[0]


def test_walk_forward_trial_matrix_has_a_row_per_test_session_and_a_column_per_trial(
        report: WalkForwardReport) -> None:
    assert report.trials.shape == (len(report.oos_equity), report.n_trials)
    assert report.trials.columns[0] == "fast=5,slow=21,trend=0"
    assert report.trials.index.equals(report.oos_returns.index)


def test_walk_forward_dsr_inputs_reproduce_its_dsr(report: WalkForwardReport) -> None:
    m = report.metrics
    expected = ref.dsr(m["dsr.sr"], m["dsr.skew"], m["dsr.kurtosis_raw"], int(m["dsr.t"]),
                       int(m["dsr.n_trials"]), m["dsr.var_trial_sr"])
    assert m["dsr_probability"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_walk_forward_dsr_moments_are_those_of_the_stitched_oos_returns(
        report: WalkForwardReport) -> None:
    sr, skew, kurtosis_raw, t = ref.moments(report.oos_returns.to_numpy())
    m = report.metrics
    assert (m["dsr.sr"], m["dsr.skew"], m["dsr.kurtosis_raw"], m["dsr.t"]) == pytest.approx(
        (sr, skew, kurtosis_raw, t), rel=1e-9)


def test_walk_forward_pbo_is_reported_at_every_block_count_the_sessions_allow(
        report: WalkForwardReport) -> None:
    n_obs = len(report.trials)
    spread = {s: report.metrics[f"pbo.s{s}"] for s in (8, 10, 12, 16) if s <= n_obs}
    assert len(spread) == 4
    for n_splits, value in spread.items():
        assert value == pytest.approx(ref.pbo(report.trials.to_numpy(), n_splits)), n_splits
    assert (report.metrics["pbo.min"], report.metrics["pbo.max"]) == (
        min(spread.values()), max(spread.values()))
    assert report.metrics["pbo"] == report.metrics["pbo.s8"]


def test_walk_forward_trials_index_is_the_session_dates(report: WalkForwardReport) -> None:
    dates = pd.DatetimeIndex(report.trials.index).normalize()
    assert dates.equals(pd.DatetimeIndex(report.oos_equity.index).normalize())


def _fx_hourly_bars() -> Bars:
    """Hourly FX bars, Sunday 17:00 to Friday 16:00 New York; a session runs 17:00-16:00,
    so Sunday evening's bars belong to Monday's session."""
    ts = pd.date_range("2024-01-01 17:00", periods=24 * 100, freq="h", tz="America/New_York")
    weekend = ((ts.day_of_week == 4) & (ts.hour >= 17)) | (ts.day_of_week == 5) | (
        (ts.day_of_week == 6) & (ts.hour < 17))
    ts = ts[~weekend]
    rng = np.random.default_rng(12)
    close = 1.1 * np.exp(np.cumsum(rng.normal(0.0, 0.001, len(ts))))
    open_ = np.r_[close[0], close[:-1]]
    frame = pd.DataFrame({"ts": ts, "symbol": "EURUSD", "open": open_,
                          "high": np.maximum(open_, close) * 1.0005,
                          "low": np.minimum(open_, close) * 0.9995, "close": close,
                          "volume": 1.0})
    return bars_from_frame(frame, symbol="EURUSD", venue="FX")


def test_walk_forward_sessions_across_midnight_give_one_oos_return_per_session() -> None:
    bars = _fx_hourly_bars()
    wf = WalkForwardSpec(scheme="rolling", train=20, test=10, unit="sessions", purge=1)
    report = run_walk_forward(SPEC, bars, CONFIG, wf, combos=COMBOS, pbo_splits=8)
    n_sessions = len(report.folds) * 10
    assert len(report.oos_returns) == len(report.trials) == n_sessions
    assert report.metrics["dsr.t"] == n_sessions
