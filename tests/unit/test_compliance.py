"""Compliance controls: compliance.yaml's dated thresholds, the order-to-trade fold, the
OTR throttle and near-breach notice, self-trade prevention and the unregistered-algo order
rate - each through the pre-trade engine, as the runner calls it."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.broker import OrderReport, OrderState, OrderType, Outcome, Side
from live.compliance.flow import FlowBook
from live.compliance_rules.config import ComplianceConfigError, load_compliance
from live.events import (
    InternalCrossed,
    InternalCrossStarted,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderModified,
    OrderSubmitted,
    TradingMode,
    cross_trade_id,
)
from live.orders.crossing import crossed_qty
from live.risk.compliance_controls import ComplianceControls
from live.risk.limits import RiskLimits, load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.snapshots import decode_state, encode_state
from live.state import LiveState, state_hash
from tests.unit.test_pretrade import LIMITS, LOT, NIFTY, T0, _proposal, _state

REPO = Path(__file__).resolve().parents[2]
CONFIG: dict[str, Any] = {
    "version": 1, "self_trade": "refuse",
    "order_to_trade": [
        {"effective_from": date(2025, 1, 1), "exchange_ratio": 500, "throttle_ratio": 5,
         "alert_fraction": 0.6, "min_messages": 4},
        {"effective_from": date(2025, 1, 7), "exchange_ratio": 500, "throttle_ratio": 50,
         "alert_fraction": 0.8, "min_messages": 4}],
    "algo": {"require_algo_id": False, "approvals": [],
             "unregistered_orders_per_second": [
                 {"effective_from": date(2025, 1, 1), "max_orders_per_second": 3}],
             "static_egress_ip": None},
}


@pytest.fixture(scope="module")
def limits(tmp_path_factory: pytest.TempPathFactory) -> RiskLimits:
    path = tmp_path_factory.mktemp("risk") / "risk.yaml"
    path.write_text(yaml.safe_dump(LIMITS))
    return load_risk_limits(path)


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "compliance.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _engine(tmp_path: Path, limits: RiskLimits, data: dict[str, Any] = CONFIG
            ) -> PreTradeRiskEngine:
    controls = ComplianceControls(load_compliance(_write(tmp_path, data)))
    return PreTradeRiskEngine(limits, compliance=controls)


def _intent(key: str, *, strategy: str = "ema_cross", side: Side = Side.BUY,
            order_type: OrderType = OrderType.MARKET, limit: float | None = None,
            ts: datetime = T0) -> OrderIntended:
    return OrderIntended(trace_id=f"t-{key}", ts_event=ts, client_key=key, strategy=strategy,
                         version="1", symbol="NIFTY", exchange="NFO", side=side, qty=LOT,
                         order_type=order_type, limit_price=limit, mode=TradingMode.LIVE)


def _cancel(key: str, ts: datetime = T0) -> OrderCancelled:
    return OrderCancelled(trace_id=f"t-{key}", ts_event=ts, client_key=key,
                          broker_order_id=f"b-{key}", reason="test")


def _churn(state: LiveState, n: int, ts: datetime = T0) -> None:
    """``n`` orders, each cancelled: 2n order messages, no trade."""
    for i in range(n):
        state.apply(_intent(f"c{i}", ts=ts))
        state.apply(_cancel(f"c{i}", ts=ts))


# --- the file --------------------------------------------------------------------------------

def test_repo_compliance_yaml_loads() -> None:
    config = load_compliance(REPO / "compliance.yaml")
    assert config.self_trade == "refuse"
    assert config.otr_on(date(2026, 1, 5)) is not None


def test_compliance_dated_entry_in_force_on_session_date_applies(tmp_path: Path) -> None:
    config = load_compliance(_write(tmp_path, CONFIG))
    assert config.otr_on(date(2025, 1, 6)).throttle_ratio == 5  # type: ignore[union-attr]
    assert config.otr_on(date(2025, 1, 7)).throttle_ratio == 50  # type: ignore[union-attr]
    assert config.otr_on(date(2024, 12, 31)) is None


def test_compliance_throttle_above_exchange_ratio_is_refused_naming_field(tmp_path: Path
                                                                          ) -> None:
    data = copy.deepcopy(CONFIG)
    data["order_to_trade"][0]["throttle_ratio"] = 600
    with pytest.raises(ComplianceConfigError, match=r"order_to_trade\.0\.throttle_ratio.*600"):
        load_compliance(_write(tmp_path, data))


def test_compliance_unsorted_dates_are_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(CONFIG)
    data["order_to_trade"].reverse()
    with pytest.raises(ComplianceConfigError, match=r"order_to_trade\.1\.effective_from"):
        load_compliance(_write(tmp_path, data))


def test_compliance_unknown_self_trade_mode_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(CONFIG) | {"self_trade": "ignore"}
    with pytest.raises(ComplianceConfigError, match=r"self_trade.*'ignore'"):
        load_compliance(_write(tmp_path, data))


def test_compliance_self_trade_net_loads(tmp_path: Path) -> None:
    data = copy.deepcopy(CONFIG) | {"self_trade": "net"}
    assert load_compliance(_write(tmp_path, data)).self_trade == "net"


def test_compliance_bad_egress_ip_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(CONFIG)
    data["algo"]["static_egress_ip"] = "10.0.0.300"
    with pytest.raises(ComplianceConfigError, match=r"algo\.static_egress_ip.*10\.0\.0\.300"):
        load_compliance(_write(tmp_path, data))


def test_compliance_algo_id_longer_than_kite_tag_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(CONFIG)
    data["algo"]["approvals"] = [{"strategy": "ema_cross", "version": 1,
                                  "algo_id": "A" * 21, "broker": "zerodha",
                                  "approval_ref": "Z-1", "approved_on": date(2025, 1, 2)}]
    with pytest.raises(ComplianceConfigError, match=r"algo\.approvals\.0\.algo_id"):
        load_compliance(_write(tmp_path, data))


# --- the fold --------------------------------------------------------------------------------

def test_order_flow_counts_orders_modifications_cancels_and_trades_once() -> None:
    state = LiveState()
    state.apply(_intent("a"))
    state.apply(_intent("a"))  # a repeated intent: one order
    state.apply(OrderModified(trace_id="t-a", ts_event=T0, client_key="a",
                              broker_order_id="b-a", limit_price=NIFTY))
    fill = OrderFilled(trace_id="t-a", ts_event=T0, client_key="a", broker_order_id="b-a",
                       trade_id="x1", symbol="NIFTY", side=Side.BUY, qty=LOT, price=NIFTY)
    state.apply(fill)
    state.apply(fill)  # the same execution reported twice: one trade
    state.apply(_intent("b"))
    state.apply(_cancel("b"))
    count = state.order_flow[("ema_cross", "NIFTY", date(2025, 1, 6))]
    assert (count.orders, count.modifications, count.cancellations, count.trades) == \
        (2, 1, 1, 1)
    assert count.ratio() == 4.0


def test_order_flow_day_is_the_nse_day_of_the_event() -> None:
    state = LiveState()
    late_utc = datetime(2025, 1, 6, 19, 0, tzinfo=T0.tzinfo).astimezone(tz=None)
    state.apply(_intent("n", ts=late_utc + timedelta(hours=6)))  # after IST midnight
    assert [k[2] for k in state.order_flow] == [date(2025, 1, 7)]


def test_order_flow_survives_a_state_snapshot() -> None:
    state = LiveState()
    _churn(state, 3)
    assert decode_state(encode_state(state)).order_flow == state.order_flow


# --- order-to-trade ratio ----------------------------------------------------------------

def test_otr_entry_over_throttle_is_denied_naming_counts(tmp_path: Path,
                                                        limits: RiskLimits) -> None:
    state = _state()
    _churn(state, 3)  # 6 messages, 0 trades: a 7th would be 7 / 1 > 5
    decision = _engine(tmp_path, limits).check(_proposal(), state)
    assert (decision.passed, decision.check) == (False, "order_to_trade_ratio")
    assert "7 order messages (3 orders, 0 modifications, 3 cancellations" in decision.reason


def test_otr_entry_at_throttle_passes(tmp_path: Path, limits: RiskLimits) -> None:
    state = _state()
    state.apply(_intent("a"))
    state.apply(_cancel("a"))
    state.apply(_intent("b"))
    state.apply(_cancel("b"))  # 4 messages; this one makes 5 / 1 = throttle 5: passes
    assert _engine(tmp_path, limits).check(_proposal(), state).passed


def test_otr_exit_over_throttle_passes(tmp_path: Path, limits: RiskLimits) -> None:
    state = _state()
    _churn(state, 3)
    state.position("ema_cross", "NIFTY").net_qty = LOT
    decision = _engine(tmp_path, limits).check(
        _proposal(side=-1, reduces_exposure=True), state)
    assert decision.passed, decision


def test_otr_next_day_uses_its_own_count_and_threshold(tmp_path: Path,
                                                      limits: RiskLimits) -> None:
    state = _state()
    _churn(state, 3)
    next_day = T0 + timedelta(days=1)
    state2 = _state(bar_ts=next_day)
    state2.order_flow.update(state.order_flow)
    decision = _engine(tmp_path, limits).check(
        _proposal(ts=next_day, reference_ts=next_day), state2)
    assert decision.passed, decision


def test_otr_near_breach_notice_once_per_strategy_symbol_day(tmp_path: Path,
                                                            limits: RiskLimits) -> None:
    state = _state()
    state.apply(_intent("a"))
    state.apply(_cancel("a"))
    state.apply(_intent("b"))  # 3 messages; this one: 4 / 1 >= 0.6 x 5
    engine = _engine(tmp_path, limits)
    first = engine.check(_proposal(), state)
    second = engine.check(_proposal(ts=T0 + timedelta(seconds=5)), state)
    assert "4 order messages" in first.notice and "0.6 x throttle_ratio 5" in first.notice
    assert second.passed and second.notice == ""


def test_otr_no_thresholds_in_force_denies_entries(tmp_path: Path, limits: RiskLimits
                                                   ) -> None:
    data = copy.deepcopy(CONFIG)
    data["order_to_trade"][0]["effective_from"] = date(2025, 1, 6) + timedelta(days=1)
    data["order_to_trade"][1]["effective_from"] = date(2025, 2, 1)
    decision = _engine(tmp_path, limits, data).check(_proposal(), _state())
    assert (decision.passed, decision.check) == (False, "order_to_trade_ratio")
    assert "no order_to_trade thresholds in force on 2025-01-06" in decision.reason


# --- self-trade prevention ---------------------------------------------------------------

def test_self_trade_market_entry_against_our_resting_limit_is_refused(
        tmp_path: Path, limits: RiskLimits) -> None:
    state = _state()
    state.apply(_intent("rest1", strategy="range_breakout", side=Side.SELL,
                        order_type=OrderType.LIMIT, limit=NIFTY + 10))
    decision = _engine(tmp_path, limits).check(_proposal(client_key="new1"), state)
    assert (decision.passed, decision.check) == (False, "self_trade")
    assert "new1" in decision.reason and "rest1" in decision.reason


def test_self_trade_limit_below_our_resting_offer_passes(tmp_path: Path,
                                                       limits: RiskLimits) -> None:
    state = _state()
    state.apply(_intent("rest1", strategy="range_breakout", side=Side.SELL,
                        order_type=OrderType.LIMIT, limit=NIFTY + 10))
    decision = _engine(tmp_path, limits).check(
        _proposal(order_type="LIMIT", limit_price=NIFTY + 5), state)
    assert decision.passed, decision


def test_self_trade_resting_stop_is_not_in_the_book(tmp_path: Path, limits: RiskLimits
                                                    ) -> None:
    state = _state()
    state.apply(_intent("stop1", strategy="range_breakout", side=Side.SELL,
                        order_type=OrderType.SL_M))
    assert _engine(tmp_path, limits).check(_proposal(), state).passed


def test_self_trade_exit_crossing_passes_with_warning(tmp_path: Path,
                                                     limits: RiskLimits) -> None:
    state = _state()
    state.position("ema_cross", "NIFTY").net_qty = LOT
    state.apply(_intent("rest1", strategy="range_breakout", side=Side.BUY,
                        order_type=OrderType.LIMIT, limit=NIFTY - 10))
    decision = _engine(tmp_path, limits).check(
        _proposal(side=-1, reduces_exposure=True), state)
    assert decision.passed and "self_trade" in decision.warning


# --- self_trade: net -----------------------------------------------------------------------

NET = copy.deepcopy(CONFIG) | {"self_trade": "net"}


def _resting(state: LiveState, key: str = "rest1", *, strategy: str = "range_breakout",
             order_type: OrderType = OrderType.LIMIT, after_trade: str | None = None,
             acked: bool = True) -> None:
    state.apply(OrderIntended(
        trace_id=f"t-{key}", ts_event=T0, client_key=key, strategy=strategy, version="1",
        symbol="NIFTY", exchange="NFO", side=Side.SELL, qty=LOT, order_type=order_type,
        limit_price=NIFTY + 10, trigger_price=NIFTY + 10 if after_trade else None,
        after_trade=after_trade, mode=TradingMode.LIVE))
    if acked:
        state.apply(OrderSubmitted(trace_id=f"t-{key}", ts_event=T0, client_key=key,
                                   broker_order_id=f"b-{key}", outcome=Outcome.CONFIRMED))


def test_net_market_entry_of_a_netting_sender_against_a_resting_entry_passes(
        tmp_path: Path, limits: RiskLimits) -> None:
    state = _state()
    _resting(state)
    decision = _engine(tmp_path, limits, NET).check(_proposal(nets=True), state)
    assert decision.passed and decision.warning == "", decision


@pytest.mark.parametrize("case", ["not_netting_sender", "limit_order", "same_strategy",
                                  "protective_target", "not_acknowledged", "refuse_mode"])
def test_net_anything_else_crossing_is_refused_as_with_refuse(
        tmp_path: Path, limits: RiskLimits, case: str) -> None:
    state = _state()
    _resting(state, strategy="ema_cross" if case == "same_strategy" else "range_breakout",
             after_trade="T1" if case == "protective_target" else None,
             acked=case != "not_acknowledged")
    proposal = _proposal(nets=case != "not_netting_sender", client_key="new1",
                         **({"order_type": "LIMIT", "limit_price": NIFTY + 20}
                            if case == "limit_order" else {}))
    decision = _engine(tmp_path, limits, CONFIG if case == "refuse_mode" else NET).check(
        proposal, state)
    assert (decision.passed, decision.check) == (False, "self_trade")
    assert "compliance.self_trade=" in decision.reason


def test_net_resting_order_with_a_cross_in_progress_is_not_nettable(
        tmp_path: Path, limits: RiskLimits) -> None:
    state = _state()
    _resting(state)
    state.apply(_started("x1"))
    decision = _engine(tmp_path, limits, NET).check(_proposal(nets=True), state)
    assert (decision.passed, decision.check) == (False, "self_trade")


def _started(cross_id: str, qty: int = LOT) -> InternalCrossStarted:
    return InternalCrossStarted(
        trace_id=f"t-{cross_id}", ts_event=T0, cross_id=cross_id, strategy="ema_cross",
        version="1", symbol="NIFTY", side=Side.BUY, qty=qty, order_qty=qty,
        price=NIFTY + 10, resting_key="rest1", resting_strategy="range_breakout",
        resting_qty=LOT)


def _crossed(cross_id: str, qty: int) -> InternalCrossed:
    return InternalCrossed(trace_id=f"t-{cross_id}", ts_event=T0, cross_id=cross_id,
                           trade_id=cross_trade_id(cross_id), crossed_qty=qty, reason="test")


def test_net_cross_books_both_strategies_at_the_resting_limit_once() -> None:
    state = _state()
    _resting(state)
    state.apply(_started("x1"))
    before = state_hash(state)
    state.apply(_crossed("x1", LOT))
    state.apply(_crossed("x1", LOT))  # journaled twice: one cross
    buyer, seller = state.positions[("ema_cross", "NIFTY")], \
        state.positions[("range_breakout", "NIFTY")]
    assert (buyer.net_qty, buyer.avg_price) == (LOT, NIFTY + 10)
    assert (seller.net_qty, seller.avg_price) == (-LOT, NIFTY + 10)
    assert state.stats["ema_cross"].fills == state.stats["range_breakout"].fills == 1
    assert state.trade_ids == set()  # not a broker execution
    assert sum(c.trades for c in state.order_flow.values()) == 0  # nor an exchange trade
    assert state_hash(state) != before and state.discrepancies == []
    assert decode_state(encode_state(state)).crosses == state.crosses


def test_net_aborted_cross_books_nothing_and_bad_outcomes_are_discrepancies() -> None:
    state = _state()
    state.apply(_started("x1"))
    state.apply(_crossed("x1", 0))
    assert ("ema_cross", "NIFTY") not in state.positions
    state.apply(_started("x2", qty=LOT))
    state.apply(_crossed("x2", LOT + 1))  # more than it set out to cross
    state.apply(_crossed("x9", 1))  # no marker
    state.apply(_started("x1"))  # a second marker
    assert len(state.discrepancies) == 3
    assert not state.crosses["x2"].finished


def test_net_withdrawn_is_what_the_broker_book_no_longer_holds() -> None:
    started = InternalCrossStarted(
        trace_id="t", ts_event=T0, cross_id="x1", strategy="ema_cross", version="1",
        symbol="NIFTY", side=Side.BUY, qty=75, order_qty=150, price=NIFTY,
        resting_key="rest1", resting_strategy="range_breakout", resting_qty=150)

    def report(state: OrderState, qty: int, filled: int) -> OrderReport:
        return OrderReport(broker_order_id="b", client_key="rest1", symbol="NIFTY",
                           side=Side.SELL, qty=qty, filled_qty=filled, avg_fill_price=NIFTY,
                           state=state, order_type=OrderType.LIMIT, limit_price=NIFTY, ts=T0)

    assert crossed_qty(started, report(OrderState.OPEN, 75, 50)) == 75  # modified; fill raced
    assert crossed_qty(started, report(OrderState.OPEN, 150, 0)) == 0  # untouched: abort
    assert crossed_qty(started, report(OrderState.CANCELLED, 150, 100)) == 50  # fill raced
    assert crossed_qty(started, report(OrderState.CANCELLED, 150, 0)) == 75  # capped
    assert crossed_qty(started, report(OrderState.FILLED, 150, 150)) == 0


# --- unregistered algo order rate --------------------------------------------------------

def test_algo_rate_unregistered_version_reaching_threshold_is_denied(
        tmp_path: Path, limits: RiskLimits) -> None:
    engine, state = _engine(tmp_path, limits), _state(bars={"NIFTY": NIFTY,
                                                             "BANKNIFTY": 51_000.0})
    assert engine.check(_proposal(), state).passed
    assert engine.check(_proposal(symbol="BANKNIFTY", reference_price=51_000.0,
                                  lot_size=30, qty=30), state).passed
    third = engine.check(_proposal(side=-1, strategy="range_breakout"), state)
    assert (third.passed, third.check) == (False, "algo_rate")
    assert "3 orders on NFO within 1 s" in third.reason


def test_algo_rate_registered_version_is_not_counted(tmp_path: Path,
                                                    limits: RiskLimits) -> None:
    engine, state = _engine(tmp_path, limits), _state(bars={"NIFTY": NIFTY,
                                                             "BANKNIFTY": 51_000.0})
    engine.check(_proposal(algo_id="NSE123"), state)
    engine.check(_proposal(symbol="BANKNIFTY", reference_price=51_000.0, lot_size=30,
                           qty=30, algo_id="NSE123"), state)
    assert engine.check(_proposal(side=-1, strategy="range_breakout", algo_id="NSE123"),
                        state).passed


# --- algo ids at runner start (stratops live run) ----------------------------------------

def _deployed() -> list[Any]:
    from live.runner.deployments import build
    from strategies.version_config import VersionConfig
    from tests.unit.test_runner_engine import strategy_config

    return [build(VersionConfig.from_json(strategy_config()), 3, "canary", 0.1, "0" * 64)]


def _required(tmp_path: Path, approvals: list[dict[str, Any]]) -> Any:
    data = copy.deepcopy(CONFIG)
    data["algo"].update({"require_algo_id": True, "approvals": approvals})
    return load_compliance(_write(tmp_path, data))


def test_start_version_without_algo_id_is_refused_when_required(tmp_path: Path) -> None:
    from stratops.compliance_setup import with_algo_ids

    refused: list[Any] = []
    assert with_algo_ids(_required(tmp_path, []), "canary", _deployed(), refused) == []
    assert "no broker approval record" in refused[0].reason


def test_start_shadow_needs_no_algo_id(tmp_path: Path) -> None:
    from stratops.compliance_setup import with_algo_ids

    assert len(with_algo_ids(_required(tmp_path, []), "shadow", _deployed(), [])) == 1


def test_start_version_carries_its_approved_algo_id(tmp_path: Path) -> None:
    from stratops.compliance_setup import with_algo_ids

    record = {"strategy": "ema_cross", "version": 3, "algo_id": "NSEALGO42",
              "broker": "zerodha", "approval_ref": "Z-42", "approved_on": date(2025, 6, 2)}
    (d,) = with_algo_ids(_required(tmp_path, [record]), "canary", _deployed(), [])
    assert d.algo_id == "NSEALGO42"


# --- algo id on every order (pre-trade check ``algo_id``) -------------------------------

_RECORD = {"strategy": "ema_cross", "version": 3, "algo_id": "NSEALGO42",
           "broker": "zerodha", "approval_ref": "Z-42", "approved_on": date(2025, 6, 2)}


def _required_engine(tmp_path: Path, limits: RiskLimits, *, sends_orders: bool = True
                     ) -> PreTradeRiskEngine:
    controls = ComplianceControls(_required(tmp_path, [_RECORD]), sends_orders=sends_orders)
    return PreTradeRiskEngine(limits, compliance=controls)


def test_algo_id_required_order_without_one_is_denied(tmp_path: Path,
                                                      limits: RiskLimits) -> None:
    decision = _required_engine(tmp_path, limits).check(_proposal(), _state())
    assert (decision.passed, decision.check) == (False, "algo_id")
    assert "carries no exchange algo id" in decision.reason


def test_algo_id_required_order_with_another_strategys_id_is_denied(
        tmp_path: Path, limits: RiskLimits) -> None:
    decision = _required_engine(tmp_path, limits).check(
        _proposal(strategy="range_breakout", algo_id="NSEALGO42"), _state())
    assert (decision.passed, decision.check) == (False, "algo_id")
    assert "'NSEALGO42', not an approved one of range_breakout" in decision.reason


def test_algo_id_required_order_with_its_approved_id_passes(tmp_path: Path,
                                                            limits: RiskLimits) -> None:
    engine = _required_engine(tmp_path, limits)
    assert engine.check(_proposal(algo_id="NSEALGO42"), _state()).passed


def test_algo_id_required_exit_without_one_passes_with_warning(tmp_path: Path,
                                                               limits: RiskLimits) -> None:
    state = _state()
    state.position("ema_cross", "NIFTY").net_qty = LOT
    decision = _required_engine(tmp_path, limits).check(
        _proposal(side=-1, reduces_exposure=True), state)
    assert decision.passed and decision.warning.startswith("algo_id:")


def test_algo_id_not_required_in_a_shadow_run(tmp_path: Path, limits: RiskLimits) -> None:
    engine = _required_engine(tmp_path, limits, sends_orders=False)
    assert engine.check(_proposal(), _state()).passed


def test_otr_desk_ratio_over_throttle_denies_a_quiet_strategy(tmp_path: Path,
                                                              limits: RiskLimits) -> None:
    state = _state()
    for strategy in ("range_breakout", "atr_reversal", "atr_divergence"):
        state.apply(_intent(strategy, strategy=strategy))
        state.apply(_cancel(strategy))  # the desk: 6 messages; ema_cross has none of its own
    decision = _engine(tmp_path, limits).check(_proposal(), state)
    assert (decision.passed, decision.check) == (False, "order_to_trade_ratio")
    assert decision.reason.startswith("desk (all strategies and symbols) on 2025-01-06: 7 ")


def test_net_surveillance_flow_sees_a_cross_build_positions_and_no_fill() -> None:
    book = FlowBook("Asia/Kolkata")
    book.observe(_started("x1"))
    touched = book.observe(_crossed("x1", LOT))
    assert touched is not None
    flow = book.days[touched[0]].symbols["NIFTY"]
    assert flow.net == {"ema_cross": LOT, "range_breakout": -LOT}
    assert flow.max_abs_net == {"ema_cross": LOT, "range_breakout": LOT}
    assert flow.fills == []  # not an exchange trade: nothing for the wash-trade detector
