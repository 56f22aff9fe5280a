"""Live state as a fold over the journal: positions, orders in doubt, deterministic replay."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.broker import OrderType, Outcome, Side
from live.events import (
    BarClosed,
    CancelOrder,
    KillMode,
    KillSwitchChanged,
    Message,
    ModeChanged,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderRejected,
    OrderSubmitted,
    PositionChanged,
    TradingMode,
    client_key,
)
from live.journal import open_journal
from live.state import (
    UNATTRIBUTED,
    LiveState,
    OrderStatus,
    apply,
    fold,
    in_doubt_orders,
    kill_mode_for,
    open_orders,
    replay,
    state_hash,
    trading_state_hash,
)
from tests.unit.test_journal import sample_session

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 1, 6, 9, 20, tzinfo=IST)
SYMBOL = "NIFTY25JANFUT"


def intent(trace: str, side: Side = Side.BUY, qty: int = 75, strategy: str = "ema",
           symbol: str = SYMBOL) -> OrderIntended:
    return OrderIntended(trace_id=trace, ts_event=T0, client_key=client_key(trace),
                         strategy=strategy, version="3", symbol=symbol, exchange="NFO",
                         side=side, qty=qty, order_type=OrderType.MARKET,
                         mode=TradingMode.LIVE)


def submitted(trace: str, outcome: Outcome = Outcome.CONFIRMED) -> OrderSubmitted:
    broker_id = None if outcome is Outcome.UNKNOWN else f"B-{trace}"
    return OrderSubmitted(trace_id=trace, ts_event=T0, client_key=client_key(trace),
                          broker_order_id=broker_id, outcome=outcome)


def filled(trace: str, side: Side, qty: int, price: float, trade_id: str | None = None,
           symbol: str = SYMBOL) -> OrderFilled:
    return OrderFilled(trace_id=trace, ts_event=T0, client_key=client_key(trace),
                       broker_order_id=f"B-{trace}", trade_id=trade_id or f"T-{trace}",
                       symbol=symbol, side=side, qty=qty, price=price)


def trade(trace: str, side: Side, qty: int, price: float) -> list[Message]:
    """Intent, confirmed submission and one full fill."""
    return [intent(trace, side, qty), submitted(trace), filled(trace, side, qty, price)]


# --- positions and P&L ----------------------------------------------------------------------

def test_buy_then_sell_flat_realises_the_price_difference() -> None:
    state = fold(trade("a", Side.BUY, 2, 100.0) + trade("b", Side.SELL, 2, 110.0))
    pos = state.positions[("ema", SYMBOL)]
    assert (pos.net_qty, pos.avg_price, pos.realised_pnl_inr) == (0, 0.0, 20.0)
    assert state.stats["ema"].realised_pnl_inr == 20.0


def test_adding_to_a_long_averages_the_entry_price() -> None:
    state = fold(trade("a", Side.BUY, 1, 100.0) + trade("b", Side.BUY, 3, 110.0))
    pos = state.positions[("ema", SYMBOL)]
    assert (pos.net_qty, pos.avg_price, pos.realised_pnl_inr) == (4, 107.5, 0.0)


def test_partial_close_keeps_the_entry_price_of_the_rest() -> None:
    state = fold(trade("a", Side.BUY, 3, 100.0) + trade("b", Side.SELL, 1, 104.0))
    pos = state.positions[("ema", SYMBOL)]
    assert (pos.net_qty, pos.avg_price, pos.realised_pnl_inr) == (2, 100.0, 4.0)


def test_selling_through_a_long_flips_short_at_the_fill_price() -> None:
    state = fold(trade("a", Side.BUY, 2, 100.0) + trade("b", Side.SELL, 5, 90.0))
    pos = state.positions[("ema", SYMBOL)]
    assert (pos.net_qty, pos.avg_price, pos.realised_pnl_inr) == (-3, 90.0, -20.0)


def test_covering_a_short_below_entry_is_a_profit() -> None:
    state = fold(trade("a", Side.SELL, 2, 100.0) + trade("b", Side.BUY, 2, 90.0))
    assert state.positions[("ema", SYMBOL)].realised_pnl_inr == 20.0


def test_duplicate_fill_with_the_same_trade_id_is_ignored() -> None:
    messages = trade("a", Side.BUY, 75, 100.0)
    state = fold([*messages, messages[-1]])
    assert state.positions[("ema", SYMBOL)].net_qty == 75
    assert state.stats["ema"].fills == 1
    assert state.orders[client_key("a")].filled_qty == 75


def test_partial_fills_accumulate_until_the_order_is_filled() -> None:
    state = fold([intent("a", qty=75), submitted("a"),
                  filled("a", Side.BUY, 50, 100.0, trade_id="t1")])
    order = state.orders[client_key("a")]
    assert (order.status, order.filled_qty) == (OrderStatus.OPEN, 50)
    state.apply(filled("a", Side.BUY, 25, 100.0, trade_id="t2"))
    assert (order.status, order.filled_qty) == (OrderStatus.FILLED, 75)
    assert open_orders(state) == []


def test_fill_for_an_unknown_client_key_is_unattributed_and_reported() -> None:
    state = fold([filled("ghost", Side.BUY, 75, 100.0)])
    assert state.positions[(UNATTRIBUTED, SYMBOL)].net_qty == 75
    assert any("unknown client_key" in d for d in state.discrepancies)


def test_position_claim_that_agrees_with_the_fills_is_silent() -> None:
    state = fold(trade("a", Side.BUY, 2, 100.0))
    state.apply(PositionChanged(trace_id="a", ts_event=T0, strategy="ema", symbol=SYMBOL,
                                net_qty=2, avg_price=100.0, realised_pnl_inr=0.0))
    assert state.discrepancies == []


def test_position_claim_that_disagrees_with_the_fills_is_reported() -> None:
    state = fold(trade("a", Side.BUY, 2, 100.0))
    state.apply(PositionChanged(trace_id="a", ts_event=T0, strategy="ema", symbol=SYMBOL,
                                net_qty=3, avg_price=100.0, realised_pnl_inr=0.0))
    assert len(state.discrepancies) == 1
    assert "claims net 3" in state.discrepancies[0]


# --- orders in doubt ---------------------------------------------------------------------------

def test_intent_without_a_submission_is_in_doubt() -> None:
    state = fold([intent("a")])
    assert [o.client_key for o in in_doubt_orders(state)] == [client_key("a")]
    assert in_doubt_orders(state)[0].status is OrderStatus.INTENDED


def test_submission_with_unknown_outcome_is_in_doubt_until_a_report_settles_it() -> None:
    state = fold([intent("a"), submitted("a", Outcome.UNKNOWN)])
    assert [o.status for o in in_doubt_orders(state)] == [OrderStatus.UNKNOWN]
    state.apply(OrderAcknowledged(trace_id="a", ts_event=T0, client_key=client_key("a"),
                                  broker_order_id="B-1"))
    assert in_doubt_orders(state) == []
    assert state.orders[client_key("a")].broker_order_id == "B-1"


@pytest.mark.parametrize(("outcome", "status"), [(Outcome.CONFIRMED, OrderStatus.OPEN),
                                                 (Outcome.REJECTED, OrderStatus.REJECTED)])
def test_submission_with_a_known_outcome_is_not_in_doubt(outcome: Outcome,
                                                         status: OrderStatus) -> None:
    state = fold([intent("a"), submitted("a", outcome)])
    assert in_doubt_orders(state) == []
    assert state.orders[client_key("a")].status is status


def test_late_unknown_submission_does_not_undo_a_fill_already_journaled() -> None:
    state = fold([intent("a", qty=75), filled("a", Side.BUY, 75, 100.0),
                  submitted("a", Outcome.UNKNOWN)])
    assert state.orders[client_key("a")].status is OrderStatus.FILLED


def test_cancel_and_reject_finish_an_order() -> None:
    state = fold([intent("a"), submitted("a"), intent("b"), submitted("b"),
                  OrderCancelled(trace_id="a", ts_event=T0, client_key=client_key("a"),
                                 broker_order_id="B-a", reason="cutoff"),
                  OrderRejected(trace_id="b", ts_event=T0, client_key=client_key("b"),
                                reason="margin")])
    assert state.orders[client_key("a")].status is OrderStatus.CANCELLED
    assert state.orders[client_key("b")].status is OrderStatus.REJECTED
    assert open_orders(state) == []


def test_second_intent_for_one_client_key_is_reported_and_the_first_stands() -> None:
    state = fold([intent("a", qty=75), intent("a", qty=150)])
    assert state.orders[client_key("a")].qty == 75
    assert state.stats["ema"].orders == 1
    assert "duplicate intent" in state.discrepancies[0]


# --- modes, kill switches, bars ------------------------------------------------------------

def test_kill_switch_for_a_strategy_is_the_stricter_of_global_and_own() -> None:
    state = fold([
        KillSwitchChanged(trace_id="", ts_event=T0, scope="all", mode=KillMode.REDUCE,
                          actor="ops", reason="vol"),
        KillSwitchChanged(trace_id="", ts_event=T0, scope="ema", mode=KillMode.HALT,
                          actor="risk", reason="loss limit"),
    ])
    assert kill_mode_for(state, "ema") is KillMode.HALT
    assert kill_mode_for(state, "atr") is KillMode.REDUCE
    assert kill_mode_for(LiveState(), "ema") is KillMode.OFF


def test_mode_and_last_bar_are_the_latest_seen() -> None:
    bars = [BarClosed(trace_id="", ts_event=T0 + timedelta(minutes=i), symbol=SYMBOL,
                      open=1.0, high=2.0, low=0.5, close=float(i), volume=1.0) for i in range(3)]
    state = fold([*bars,
                  ModeChanged(trace_id="", ts_event=T0, strategy="ema", mode="canary",
                              reason="promoted"),
                  ModeChanged(trace_id="", ts_event=T0, strategy="ema", mode="live",
                              reason="promoted")])
    assert state.last_bars[SYMBOL] == bars[-1]
    assert state.modes["ema"] is TradingMode.LIVE


def test_commands_change_nothing_but_the_count() -> None:
    state = fold([CancelOrder(trace_id="a", ts_event=T0, client_key=client_key("a"),
                              broker_order_id="b1")])
    assert state.events_applied == 1
    assert state.orders == {} and state.discrepancies == []


# --- determinism ------------------------------------------------------------------------------

def test_fold_with_reduce_equals_fold() -> None:
    messages = sample_session(5)
    assert state_hash(functools.reduce(apply, messages, LiveState())) == \
        state_hash(fold(messages))


def test_sample_session_folds_without_discrepancies() -> None:
    state = fold(sample_session(6))
    assert state.discrepancies == []
    assert len(in_doubt_orders(state)) == 1
    assert state.stats["ema_cross"].trades == 3
    assert state.stats["ema_cross"].realised_pnl_inr == pytest.approx(3 * 75 * 1.75)


def test_different_states_have_different_hashes() -> None:
    messages = sample_session(3)
    assert state_hash(fold(messages)) != state_hash(fold(messages[:-1]))


def test_trading_state_hash_with_a_kill_switch_pulled_differs() -> None:
    messages = sample_session(3)
    pulled = KillSwitchChanged(trace_id="", ts_event=T0, scope="all", mode=KillMode.HALT,
                               actor="ops", reason="K1: test")
    assert trading_state_hash(fold([*messages, pulled])) != \
        trading_state_hash(fold(messages))


def test_trading_state_hash_ignores_restart_bookkeeping() -> None:
    messages = sample_session(3)
    restart = ModeChanged(trace_id="", ts_event=T0, strategy="ema_cross", mode="live",
                          reason="runner started with v1")
    assert trading_state_hash(fold([*messages, restart])) == \
        trading_state_hash(fold(messages))
    assert state_hash(fold([*messages, restart])) != state_hash(fold(messages))


def test_two_replays_of_one_journal_give_the_same_hash_as_the_live_fold(
        tmp_path: Path) -> None:
    messages = sample_session(8)
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}", clock=lambda: T0)
    journal.append_many(messages)
    live = state_hash(fold(messages))
    assert state_hash(replay(journal)) == state_hash(replay(journal)) == live


def test_replay_after_reopening_the_journal_gives_the_same_hash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    messages = sample_session(8)
    first = open_journal(url, clock=lambda: T0)
    for start in range(0, len(messages), 7):
        first.append_many(messages[start:start + 7])
    before = state_hash(replay(first))
    first.engine.dispose()
    reopened = open_journal(url)
    assert reopened.verify().ok
    assert state_hash(replay(reopened)) == before
