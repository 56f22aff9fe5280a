"""Pre-trade risk engine: each control lets the order that just fits through and denies the
one that just does not, naming the control and the actual value against the limit."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from live.broker import Outcome, Side
from live.events import (
    BarClosed,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    TradingMode,
)
from live.governance.policy import Policy, load_policy
from live.risk.interface import OrderProposal, RiskDecision
from live.risk.limits import RiskLimits, load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.state import LiveState
from tests.unit.test_risk_limits import BASE as LIMITS_BASE

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 1, 6, 10, 0, tzinfo=IST)
NIFTY = 24_000.0
LOT = 75  # NIFTY lot size

LIMITS = copy.deepcopy(LIMITS_BASE)
LIMITS["pre_trade"].update({
    "price_collar_pct": 2.0, "max_qty_per_order": 300, "max_lots_per_order": 4,
    "max_order_value_inr": 7_200_000, "max_open_orders": 3,
    "max_open_order_value_inr": 14_400_000, "max_orders_per_second": 8,
    "duplicate_window_seconds": 2, "reference_max_age_seconds": 60})
LIMITS["positions"] = {"max_net_lots_per_symbol": {"default": 8, "NIFTY": 6},
                       "max_net_lots_per_strategy": {"default": 4},
                       "max_lots_per_expiry": 10}

POLICY: dict[str, Any] = {
    "version": 1, "products": ["NRML", "MIS"], "instrument_types": ["index_future"],
    "exchanges": ["NFO"], "symbols": ["NIFTY", "BANKNIFTY"],
    "trading_windows": {"NSE": [{"start": "09:15", "end": "15:00"}]},
    "stages": {"shadow": {"capital_fraction": 0.0},
               "canary": {"capital_fraction": 0.1, "min_sessions": 5, "min_trades": 20,
                          "max_open_breaks": 0},
               "live": {"capital_fraction": 1.0}},
    "default_account": "main",
    "accounts": {"main": {"capital_inr": 5_000_000, "max_strategies_live": 4}},
    "strategies": {"defaults": {"max_capital_inr": 1_000_000, "max_lots_per_order": 4,
                                "max_open_positions": 1}},
}


@pytest.fixture(scope="module")
def limits(tmp_path_factory: pytest.TempPathFactory) -> RiskLimits:
    path = tmp_path_factory.mktemp("risk") / "risk.yaml"
    path.write_text(yaml.safe_dump(LIMITS))
    return load_risk_limits(path)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY))
    return load_policy(path)


@pytest.fixture
def engine(limits: RiskLimits) -> PreTradeRiskEngine:
    return PreTradeRiskEngine(limits)


def _proposal(**changes: Any) -> OrderProposal:
    fields: dict[str, Any] = {
        "strategy": "ema_cross", "symbol": "NIFTY", "side": 1, "qty": LOT,
        "reference_price": NIFTY, "reduces_exposure": False, "ts": T0, "lot_size": LOT,
        "reference_ts": T0, **changes}
    return OrderProposal(**fields)


def _bar(symbol: str, ts: datetime, close: float) -> BarClosed:
    return BarClosed(trace_id="", ts_event=ts, symbol=symbol, open=close, high=close,
                     low=close, close=close, volume=1.0)


def _state(*, bars: dict[str, float] | None = None, bar_ts: datetime = T0,
           previous: dict[str, float] | None = None) -> LiveState:
    """Each symbol's last trade at ``bar_ts`` and an earlier one two minutes before (the
    price the collar compares with; ``previous`` closes, else the same close)."""
    state = LiveState()
    for symbol, close in (bars or {"NIFTY": NIFTY}).items():
        before = (previous or {}).get(symbol, close)
        state.apply(_bar(symbol, bar_ts - timedelta(minutes=2), before))
        state.apply(_bar(symbol, bar_ts, close))
    return state


def _intend(state: LiveState, key: str, *, strategy: str = "ema_cross", symbol: str = "NIFTY",
            side: Side = Side.BUY, qty: int = LOT) -> None:
    state.apply(OrderIntended(trace_id=f"t-{key}", ts_event=T0, client_key=key,
                              strategy=strategy, version="1", symbol=symbol, exchange="NFO",
                              side=side, qty=qty, order_type="MARKET", mode=TradingMode.LIVE))


def _hold(state: LiveState, lots: int, *, strategy: str = "ema_cross",
          symbol: str = "NIFTY") -> None:
    """A filled position of ``lots`` (negative: short) for ``strategy``."""
    key = f"f{len(state.orders)}"
    side = Side.BUY if lots > 0 else Side.SELL
    _intend(state, key, strategy=strategy, symbol=symbol, side=side, qty=abs(lots) * LOT)
    state.apply(OrderFilled(trace_id=f"t-{key}", ts_event=T0, client_key=key,
                            broker_order_id=f"b-{key}", trade_id=f"x-{key}", symbol=symbol,
                            side=side, qty=abs(lots) * LOT, price=NIFTY))


def _denied_by(decision: RiskDecision, check: str) -> None:
    assert (decision.passed, decision.check) == (False, check), decision.reason


# --- price collar and reference -----------------------------------------------------------


@pytest.mark.parametrize(("reference", "passed"), [
    (24_480.0, True), (24_480.5, False), (23_520.0, True), (23_519.5, False)])
def test_price_collar_two_pct_from_last_trade(engine: PreTradeRiskEngine, reference: float,
                                              passed: bool) -> None:
    decision = engine.check(_proposal(reference_price=reference, qty=1, lot_size=1), _state())
    assert decision.passed is passed
    if not passed:
        assert decision.check == "price_collar"
        assert "price_collar_pct=2" in decision.reason


def test_price_collar_spike_bar_entry_at_its_own_close_is_denied(
        engine: PreTradeRiskEngine) -> None:
    # the runner's view: the bar being traded is state's last bar, its close the reference
    spike = NIFTY * 1.5
    state = _state(bars={"NIFTY": spike}, previous={"NIFTY": NIFTY})
    decision = engine.check(_proposal(reference_price=spike), state)
    _denied_by(decision, "price_collar")
    assert f"previous trade {NIFTY:g}" in decision.reason


def test_price_collar_without_an_earlier_trade_denies_the_entry(
        engine: PreTradeRiskEngine) -> None:
    state = LiveState()
    state.apply(_bar("NIFTY", T0, NIFTY))  # only the bar being traded
    decision = engine.check(_proposal(), state)
    _denied_by(decision, "price_collar")
    assert "no trade of NIFTY before" in decision.reason


def test_price_collar_breach_on_a_reducing_order_passes_with_a_warning(
        engine: PreTradeRiskEngine) -> None:
    state = _state(bars={"NIFTY": NIFTY * 1.5}, previous={"NIFTY": NIFTY})
    _hold(state, 1)
    decision = engine.check(_proposal(side=-1, reduces_exposure=True,
                                      reference_price=NIFTY * 1.5), state)
    assert decision.passed, decision.reason
    assert decision.warning.startswith("price_collar: reference 36000 is 50%")


@pytest.mark.parametrize(("reference", "check"), [
    (26_400.0, None), (26_400.5, "price_band"), (21_600.0, None), (21_599.5, "price_band")])
def test_price_band_ten_pct_from_the_previous_session_close(
        engine: PreTradeRiskEngine, reference: float, check: str | None) -> None:
    state = _state(bars={"NIFTY": reference})  # within the collar of the previous bar
    decision = engine.check(_proposal(reference_price=reference, qty=1, lot_size=1,
                                      band_base_price=NIFTY), state)
    if check is None:
        assert decision.passed, decision.reason
    else:
        _denied_by(decision, check)
        assert "price_band_pct=10" in decision.reason


def test_price_band_is_configured_per_symbol(tmp_path_factory: pytest.TempPathFactory
                                             ) -> None:
    data = copy.deepcopy(LIMITS)
    data["pre_trade"]["price_band_pct"] = {"default": 10.0, "NIFTY": 5.0}
    path = tmp_path_factory.mktemp("band") / "risk.yaml"
    path.write_text(yaml.safe_dump(data))
    reference = NIFTY * 1.06
    decision = PreTradeRiskEngine(load_risk_limits(path)).check(
        _proposal(reference_price=reference, qty=1, lot_size=1, band_base_price=NIFTY),
        _state(bars={"NIFTY": reference}))
    _denied_by(decision, "price_band")


@pytest.mark.parametrize("reference", [float("nan"), float("inf"), 0.0, -1.0])
def test_reference_price_not_a_price_is_denied(engine: PreTradeRiskEngine,
                                               reference: float) -> None:
    _denied_by(engine.check(_proposal(reference_price=reference), _state()), "reference_price")


def test_reference_without_timestamp_is_denied(engine: PreTradeRiskEngine) -> None:
    _denied_by(engine.check(_proposal(reference_ts=None), _state()), "reference_price")


@pytest.mark.parametrize(("age", "passed"), [
    (timedelta(seconds=60), True), (timedelta(seconds=60, microseconds=1), False),
    (timedelta(seconds=-1), False)])
def test_reference_older_than_max_age_is_stale(engine: PreTradeRiskEngine, age: timedelta,
                                               passed: bool) -> None:
    decision = engine.check(_proposal(reference_ts=T0 - age), _state())
    assert (decision.passed, decision.check) == (
        (True, "pre_trade") if passed else (False, "reference_price"))


def test_last_trade_missing_from_state_is_denied(engine: PreTradeRiskEngine) -> None:
    decision = engine.check(_proposal(), _state(bars={"BANKNIFTY": 48_000.0}))
    _denied_by(decision, "reference_price")
    assert "no usable last trade for NIFTY" in decision.reason


def test_last_trade_older_than_max_age_is_denied(engine: PreTradeRiskEngine) -> None:
    state = _state(bar_ts=T0 - timedelta(seconds=61))
    _denied_by(engine.check(_proposal(), state), "reference_price")


def test_stale_reference_passes_a_reducing_order_with_a_warning(
        engine: PreTradeRiskEngine) -> None:
    state = _state()
    _hold(state, 1)
    decision = engine.check(_proposal(side=-1, reference_ts=T0 - timedelta(seconds=90),
                                      reduces_exposure=True), state)
    assert decision.passed, decision.reason
    assert decision.warning.startswith("reference_price: reference price is 90 s old")


def test_missing_last_trade_passes_a_reducing_order_with_a_warning(
        engine: PreTradeRiskEngine) -> None:
    state = _state(bars={"BANKNIFTY": 48_000.0})
    _hold(state, 1)
    decision = engine.check(_proposal(side=-1, reduces_exposure=True), state)
    assert decision.passed, decision.reason
    assert decision.warning.startswith("reference_price: no usable last trade for NIFTY")
    assert "price_collar: no trade of NIFTY before" in decision.warning


def test_reducing_order_without_a_positive_reference_is_still_denied(
        engine: PreTradeRiskEngine) -> None:
    state = _state()
    _hold(state, 1)
    _denied_by(engine.check(_proposal(side=-1, reference_price=float("nan"),
                                      reduces_exposure=True), state), "reference_price")


# --- order size ---------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "check"), [
    ({"qty": 300}, None), ({"qty": 375}, "max_qty_per_order"),
    ({"qty": 100, "lot_size": 25}, None), ({"qty": 125, "lot_size": 25}, "max_lots_per_order"),
    ({"qty": 300, "reference_price": 24_000.0}, None),
    ({"qty": 300, "reference_price": 24_000.5}, "max_order_value"),
])
def test_order_size_limits(engine: PreTradeRiskEngine, changes: dict[str, Any],
                           check: str | None) -> None:
    decision = engine.check(_proposal(**changes), _state())
    if check is None:
        assert decision.passed, decision.reason
    else:
        _denied_by(decision, check)


@pytest.mark.parametrize("changes", [
    {"side": 0}, {"qty": 0}, {"qty": 80}, {"ts": T0.replace(tzinfo=None)},
    {"exchange": "LSE"}])
def test_malformed_order_is_denied(engine: PreTradeRiskEngine, changes: dict[str, Any]) -> None:
    _denied_by(engine.check(_proposal(**changes), _state()), "order")


def test_internal_error_is_a_denial_not_an_exception(engine: PreTradeRiskEngine) -> None:
    decision = engine.check(_proposal(ts="10:00"), _state())
    _denied_by(decision, "risk_engine_error")


# --- policy: allow-list, trading window, lockout ------------------------------------------


@pytest.mark.parametrize("changes", [
    {"symbol": "FINNIFTY"}, {"product": "CNC"}, {"exchange": "NSE"},
    {"instrument_type": "index_option"}])
def test_policy_allow_list_denies(limits: RiskLimits, policy: Policy,
                                  changes: dict[str, Any]) -> None:
    state = _state(bars={"NIFTY": NIFTY, "FINNIFTY": NIFTY})
    decision = PreTradeRiskEngine(limits, policy).check(_proposal(**changes), state)
    _denied_by(decision, "policy")


@pytest.mark.parametrize(("local", "check"), [
    ((14, 59, 59), None), ((15, 0, 0), "policy"), ((9, 19, 59), "lockout_window"),
    ((9, 20, 0), None)])
def test_entry_windows(limits: RiskLimits, policy: Policy, local: tuple[int, int, int],
                       check: str | None) -> None:
    ts = T0.replace(hour=local[0], minute=local[1], second=local[2])
    decision = PreTradeRiskEngine(limits, policy).check(
        _proposal(ts=ts, reference_ts=ts), _state(bar_ts=ts))
    if check is None:
        assert decision.passed, decision.reason
    else:
        _denied_by(decision, check)


@pytest.mark.parametrize("local", [(15, 10), (9, 16)])
def test_exit_outside_entry_windows_passes(limits: RiskLimits, policy: Policy,
                                           local: tuple[int, int]) -> None:
    ts = T0.replace(hour=local[0], minute=local[1])
    state = _state(bar_ts=ts)
    _hold(state, 1)
    decision = PreTradeRiskEngine(limits, policy).check(
        _proposal(ts=ts, reference_ts=ts, side=-1, reduces_exposure=True), state)
    assert decision.passed, decision.reason


# --- message rate -------------------------------------------------------------------------


def _burst(engine: PreTradeRiskEngine, state: LiveState, n: int = 8) -> None:
    for i in range(n):
        assert engine.check(_proposal(strategy=f"s{i}"), state).passed


@pytest.mark.parametrize(("after", "passed"), [
    (timedelta(milliseconds=999), False), (timedelta(seconds=1), True)])
def test_message_rate_ninth_order_within_one_second(engine: PreTradeRiskEngine,
                                                    after: timedelta, passed: bool) -> None:
    state = _state()
    _burst(engine, state)
    decision = engine.check(_proposal(strategy="s9", ts=T0 + after, reference_ts=T0), state)
    assert decision.passed is passed


def test_message_rate_exceeded_disables_the_strategy(engine: PreTradeRiskEngine) -> None:
    state = _state()
    _burst(engine, state)
    decision = engine.check(_proposal(strategy="s9"), state)
    _denied_by(decision, "message_rate")
    assert decision.disable_strategy
    assert "9 orders on NFO within 1 s > max_orders_per_second=8" in decision.reason


def test_message_rate_is_counted_per_exchange(engine: PreTradeRiskEngine) -> None:
    state = _state()
    _burst(engine, state)
    assert engine.check(_proposal(strategy="s9", exchange="CDS"), state).passed


def test_message_rate_counts_only_passed_orders(engine: PreTradeRiskEngine) -> None:
    state = _state()
    for i in range(5):
        assert not engine.check(_proposal(strategy=f"x{i}", qty=375), state).passed
    _burst(engine, state)


# --- duplicates ---------------------------------------------------------------------------


@pytest.mark.parametrize(("after", "passed"), [
    (timedelta(seconds=1, microseconds=999_999), False), (timedelta(seconds=2), True)])
def test_duplicate_within_window_is_denied(engine: PreTradeRiskEngine, after: timedelta,
                                           passed: bool) -> None:
    state = _state()
    assert engine.check(_proposal(), state).passed
    decision = engine.check(_proposal(ts=T0 + after), state)
    assert (decision.passed, decision.check) == (
        (True, "pre_trade") if passed else (False, "duplicate_order"))


@pytest.mark.parametrize("changes", [{"side": -1}, {"qty": 2 * LOT}, {"symbol": "BANKNIFTY"},
                                     {"strategy": "range_breakout"}])
def test_duplicate_differs_in_one_field_passes(engine: PreTradeRiskEngine,
                                               changes: dict[str, Any]) -> None:
    state = _state(bars={"NIFTY": NIFTY, "BANKNIFTY": NIFTY})
    assert engine.check(_proposal(), state).passed
    assert engine.check(_proposal(**changes), state).passed


def test_reversal_exit_and_entry_legs_are_not_duplicates(engine: PreTradeRiskEngine) -> None:
    state = _state()
    _hold(state, -1)
    assert engine.check(_proposal(reduces_exposure=True), state).passed
    _intend(state, "exit-leg")
    assert engine.check(_proposal(), state).passed


# --- open orders --------------------------------------------------------------------------


def _working(state: LiveState, statuses: list[str]) -> None:
    for i, status in enumerate(statuses):
        key = f"w{i}"
        _intend(state, key, strategy=f"other{i}", symbol="BANKNIFTY", qty=30)
        if status in ("UNKNOWN", "OPEN", "REJECTED"):
            state.apply(OrderSubmitted(trace_id=f"t-{key}", ts_event=T0, client_key=key,
                                       broker_order_id=None,
                                       outcome={"UNKNOWN": Outcome.UNKNOWN,
                                                "OPEN": Outcome.CONFIRMED,
                                                "REJECTED": Outcome.REJECTED}[status]))
        if status == "CANCELLED":
            state.apply(OrderCancelled(trace_id=f"t-{key}", ts_event=T0, client_key=key,
                                       broker_order_id="b", reason="test"))


@pytest.mark.parametrize(("statuses", "passed"), [
    (["INTENDED", "UNKNOWN"], True), (["INTENDED", "UNKNOWN", "OPEN"], False),
    (["INTENDED", "UNKNOWN", "REJECTED", "CANCELLED"], True)])
def test_open_orders_count_includes_in_doubt_and_this_order(
        engine: PreTradeRiskEngine, statuses: list[str], passed: bool) -> None:
    state = _state(bars={"NIFTY": NIFTY, "BANKNIFTY": 48_000.0})
    _working(state, statuses)
    decision = engine.check(_proposal(), state)
    assert (decision.passed, decision.check) == (
        (True, "pre_trade") if passed else (False, "max_open_orders"))


@pytest.mark.parametrize(("banknifty", "passed"), [(48_000.0, True), (48_000.5, False)])
def test_open_order_value_includes_this_order(engine: PreTradeRiskEngine, banknifty: float,
                                              passed: bool) -> None:
    state = _state(bars={"NIFTY": NIFTY, "BANKNIFTY": banknifty})
    _intend(state, "w", strategy="other", symbol="BANKNIFTY", qty=150)  # 7.2M at 48_000
    decision = engine.check(_proposal(qty=4 * LOT), state)  # 7.2M
    assert (decision.passed, decision.check) == (
        (True, "pre_trade") if passed else (False, "max_open_order_value"))


def test_open_order_without_last_price_is_denied(engine: PreTradeRiskEngine) -> None:
    state = _state()
    _intend(state, "w", strategy="other", symbol="BANKNIFTY", qty=30)
    _denied_by(engine.check(_proposal(), state), "max_open_order_value")


# --- positions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("held", "order_lots", "passed"), [(1, 3, True), (1, 4, False)])
def test_strategy_net_lots_after_the_order(engine: PreTradeRiskEngine, held: int,
                                           order_lots: int, passed: bool) -> None:
    state = _state()
    _hold(state, held)
    decision = engine.check(_proposal(qty=order_lots * LOT), state)
    assert (decision.passed, decision.check) == (
        (True, "pre_trade") if passed else (False, "max_net_lots_per_strategy"))


@pytest.mark.parametrize(("order_lots", "passed"), [(3, True), (4, False)])
def test_symbol_net_lots_across_strategies(engine: PreTradeRiskEngine, order_lots: int,
                                           passed: bool) -> None:
    state = _state()
    _hold(state, 3, strategy="range_breakout")
    decision = engine.check(_proposal(qty=order_lots * LOT), state)
    assert (decision.passed, decision.check) == (
        (True, "pre_trade") if passed else (False, "max_net_lots_per_symbol"))


@pytest.mark.parametrize(("order_lots", "passed"), [(2, True), (3, False)])
def test_expiry_gross_lots_across_strategies(engine: PreTradeRiskEngine, order_lots: int,
                                             passed: bool) -> None:
    state = _state()
    _hold(state, 4, strategy="range_breakout")
    _hold(state, -4, strategy="atr_reversal")
    decision = engine.check(_proposal(qty=order_lots * LOT), state)
    assert (decision.passed, decision.check) == (
        (True, "pre_trade") if passed else (False, "max_lots_per_expiry"))


def test_working_order_in_the_same_direction_counts_towards_position(
        engine: PreTradeRiskEngine) -> None:
    state = _state()
    _intend(state, "w", qty=LOT)  # ema_cross buy 1 lot, not filled yet
    _denied_by(engine.check(_proposal(qty=4 * LOT), state), "max_net_lots_per_strategy")


# --- exposure-reducing orders -------------------------------------------------------------


def test_reducing_order_passes_position_limits_it_still_breaches(
        engine: PreTradeRiskEngine) -> None:
    state = _state()
    _hold(state, 6)  # over the strategy's 4 lots (limits tightened after the entry)
    assert not engine.check(_proposal(qty=LOT), state).passed
    assert engine.check(_proposal(side=-1, qty=LOT, reduces_exposure=True), state).passed


@pytest.mark.parametrize(("changes", "check"), [
    ({"qty": 375}, "max_qty_per_order"),
    ({"reference_price": float("nan")}, "reference_price")])
def test_reducing_order_still_meets_price_and_size_checks(
        engine: PreTradeRiskEngine, changes: dict[str, Any], check: str) -> None:
    state = _state()
    _hold(state, 6)
    _denied_by(engine.check(_proposal(side=-1, reduces_exposure=True, **changes), state), check)


def test_reducing_order_still_meets_message_rate(engine: PreTradeRiskEngine) -> None:
    state = _state()
    _hold(state, 1)
    _burst(engine, state)
    decision = engine.check(_proposal(side=-1, reduces_exposure=True), state)
    _denied_by(decision, "message_rate")


@pytest.mark.parametrize(("held", "pending_exit"), [(0, False), (1, True), (-1, False)])
def test_order_claiming_to_reduce_that_does_not_is_denied(
        engine: PreTradeRiskEngine, held: int, pending_exit: bool) -> None:
    state = _state()
    if held:
        _hold(state, held)
    if pending_exit:
        _intend(state, "exit-1", side=Side.SELL)
    decision = engine.check(_proposal(side=-1, reduces_exposure=True), state)
    _denied_by(decision, "reduces_exposure")
