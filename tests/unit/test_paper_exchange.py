"""The paper exchange's own behaviour: its fill model, refusals, fault injection, persistence
and determinism (the Broker contract itself is in ``test_broker_conformance.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from live.adapters.paper import (
    BrokerUnavailableError,
    FillModel,
    FillModelError,
    InvalidBarError,
    PaperConfigError,
    PaperExchange,
    set_faults,
)
from live.adapters.paper.positions import Book
from live.broker import BrokerInputError, OrderRequest, OrderState, OrderType, Outcome, Side
from live.db import make_engine
from tests.doubles import submitted_count

REPO_ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BANKNIFTY25JANFUT"
T0 = datetime(2025, 1, 6, 9, 15, tzinfo=ZoneInfo("Asia/Kolkata"))
SLIP = 2 * 0.05


def _exchange(path: Path, *, seed: int = 1, **model: object) -> PaperExchange:
    fill_model = FillModel(slippage_ticks=2, tick_size=0.05, **model)  # type: ignore[arg-type]
    return PaperExchange(make_engine(f"sqlite:///{path}"), seed=seed, fill_model=fill_model)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "paper.db"


def _bar(ex: PaperExchange, minute: int, o: float, h: float | None = None,
         lo: float | None = None, c: float | None = None) -> None:
    c = o if c is None else c
    h = max(o, c) + 1.0 if h is None else h
    lo = min(o, c) - 1.0 if lo is None else lo
    ex.on_bar(SYMBOL, T0 + timedelta(minutes=minute), o, h, lo, c)


def _order(key: str, side: Side = Side.BUY, qty: int = 1, **kwargs: object) -> OrderRequest:
    return OrderRequest(client_key=key, symbol=SYMBOL, exchange="NFO", side=side, qty=qty,
                        **kwargs)  # type: ignore[arg-type]


def _prices(ex: PaperExchange) -> list[float]:
    return [f.price for f in ex.fills()]


# ---- fill model ------------------------------------------------------------------------


def test_market_buy_fills_at_next_open_plus_slippage(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("b"))
    _bar(ex, 1, 110.0)
    assert _prices(ex) == [pytest.approx(110.0 + SLIP)]


def test_market_sell_fills_at_next_open_minus_slippage(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("s", Side.SELL))
    _bar(ex, 1, 110.0)
    assert _prices(ex) == [pytest.approx(110.0 - SLIP)]


def test_next_open_mode_does_not_fill_at_submit(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("b"))
    assert ex.fills() == []


def test_close_mode_fills_at_signal_bar_close_plus_slippage(db: Path) -> None:
    ex = _exchange(db, fill="close")
    _bar(ex, 0, 100.0, c=104.0)
    ex.submit(_order("b"))
    [fill] = ex.fills()
    assert (fill.price, fill.ts) == (pytest.approx(104.0 + SLIP), T0)


def test_latency_bars_delay_market_fill_to_later_open(db: Path) -> None:
    ex = _exchange(db, latency_bars=2)
    _bar(ex, 0, 100.0)
    ex.submit(_order("b"))
    _bar(ex, 1, 101.0)
    _bar(ex, 2, 102.0)
    _bar(ex, 3, 103.0)
    [fill] = ex.fills()
    assert (fill.price, fill.ts) == (pytest.approx(103.0 + SLIP), T0 + timedelta(minutes=3))


def test_partial_fill_takes_ceil_ratio_then_rest_next_bar(db: Path) -> None:
    ex = _exchange(db, partial_fill_ratio=0.5)
    _bar(ex, 0, 100.0)
    ex.submit(_order("b", qty=3))
    _bar(ex, 1, 101.0)
    after_first = ex.status(client_key="b")
    _bar(ex, 2, 102.0)
    assert after_first is not None and after_first.state is OrderState.OPEN
    assert [(f.qty, f.price) for f in ex.fills()] == [
        (2, pytest.approx(101.0 + SLIP)), (1, pytest.approx(102.0 + SLIP))]


def test_buy_limit_gapped_through_fills_at_open(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("l", order_type=OrderType.LIMIT, limit_price=98.0))
    _bar(ex, 1, 95.0)
    assert _prices(ex) == [95.0]


def test_buy_limit_touched_fills_at_limit_without_slippage(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("l", order_type=OrderType.LIMIT, limit_price=98.0))
    _bar(ex, 1, 100.0, lo=97.5)
    assert _prices(ex) == [98.0]


def test_sell_limit_not_reached_stays_open(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("l", Side.SELL, order_type=OrderType.LIMIT, limit_price=105.0))
    _bar(ex, 1, 100.0, h=104.9)
    report = ex.status(client_key="l")
    assert report is not None and (report.state, report.filled_qty) == (OrderState.OPEN, 0)


def test_sell_stop_market_triggers_on_low_at_trigger_minus_slippage(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("st", Side.SELL, order_type=OrderType.SL_M, trigger_price=97.0))
    _bar(ex, 1, 100.0, lo=97.5)
    _bar(ex, 2, 99.0, lo=96.0)
    assert _prices(ex) == [pytest.approx(97.0 - SLIP)]


def test_buy_stop_market_gapped_through_fills_at_open(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("st", order_type=OrderType.SL_M, trigger_price=103.0))
    _bar(ex, 1, 106.0)
    assert _prices(ex) == [pytest.approx(106.0 + SLIP)]


def test_buy_stop_limit_triggered_fills_at_trigger(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("sl", order_type=OrderType.SL, trigger_price=103.0, limit_price=104.0))
    _bar(ex, 1, 101.0, h=105.0)
    assert _prices(ex) == [103.0]


def test_invalid_bar_is_refused(db: Path) -> None:
    ex = _exchange(db)
    with pytest.raises(InvalidBarError, match="inconsistent"):
        ex.on_bar(SYMBOL, T0, 100.0, 99.0, 98.0, 100.0)


def test_fill_model_out_of_range_is_refused() -> None:
    with pytest.raises(FillModelError, match="partial_fill_ratio"):
        FillModel(partial_fill_ratio=1.5)


def test_replayed_bar_matches_nothing(db: Path) -> None:
    ex = _exchange(db, partial_fill_ratio=0.5)
    _bar(ex, 0, 100.0)
    ex.submit(_order("b", qty=4))
    _bar(ex, 1, 101.0)
    _bar(ex, 1, 101.0)
    assert [f.qty for f in ex.fills()] == [2]


# ---- positions ---------------------------------------------------------------------------


def test_book_flip_realises_closed_part_and_reopens_at_fill_price() -> None:
    book = Book().apply(Side.BUY, 2, 100.0).apply(Side.SELL, 4, 110.0)
    assert (book.net_qty, book.avg_price, book.realised_pnl) == (-2, 110.0, 20.0)


def test_realised_pnl_of_round_trip_is_exit_minus_entry(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("b", qty=2))
    _bar(ex, 1, 100.0)
    ex.submit(_order("s", Side.SELL, qty=2))
    _bar(ex, 2, 110.0)
    assert ex.realised_pnl(SYMBOL) == pytest.approx((110.0 - SLIP - (100.0 + SLIP)) * 2)


# ---- refusals ----------------------------------------------------------------------------


def _outcomes(ex: PaperExchange, keys: list[str]) -> dict[str, Outcome]:
    return {key: ex.submit(_order(key)).outcome for key in keys}


def test_reject_prob_answer_depends_on_key_not_call_order(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(20)]
    forward = _outcomes(_exchange(tmp_path / "a.db", reject_prob=0.5), keys)
    backward = _outcomes(_exchange(tmp_path / "b.db", reject_prob=0.5), keys[::-1])
    assert forward == backward
    assert set(forward.values()) == {Outcome.CONFIRMED, Outcome.REJECTED}


def test_reject_prob_differs_with_seed(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(20)]
    one = _outcomes(_exchange(tmp_path / "a.db", seed=1, reject_prob=0.5), keys)
    two = _outcomes(_exchange(tmp_path / "b.db", seed=2, reject_prob=0.5), keys)
    assert one != two


def test_qty_above_max_qty_is_rejected_with_reason(db: Path) -> None:
    ex = _exchange(db, max_qty=10)
    result = ex.submit(_order("big", qty=11))
    assert result.outcome is Outcome.REJECTED
    assert "max_qty 10" in result.reason


def test_unlisted_symbol_is_rejected(db: Path) -> None:
    ex = PaperExchange(make_engine(f"sqlite:///{db}"), seed=1, fill_model=FillModel(),
                       symbols={"NIFTY25JANFUT"})
    result = ex.submit(_order("x"))
    assert (result.outcome, result.reason) == (Outcome.REJECTED, f"unknown symbol {SYMBOL!r}")


def test_oco_group_over_32_chars_is_refused_by_the_request() -> None:
    with pytest.raises(BrokerInputError, match=r"oco_group 'g{33}': 1\.\.32 chars"):
        _order("k", oco_group="g" * 33)


def test_empty_after_trade_is_refused_by_the_request() -> None:
    with pytest.raises(BrokerInputError, match="after_trade ''"):
        _order("k", after_trade="")


def test_duplicate_client_key_is_rejected_as_duplicate_tag(db: Path) -> None:
    ex = _exchange(db)
    ex.submit(_order("dup"))
    again = ex.submit(_order("dup"))
    assert again.outcome is Outcome.REJECTED
    assert again.reason.startswith("duplicate tag")
    assert len(ex.orders()) == 1


def test_submitted_count_includes_rejected_duplicates(db: Path) -> None:
    ex = _exchange(db)
    ex.submit(_order("dup"))
    ex.submit(_order("dup"))
    assert (submitted_count(ex, "dup"), submitted_count(ex, "other")) == (2, 0)


def test_modify_qty_not_above_filled_is_rejected(db: Path) -> None:
    ex = _exchange(db, partial_fill_ratio=0.5)
    _bar(ex, 0, 100.0)
    order_id = ex.submit(_order("b", qty=4)).broker_order_id
    _bar(ex, 1, 100.0)
    assert order_id is not None
    assert ex.modify(order_id, qty=2).outcome is Outcome.REJECTED


def test_second_cancel_emits_no_event(db: Path) -> None:
    ex = _exchange(db)
    order_id = ex.submit(_order("l", order_type=OrderType.LIMIT, limit_price=1.0)).broker_order_id
    assert order_id is not None
    ex.cancel(order_id)
    events = ex.events()
    second = ex.cancel(order_id)
    assert second.reason.startswith("not open")
    assert ex.events() == events


# ---- faults ------------------------------------------------------------------------------


def test_drop_ack_returns_unknown_yet_order_exists(db: Path) -> None:
    ex = _exchange(db)
    ex.set_faults(drop_ack_next=1)
    result = ex.submit(_order("lost"))
    report = ex.status(client_key="lost")
    assert result.outcome is Outcome.UNKNOWN
    assert report is not None and report.state is OrderState.OPEN


def test_drop_ack_applies_to_next_n_submits_only(db: Path) -> None:
    ex = _exchange(db)
    ex.set_faults(drop_ack_next=2)
    outcomes = [ex.submit(_order(f"k{i}")).outcome for i in range(3)]
    assert outcomes == [Outcome.UNKNOWN, Outcome.UNKNOWN, Outcome.CONFIRMED]


def test_duplicate_fill_is_listed_twice_with_one_trade_id(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("b", qty=2))
    ex.set_faults(duplicate_fill_next=True)
    _bar(ex, 1, 100.0)
    fills = ex.fills()
    assert len(fills) == 2 and fills[0] == fills[1]
    assert [p.net_qty for p in ex.positions()] == [2]


def test_unavailable_commands_answer_unknown_and_apply_nothing(db: Path) -> None:
    ex = _exchange(db)
    ex.set_faults(unavailable=True)
    result = ex.submit(_order("b"))
    ex.set_faults(unavailable=False)
    assert result.outcome is Outcome.UNKNOWN
    assert ex.orders() == []


def test_unavailable_reports_raise(db: Path) -> None:
    ex = _exchange(db)
    ex.set_faults(unavailable=True)
    with pytest.raises(BrokerUnavailableError):
        ex.positions()


def test_faults_set_from_another_process_take_effect(db: Path) -> None:
    ex = _exchange(db)
    script = ("import sys; from live.db import make_engine; "
              "from live.adapters.paper import set_faults; "
              "set_faults(make_engine('sqlite:///' + sys.argv[1]), drop_ack_next=1)")
    subprocess.run([sys.executable, "-c", script, str(db)], cwd=REPO_ROOT, check=True)
    assert ex.submit(_order("b")).outcome is Outcome.UNKNOWN


def test_set_faults_through_engine_keeps_unnamed_settings(db: Path) -> None:
    ex = _exchange(db)
    ex.set_faults(duplicate_fill_next=True)
    faults = set_faults(make_engine(f"sqlite:///{db}"), drop_ack_next=3)
    assert (faults.drop_ack_next, faults.duplicate_fill_next) == (3, True)


# ---- protective orders (after_trade) -------------------------------------------------------


def _long_entry(ex: PaperExchange, o: float = 100.0, h: float | None = None,
                lo: float | None = None, c: float | None = None) -> str:
    """A market buy sent after bar 0, filled at bar 1's open ``o``; returns its trade id."""
    _bar(ex, 0, 100.0)
    ex.submit(_order("entry"))
    _bar(ex, 1, o, h, lo, c)
    [fill] = ex.fills()
    return fill.trade_id


def _stop(key: str, trigger: float, **kwargs: object) -> OrderRequest:
    return _order(key, Side.SELL, order_type=OrderType.SL_M, trigger_price=trigger, **kwargs)


def _target(key: str, limit: float, **kwargs: object) -> OrderRequest:
    return _order(key, Side.SELL, order_type=OrderType.LIMIT, limit_price=limit, **kwargs)


def _exit_fills(ex: PaperExchange) -> list[tuple[float, datetime]]:
    return [(f.price, f.ts) for f in ex.fills() if f.client_key != "entry"]


def test_after_trade_stop_hit_on_entry_bar_fills_at_trigger_minus_slippage(db: Path) -> None:
    ex = _exchange(db)
    trade = _long_entry(ex, 100.0, h=101.0, lo=96.0, c=99.0)
    ex.submit(_stop("sl", 97.0, after_trade=trade))
    assert _exit_fills(ex) == [(pytest.approx(97.0 - SLIP), T0 + timedelta(minutes=1))]


def test_after_trade_stop_above_entry_open_fills_at_the_open_minus_slippage(db: Path) -> None:
    ex = _exchange(db)
    trade = _long_entry(ex, 100.0, h=101.0, lo=99.0, c=100.5)  # gapped below the 102 stop
    ex.submit(_stop("sl", 102.0, after_trade=trade))
    assert _exit_fills(ex) == [(pytest.approx(100.0 - SLIP), T0 + timedelta(minutes=1))]


def test_after_trade_limit_target_hit_on_entry_bar_fills_at_limit_exactly(db: Path) -> None:
    ex = _exchange(db)
    trade = _long_entry(ex, 100.0, h=104.0, lo=99.0, c=101.0)
    ex.submit(_target("tp", 103.0, after_trade=trade))
    assert _exit_fills(ex) == [(103.0, T0 + timedelta(minutes=1))]


def test_after_trade_not_hit_on_entry_bar_works_from_next_bar(db: Path) -> None:
    ex = _exchange(db)
    trade = _long_entry(ex, 100.0, h=101.0, lo=99.0, c=100.0)
    ex.submit(_stop("sl", 97.0, after_trade=trade))
    _bar(ex, 2, 99.0, h=99.5, lo=96.0, c=98.0)
    assert _exit_fills(ex) == [(pytest.approx(97.0 - SLIP), T0 + timedelta(minutes=2))]


def test_after_trade_of_an_older_bar_waits_like_a_normal_order(db: Path) -> None:
    ex = _exchange(db)
    trade = _long_entry(ex, 100.0, h=101.0, lo=99.0, c=100.0)
    _bar(ex, 2, 99.0, h=99.5, lo=96.0, c=98.0)  # would hit the stop: not seen by it
    ex.submit(_stop("sl", 97.0, after_trade=trade))
    unfilled = _exit_fills(ex)
    _bar(ex, 3, 98.0, h=98.5, lo=96.5, c=97.5)
    assert unfilled == []
    assert _exit_fills(ex) == [(pytest.approx(97.0 - SLIP), T0 + timedelta(minutes=3))]


def test_after_trade_unknown_trade_waits_like_a_normal_order(db: Path) -> None:
    ex = _exchange(db)
    _long_entry(ex, 100.0, h=101.0, lo=96.0, c=99.0)
    ex.submit(_stop("sl", 97.0, after_trade="T99999999"))
    assert _exit_fills(ex) == []


def test_after_trade_of_a_limit_entry_waits_like_a_normal_order(db: Path) -> None:
    ex = _exchange(db)
    _bar(ex, 0, 100.0)
    ex.submit(_order("entry", order_type=OrderType.LIMIT, limit_price=99.0))
    _bar(ex, 1, 100.0, h=101.0, lo=96.0, c=99.0)  # the limit fills at 99, not the open
    [entry] = ex.fills()
    ex.submit(_stop("sl", 97.0, after_trade=entry.trade_id))
    assert _exit_fills(ex) == []


def test_after_trade_under_close_fill_model_waits(db: Path) -> None:
    ex = _exchange(db, fill="close")
    _bar(ex, 0, 100.0, h=101.0, lo=96.0, c=100.0)
    ex.submit(_order("entry"))
    [entry] = ex.fills()
    ex.submit(_stop("sl", 97.0, after_trade=entry.trade_id))
    report = ex.status(client_key="sl")
    assert report is not None and (report.state, report.filled_qty) == (OrderState.OPEN, 0)


def test_after_trade_with_latency_is_not_matched_on_entry_bar(db: Path) -> None:
    ex = _exchange(db, latency_bars=1)
    _bar(ex, 0, 100.0)
    ex.submit(_order("entry"))
    _bar(ex, 1, 100.0)
    _bar(ex, 2, 100.0, h=101.0, lo=96.0, c=99.0)  # entry fills at this open
    [entry] = ex.fills()
    ex.submit(_stop("sl", 97.0, after_trade=entry.trade_id))
    unfilled = _exit_fills(ex)
    _bar(ex, 3, 99.0, h=99.5, lo=96.0, c=98.0)
    assert unfilled == []
    assert _exit_fills(ex) == [(pytest.approx(97.0 - SLIP), T0 + timedelta(minutes=3))]


# ---- one-cancels-other ---------------------------------------------------------------------


def _bracket(ex: PaperExchange, stop: float, target: float) -> tuple[str, str]:
    """Stop and target of one OCO group, sent after bar 1; their broker order ids."""
    sl = ex.submit(_stop("sl", stop, oco_group="g1")).broker_order_id
    tp = ex.submit(_target("tp", target, oco_group="g1")).broker_order_id
    assert sl is not None and tp is not None
    return sl, tp


def test_oco_stop_fill_cancels_target_sibling_with_reason(db: Path) -> None:
    ex = _exchange(db)
    _long_entry(ex)
    sl, tp = _bracket(ex, 97.0, 105.0)
    _bar(ex, 2, 99.0, h=99.5, lo=96.0, c=98.0)
    target = ex.status(broker_order_id=tp)
    assert target is not None
    assert (target.state, target.reason) == (OrderState.CANCELLED, f"oco: {sl} filled")


def test_oco_sibling_cancel_is_an_exchange_event(db: Path) -> None:
    ex = _exchange(db)
    _long_entry(ex)
    sl, tp = _bracket(ex, 97.0, 105.0)
    _bar(ex, 2, 99.0, h=99.5, lo=96.0, c=98.0)
    [event] = [e for e in ex.events() if e.kind == "cancelled"]
    assert (event.broker_order_id, event.ts) == (tp, T0 + timedelta(minutes=2))
    assert f'"oco: {sl} filled"' in event.detail


def test_oco_both_siblings_touched_on_one_bar_only_older_fills(db: Path) -> None:
    ex = _exchange(db)
    _long_entry(ex)
    sl, tp = _bracket(ex, 97.0, 105.0)
    _bar(ex, 2, 100.0, h=106.0, lo=96.0, c=100.0)
    assert [f.broker_order_id for f in ex.fills() if f.client_key != "entry"] == [sl]
    target = ex.status(broker_order_id=tp)
    assert target is not None and target.state is OrderState.CANCELLED


def test_oco_both_touched_the_stop_fills_even_when_the_target_is_older(db: Path) -> None:
    # The simulator takes the stop when one bar touches both levels; a stop re-placed after
    # its target (a throttled retry) must not turn that bar into a target fill on paper.
    ex = _exchange(db)
    _long_entry(ex)
    tp = ex.submit(_target("tp", 105.0, oco_group="g1")).broker_order_id
    sl = ex.submit(_stop("sl", 97.0, oco_group="g1")).broker_order_id
    _bar(ex, 2, 100.0, h=106.0, lo=96.0, c=100.0)
    assert [f.broker_order_id for f in ex.fills() if f.client_key != "entry"] == [sl]
    target = ex.status(broker_order_id=tp)
    assert target is not None and target.state is OrderState.CANCELLED


def test_oco_request_into_filled_group_is_rejected(db: Path) -> None:
    ex = _exchange(db)
    trade = _long_entry(ex, 100.0, h=101.0, lo=96.0, c=99.0)
    ex.submit(_stop("sl", 97.0, after_trade=trade, oco_group="g1"))
    result = ex.submit(_target("tp", 105.0, after_trade=trade, oco_group="g1"))
    report = ex.status(client_key="tp")
    assert (result.outcome, result.reason) == (Outcome.REJECTED, "oco group g1 already filled")
    assert report is not None and report.state is OrderState.REJECTED


def test_oco_group_of_another_symbol_is_independent(db: Path) -> None:
    ex = _exchange(db)
    _long_entry(ex)
    ex.submit(_stop("sl", 97.0, oco_group="g1"))
    other = OrderRequest(client_key="other", symbol="NIFTY25JANFUT", exchange="NFO",
                         side=Side.BUY, qty=1, order_type=OrderType.LIMIT, limit_price=1.0,
                         oco_group="g1")
    ex.submit(other)
    _bar(ex, 2, 99.0, h=99.5, lo=96.0, c=98.0)
    report = ex.status(client_key="other")
    assert report is not None and report.state is OrderState.OPEN


# ---- persistence and determinism -----------------------------------------------------------


def test_second_exchange_on_same_db_sees_orders_and_continues_ids(db: Path) -> None:
    first = _exchange(db)
    _bar(first, 0, 100.0)
    first.submit(_order("a"))
    second = _exchange(db)
    _bar(second, 1, 101.0)
    result = second.submit(_order("b"))
    first_order = second.status(client_key="a")
    assert [o.client_key for o in second.orders()] == ["a", "b"]
    assert first_order is not None and first_order.filled_qty == 1
    assert result.broker_order_id == "P00000002"


def test_reopening_with_another_fill_model_is_refused(db: Path) -> None:
    _exchange(db)
    with pytest.raises(PaperConfigError):
        _exchange(db, fill="close")


def test_reopening_with_another_fill_model_names_the_store_and_what_differs(db: Path) -> None:
    _exchange(db)
    with pytest.raises(PaperConfigError) as caught:
        _exchange(db, fill="close")
    message = str(caught.value)
    assert str(db) in message and "fill_model=" in message and "seed=" not in message


def _session(path: Path) -> tuple[list[object], list[object]]:
    ex = _exchange(path, partial_fill_ratio=0.5, reject_prob=0.3, latency_bars=1)
    for minute in range(8):
        _bar(ex, minute, 100.0 + minute, c=100.5 + minute)
        ex.submit(_order(f"m{minute}", Side.BUY if minute % 2 else Side.SELL, qty=3))
    return list(ex.orders()), list(ex.fills())


def test_same_seed_same_calls_give_identical_orders_and_fills(tmp_path: Path) -> None:
    assert _session(tmp_path / "a.db") == _session(tmp_path / "b.db")


# ``paper_orders`` as the first version created it (no after_trade / oco_group).
OLD_ORDERS_DDL = """CREATE TABLE paper_orders (
    seq INTEGER NOT NULL PRIMARY KEY, broker_order_id VARCHAR(24) NOT NULL UNIQUE,
    client_key VARCHAR(32) NOT NULL UNIQUE, symbol VARCHAR(64) NOT NULL,
    exchange VARCHAR(16) NOT NULL, side VARCHAR(4) NOT NULL, order_type VARCHAR(8) NOT NULL,
    qty INTEGER NOT NULL, filled_qty INTEGER NOT NULL, filled_notional FLOAT NOT NULL,
    limit_price FLOAT, trigger_price FLOAT, triggered BOOLEAN NOT NULL,
    wait_bars INTEGER NOT NULL, state VARCHAR(12) NOT NULL, reason TEXT NOT NULL,
    updated_ts VARCHAR(40) NOT NULL)"""
# One OPEN buy limit at 90 of the first version (valid SQL on SQLite and PostgreSQL).
OLD_ORDER_ROW = (f"INSERT INTO paper_orders VALUES (1, 'P00000001', 'old', '{SYMBOL}', 'NFO', "
                 f"'BUY', 'LIMIT', 1, 0, 0.0, 90.0, NULL, false, 1, 'OPEN', '', "
                 f"'{T0.isoformat()}')")


def write_old_store(engine: sa.Engine) -> sa.Engine:
    """A store as the first version left it in ``engine``: ``paper_orders`` without the OCO
    columns, holding one order (SQLite and PostgreSQL)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(OLD_ORDERS_DDL)
        conn.exec_driver_sql(OLD_ORDER_ROW)
        conn.exec_driver_sql("CREATE TABLE paper_counters (name VARCHAR(16) PRIMARY KEY, "
                             "value INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO paper_counters VALUES ('order', 1)")
    return engine


def _old_store(path: Path) -> sa.Engine:
    return write_old_store(make_engine(f"sqlite:///{path}"))


def test_opening_an_old_store_adds_oco_columns_and_keeps_orders(db: Path) -> None:
    engine = _old_store(db)
    ex = _exchange(db)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("paper_orders")}
    old = ex.status(client_key="old")
    assert {"after_trade", "oco_group", "algo_id"} <= columns
    assert old is not None and old.algo_id is None  # an order stored before algo ids
    assert (old.broker_order_id, old.state, old.limit_price) == ("P00000001", OrderState.OPEN,
                                                                 90.0)


def test_upgraded_old_store_takes_oco_orders(db: Path) -> None:
    _old_store(db)
    ex = _exchange(db)
    result = ex.submit(_stop("sl", 97.0, oco_group="g1"))
    assert (result.outcome, result.broker_order_id) == (Outcome.CONFIRMED, "P00000002")
    assert [o.client_key for o in ex.orders()] == ["old", "sl"]


@given(steps=st.lists(st.tuples(st.sampled_from(["buy", "sell", "stop", "target", "bar",
                                                 "modify", "cancel", "other"]),
                                st.integers(0, 9)), max_size=30))
@settings(max_examples=25, deadline=None)
def test_orders_read_incrementally_equal_the_whole_book_read_afresh(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]) -> None:
    path = tmp_path_factory.mktemp("book") / "paper.db"
    ex, other = _exchange(path), _exchange(path)  # "other": another process's writes
    minute = 0
    _bar(ex, minute, 100.0)
    for n, (kind, pick) in enumerate(steps):
        keys = [o.broker_order_id for o in ex.orders()]
        if kind == "bar":
            minute += 1
            _bar(ex, minute, 100.0 + pick - 5, 106.0 + pick, 94.0 + pick - 5)
        elif kind in ("buy", "sell", "other"):
            venue = other if kind == "other" else ex
            venue.submit(_order(f"k{n}", Side.SELL if kind == "sell" else Side.BUY, 1 + pick))
        elif kind == "stop":
            ex.submit(_order(f"k{n}", Side.SELL, 1, order_type=OrderType.SL_M,
                             trigger_price=97.0 - pick, oco_group=f"g{pick % 2}"))
        elif kind == "target":
            ex.submit(_order(f"k{n}", Side.SELL, 1, order_type=OrderType.LIMIT,
                             limit_price=103.0 + pick, oco_group=f"g{pick % 2}"))
        elif keys and kind == "modify":
            other.modify(keys[pick % len(keys)], qty=1 + pick)
        elif keys:
            ex.cancel(keys[pick % len(keys)])
        assert ex.orders() == _exchange(path).orders() == other.orders()


_FILLS_IN_A_FRESH_PROCESS = """
import sys, tempfile
from pathlib import Path
from live.broker import OrderType, Side
from strategies import rules
from tests.unit.test_paper_exchange import _bar, _exchange, _order

kernels = (rules.slippage_points, rules.slipped, rules.limit_fill, rules.stop_fill)
assert all(not k.overloads for k in kernels), "loaded before the exchange was built"
with tempfile.TemporaryDirectory() as tmp:
    ex = _exchange(Path(tmp) / "paper.db")  # loads them (preload_fill_kernels)
    loaded = [sorted(map(str, k.overloads)) for k in kernels]
    _bar(ex, 0, 100.0)
    ex.submit(_order("entry", Side.BUY, 2))
    ex.submit(_order("stop", Side.SELL, 1, order_type=OrderType.SL_M, trigger_price=98.0))
    ex.submit(_order("sl", Side.SELL, 1, order_type=OrderType.SL, trigger_price=98.0,
                     limit_price=97.5))
    ex.submit(_order("target", Side.SELL, 1, order_type=OrderType.LIMIT, limit_price=103.0))
    for minute, (o, h, lo) in enumerate([(100.5, 101.0, 99.0), (99.0, 104.0, 96.0)], 1):
        _bar(ex, minute, o, h, lo)
    assert len(ex.fills()) >= 3, ex.fills()
    assert [sorted(map(str, k.overloads)) for k in kernels] == loaded, "a fill compiled more"
"""


def test_the_exchange_loads_the_fill_kernels_its_fills_use_when_built() -> None:
    # a fresh process: in this one, earlier tests have loaded them already
    done = subprocess.run([sys.executable, "-c", _FILLS_IN_A_FRESH_PROCESS], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
