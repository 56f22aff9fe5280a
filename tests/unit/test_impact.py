"""Pre-trade impact: the square-root estimate, its calibration and file, and the per-order
budget the pre-trade risk engine enforces."""

from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from live.broker import OrderType, Side
from live.events import BarClosed, OrderFilled, OrderIntended, TradingMode
from live.impact.budget import ImpactBudget, MinuteStats, minute_stats
from live.impact.calibration import (
    CalibrationFileError,
    ImpactPrint,
    calibrate,
    fit_impact,
    load_impact_params,
    prints_sha256,
    read_calibration,
    write_calibration,
)
from live.impact.estimate import ImpactInputError, ImpactParams, estimate_impact
from live.impact.prints import prints_from_journal, prints_from_ticks
from live.market.ticks import Tick
from live.risk.limits import RiskLimitsError, load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from tests.unit.test_pretrade import LIMITS, LOT, NIFTY, _hold, _proposal, _state

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 1, 6, 10, 0, tzinfo=IST)


# --- the estimate ---------------------------------------------------------------------------


def test_estimate_square_root_law_at_full_minute_volume_is_y_sigma() -> None:
    est = estimate_impact(100, 20_000.0, 5.0, 100.0, ImpactParams(y=0.8))
    assert est.total_bps == pytest.approx(4.0)
    assert est.inr == pytest.approx(4.0 / 1e4 * 20_000 * 100)


@given(qty=st.integers(1, 10**6), permanent=st.floats(0, 1))
def test_estimate_split_adds_up_to_the_total(qty: int, permanent: float) -> None:
    est = estimate_impact(qty, 100.0, 4.0, 5_000.0, ImpactParams(permanent_fraction=permanent))
    assert est.temporary_bps + est.permanent_bps == pytest.approx(est.total_bps)
    assert est.permanent_bps == pytest.approx(permanent * est.total_bps)


def test_estimate_zero_volume_is_refused() -> None:
    with pytest.raises(ImpactInputError, match="adv_minute_volume 0"):
        estimate_impact(1, 100.0, 4.0, 0.0, ImpactParams())


# --- calibration ----------------------------------------------------------------------------


def _synthetic_prints(n: int, y: float, exponent: float, seed: int = 1) -> list[ImpactPrint]:
    rng = random.Random(seed)
    prints = []
    for _ in range(n):
        participation, sigma = 10 ** rng.uniform(-2, 0), rng.uniform(2, 8)
        cost = y * sigma * participation ** exponent + rng.gauss(0, 0.5)
        prints.append(ImpactPrint(qty=participation * 1000, minute_volume=1000,
                                  sigma_bps=sigma, cost_bps=cost, post_move_bps=0.4 * cost))
    return prints


def test_fit_recovers_y_exponent_and_permanent_share() -> None:
    params = fit_impact(_synthetic_prints(500, 0.6, 0.55))
    assert params.calibration_source == "prints"
    assert params.y == pytest.approx(0.6, rel=0.1)
    assert params.exponent == pytest.approx(0.55, abs=0.05)
    assert params.permanent_fraction == pytest.approx(0.4, abs=0.02)


def test_fit_too_few_prints_falls_back_to_literature_and_says_so() -> None:
    params = fit_impact(_synthetic_prints(20, 0.6, 0.55))
    assert params.calibration_source == "literature"
    assert "20 usable prints < 100" in params.note
    assert (params.y, params.exponent) == (1.0, 0.5)


def test_calibration_file_round_trips(tmp_path: Path) -> None:
    prints = _synthetic_prints(200, 0.6, 0.55)
    calibration = calibrate(prints, source="test", source_sha256=prints_sha256(prints))
    write_calibration(tmp_path / "impact.json", calibration)
    assert read_calibration(tmp_path / "impact.json") == calibration


@pytest.mark.parametrize(("change", "message"), [
    ({"y": -1.0}, "field y -1.0"), ({"exponent": "x"}, "field 'exponent' must be float"),
    ({"extra": 1}, "unknown field 'extra'"), ({"schema_version": 9}, "'schema_version' is 9")])
def test_malformed_calibration_file_is_refused_naming_file_and_field(
        tmp_path: Path, change: dict[str, Any], message: str) -> None:
    path = tmp_path / "impact.json"
    write_calibration(path, calibrate([], source="none", source_sha256=""))
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(CalibrationFileError, match=f"{path}.*{message}"):
        read_calibration(path)


def test_missing_calibration_file_means_literature_with_a_note(tmp_path: Path) -> None:
    params = load_impact_params(tmp_path / "none.json")
    assert params.calibration_source == "literature" and "no calibration file" in params.note


# --- prints from the journal and from ticks -------------------------------------------------


def _bar(minute: int, close: float, volume: float = 1000.0) -> BarClosed:
    return BarClosed(trace_id="", ts_event=T0 + timedelta(minutes=minute), symbol="NIFTY",
                     open=close, high=close + 5, low=close - 5, close=close, volume=volume)


def test_journal_print_costs_fill_vwap_against_the_decision_close() -> None:
    messages = [_bar(0, 100.0), OrderIntended(
        trace_id="t1", ts_event=T0, client_key="k1", strategy="s", version="1",
        symbol="NIFTY", exchange="NFO", side=Side.BUY, qty=10, order_type=OrderType.MARKET,
        mode=TradingMode.CANARY), _bar(1, 101.0), OrderFilled(
        trace_id="t1", ts_event=T0 + timedelta(minutes=1), client_key="k1",
        broker_order_id="b1", trade_id="x1", symbol="NIFTY", side=Side.BUY, qty=10,
        price=100.5), _bar(2, 102.0)]
    (p,) = prints_from_journal(messages, post_bars=1)
    assert (p.qty, p.minute_volume) == (10, 1000.0)
    assert p.cost_bps == pytest.approx(50.0)
    assert p.post_move_bps == pytest.approx(200.0)


def _tick(second: int, price: float, qty: int, volume: int) -> Tick:
    return Tick(token=1, symbol="NIFTY", ts=T0 + timedelta(seconds=second), price=price,
                last_qty=qty, volume=volume, oi=None, bids=((price - 0.5, 10, 1),),
                asks=((price + 0.5, 10, 1),))


def test_tick_print_is_signed_by_the_quote_rule_against_the_previous_mid() -> None:
    ticks = [(0, _tick(0, 100.0, 0, 1000)), (1, _tick(1, 100.5, 4, 1004))]
    (p,) = prints_from_ticks(ticks)
    assert p.qty == 4.0
    assert p.cost_bps == pytest.approx(50.0)


# --- the budget in the pre-trade risk engine ------------------------------------------------


def _engine(tmp_path: Path, max_impact_bps: float) -> PreTradeRiskEngine:
    raw = copy.deepcopy(LIMITS)
    raw["execution"] = {"max_impact_bps": max_impact_bps}
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(raw))
    budget = ImpactBudget(ImpactParams(), max_impact_bps,
                          {"NIFTY": MinuteStats(sigma_per_minute_bps=10.0,
                                                adv_minute_volume=LOT * 4)})
    return PreTradeRiskEngine(load_risk_limits(path), impact=budget)


def test_entry_over_the_impact_budget_is_denied_with_the_estimate(tmp_path: Path) -> None:
    decision = _engine(tmp_path, 4.0).check(_proposal(qty=LOT), _state())
    assert (decision.passed, decision.check) == (False, "max_impact")
    assert "estimated impact 5.00 bps > execution.max_impact_bps=4" in decision.reason
    assert "calibration_source: literature" in decision.reason


def test_entry_within_the_impact_budget_passes_showing_the_estimate(tmp_path: Path) -> None:
    decision = _engine(tmp_path, 6.0).check(_proposal(qty=LOT), _state())
    assert decision.passed and "impact 5.00 bps" in decision.reason


def test_exit_over_the_impact_budget_passes_with_a_warning(tmp_path: Path) -> None:
    state = _state()
    _hold(state, 1)
    decision = _engine(tmp_path, 4.0).check(
        _proposal(qty=LOT, side=-1, reduces_exposure=True), state)
    assert decision.passed and decision.warning.startswith("max_impact: estimated impact")


def test_entry_without_minute_statistics_is_denied(tmp_path: Path) -> None:
    decision = _engine(tmp_path, 4.0).check(
        _proposal(symbol="BANKNIFTY", reference_price=NIFTY), _state(bars={"BANKNIFTY": NIFTY}))
    assert (decision.passed, decision.check) == (False, "max_impact")


@pytest.mark.parametrize(("execution", "message"), [
    ({"max_impact_bps": 0}, "execution.max_impact_bps"),
    ({"calibration_file": "/abs/impact.json"}, "execution.calibration_file"),
    ({"max_impact": 5}, "execution.max_impact")])
def test_risk_yaml_execution_section_out_of_domain_is_refused(
        tmp_path: Path, execution: dict[str, Any], message: str) -> None:
    raw = copy.deepcopy(LIMITS)
    raw["execution"] = execution
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RiskLimitsError, match=message):
        load_risk_limits(path)


def test_minute_stats_average_parkinson_and_volume_per_symbol() -> None:
    frame = pd.DataFrame({"symbol": ["A", "A", "B"], "high": [101.0, 102.0, 10.0],
                          "low": [99.0, 98.0, 10.0], "volume": [10.0, 30.0, 0.0]})
    stats = minute_stats(frame)
    assert set(stats) == {"A"} and stats["A"].adv_minute_volume == 20.0


# --- the simulator's slippage from the same calibration -------------------------------------


def test_calibrated_slippage_ticks_is_the_estimate_in_ticks() -> None:
    import numpy as np

    from strategies.impact import calibrated_slippage_ticks, parkinson_sigma_bps

    high, low = np.array([101.0, 101.0]), np.array([99.0, 99.0])
    ticks = calibrated_slippage_ticks(y=1.0, exponent=0.5, high=high, low=low,
                                      close=np.array([100.0, 100.0]),
                                      volume=np.array([400.0, 400.0]), qty=100, tick_size=0.05)
    expected_bps = estimate_impact(100, 100.0, parkinson_sigma_bps(101, 99), 400.0,
                                   ImpactParams()).total_bps
    assert ticks == pytest.approx(expected_bps / 1e4 * 100.0 / 0.05)
