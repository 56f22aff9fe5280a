"""Joint walk-forward of one strategy on NIFTY and BANKNIFTY of a short synthetic NSE sample:
one params choice per fold made on the symbols together, OOS trades per symbol with each
symbol's own lot, equal-capital joint returns (the portfolio study's joint-row construction),
DSR/PBO on the joint trials, gates on the joint metrics, and the report storing its
symbols."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets.synthetic_nse import generate_nse_index_bars
from pipelines.research.gates import load_gates
from pipelines.research.joint_walk_forward import (
    JOINT_SHARPE,
    joint_sharpe,
    run_joint_walk_forward,
)
from pipelines.research.portfolio import Sleeve, _symbol_rows
from pipelines.research.serde import decode, encode
from pipelines.research.splits import WalkForwardSpec, walk_forward_folds
from pipelines.research.walk_forward import WalkForwardError, WalkForwardReport, _trials
from strategies.bars import Bars, bars_from_frame
from strategies.ema_cross import SPEC, EmaCrossParams
from strategies.grid import run_grid
from strategies.params import get_params
from strategies.roster import STRATEGIES
from strategies.simulator import SimConfig
from strategies.version_config import SimRules, VersionConfig

WF = WalkForwardSpec(scheme="rolling", train=10, test=5, unit="sessions", purge=1)
COMBOS = [EmaCrossParams(fast=f, slow=s) for f in (5, 9, 13) for s in (21, 30, 45)]
CONFIGS = {"NIFTY": SimConfig(lot_size=75, stop_points=25),
           "BANKNIFTY": SimConfig(lot_size=35, stop_points=60)}


@pytest.fixture(scope="module")
def bars() -> dict[str, Bars]:
    frame, _ = generate_nse_index_bars(start=date(2025, 1, 1), end=date(2025, 2, 28), seed=3)
    return {s: bars_from_frame(frame[frame["symbol"] == s].reset_index(drop=True), symbol=s,
                               venue="NSE") for s in ("NIFTY", "BANKNIFTY")}


@pytest.fixture(scope="module")
def report(bars: dict[str, Bars]) -> WalkForwardReport:
    return run_joint_walk_forward(SPEC, bars, CONFIGS, WF, combos=COMBOS, pbo_splits=4)


def test_each_fold_chooses_the_best_joint_sharpe_on_its_training_windows(
        report: WalkForwardReport, bars: dict[str, Bars]) -> None:
    fold = report.folds[1]
    daily = []
    for symbol, b in bars.items():
        f = walk_forward_folds(b.session, WF)[1]
        grid = run_grid(SPEC, b.window(f.train_range[0], f.train_range[1] + 1),
                        CONFIGS[symbol], COMBOS, daily=True)
        assert grid.daily is not None
        daily.append(grid.daily)
    scores = joint_sharpe((daily[0] + daily[1]) / 2.0)
    best = COMBOS[int(np.argmax(scores))]
    assert fold.params == get_params(best)
    assert fold.is_metrics[JOINT_SHARPE] == pytest.approx(scores.max())


def test_oos_trades_are_per_symbol_in_their_own_lots(report: WalkForwardReport) -> None:
    trades = report.oos_trades
    assert set(trades["symbol"]) == {"NIFTY", "BANKNIFTY"}
    assert (trades.loc[trades["symbol"] == "NIFTY", "qty"] == 75).all()
    assert (trades.loc[trades["symbol"] == "BANKNIFTY", "qty"] == 35).all()
    assert report.symbols == ("NIFTY", "BANKNIFTY") and report.symbol == "NIFTY"
    assert report.metrics["oos_trades"] == len(trades)


def test_joint_returns_are_the_equal_capital_portfolio_of_the_symbols(
        report: WalkForwardReport, bars: dict[str, Bars]) -> None:
    # each symbol's stitched OOS returns from its own trades; their mean is the joint return,
    # and the portfolio study's joint row of those two sleeves has the report's Sharpe
    sleeves = []
    for s, b in bars.items():
        mine = report.oos_trades[report.oos_trades["symbol"] == s].drop(columns="symbol")
        trials, returns = _trials(SPEC, b, CONFIGS[s], walk_forward_folds(b.session, WF),
                                  COMBOS, mine.reset_index(drop=True))
        sleeves.append(Sleeve("ema_cross", s, returns.set_axis(_days(returns.index)),
                              trials.set_axis(_days(trials.index)), True))
    joint = (sleeves[0].returns + sleeves[1].returns) / 2.0
    np.testing.assert_allclose(joint.to_numpy(), report.oos_returns.to_numpy(), atol=1e-15)
    (row,) = _symbol_rows(sleeves, joint.index)
    assert row["name"] == "ema_cross/NIFTY+BANKNIFTY"
    assert row["sharpe"] == pytest.approx(report.metrics["oos_sharpe"], rel=1e-9)
    assert row["max_drawdown"] == pytest.approx(report.metrics["oos_max_drawdown"], rel=1e-9)
    assert report.metrics["symbol.NIFTY.oos_sharpe"] != report.metrics[
        "symbol.BANKNIFTY.oos_sharpe"]


def _days(index: pd.Index) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(index).tz_localize(None).normalize()


def test_overfitting_statistics_are_on_the_joint_trials(report: WalkForwardReport) -> None:
    assert report.trials.shape == (len(report.oos_returns), len(COMBOS))
    assert report.metrics["dsr.t"] == len(report.oos_returns)
    assert 0.0 <= report.metrics["pbo"] <= 1.0
    assert report.metrics["joint.symbols"] == 2.0


def test_gates_apply_to_the_joint_metrics(report: WalkForwardReport) -> None:
    gates = load_gates(Path(__file__).parents[2] / "gates.yaml", set(STRATEGIES))
    verdict = gates.evaluate(report.strategy, report.metrics)
    by_metric = {c.metric: c.value for c in verdict.checks}
    assert by_metric["oos_sharpe"] == report.metrics["oos_sharpe"]
    assert by_metric["oos_trades"] == len(report.oos_trades)  # both symbols' trades


def test_report_round_trips_with_its_symbols(report: WalkForwardReport) -> None:
    doc, frames = encode(report)
    again = decode(doc, frames, source="test")
    assert again.symbols == ("NIFTY", "BANKNIFTY")
    assert again.traded_symbols == ("NIFTY", "BANKNIFTY")


def test_version_config_of_a_joint_report_has_every_symbols_sizes(
        report: WalkForwardReport) -> None:
    from pipelines.research.config import ResearchSettings
    from pipelines.research.study import StudyError, version_config

    research = ResearchSettings()
    config = version_config("d", report, CONFIGS["NIFTY"], research, "NSE", CONFIGS)
    assert config.symbols == ("NIFTY", "BANKNIFTY")
    assert config.to_json()["symbol_sizes"] == {
        "NIFTY": {"lot_size": 75, "tick_size": 0.05},
        "BANKNIFTY": {"lot_size": 35, "tick_size": 0.05}}
    assert VersionConfig.from_json(config.to_json()) == config
    assert config.sim == SimRules.from_config(CONFIGS["NIFTY"])
    with pytest.raises(StudyError, match="needs each symbol's rules"):
        version_config("d", report, CONFIGS["NIFTY"], research, "NSE", None)


def test_bad_input_is_refused(bars: dict[str, Bars]) -> None:
    with pytest.raises(WalkForwardError, match="two or more symbols"):
        run_joint_walk_forward(SPEC, {"NIFTY": bars["NIFTY"]}, {"NIFTY": CONFIGS["NIFTY"]},
                               WF, combos=COMBOS)
    short = {"NIFTY": bars["NIFTY"], "BANKNIFTY": bars["BANKNIFTY"].window(0, 375 * 20)}
    with pytest.raises(WalkForwardError, match="other sessions"):
        run_joint_walk_forward(SPEC, short, CONFIGS, WF, combos=COMBOS)


def test_joint_symbols_setting_is_validated_and_off_by_default() -> None:
    from pydantic import ValidationError

    from pipelines.research.config import ResearchSettings

    assert ResearchSettings().joint_symbols == {}  # no extra walk-forward by default
    ok = ResearchSettings(joint_symbols={"nse_futures_cont_1m": ("BANKNIFTY",)})
    assert ok.joint_symbols["nse_futures_cont_1m"] == ("BANKNIFTY",)
    with pytest.raises(ValidationError, match="repeats a symbol"):
        ResearchSettings(joint_symbols={"d": ("BANKNIFTY", "BANKNIFTY")})
    with pytest.raises(ValidationError, match=r"research\.joint_symbols\.d"):
        ResearchSettings(joint_symbols={"d": ("BANK NIFTY",)})
