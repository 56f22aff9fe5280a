"""The operator page's model of a journal (``stratops.ops_view.JournalView``): it follows
the journal as it grows, its P&L is the fold's net of each fill's charges, it stops at a
tampered row instead of showing numbers it cannot vouch for, and its trace view orders one
trace's entries with their latencies."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.broker import OrderType, Outcome, Side
from live.events import (
    AlertRaised,
    BarClosed,
    Message,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    Severity,
    TradingMode,
    client_key,
    new_trace_id,
)
from live.journal import Journal, open_journal
from live.state import replay
from strategies.costs import load_cost_rates, order_cost_breakdown
from stratops.ops_view import JournalView
from tests.chain_tamper import rechain_journal
from tests.unit.test_journal import sample_session

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 3, 3, 9, 30, tzinfo=IST)


def _journal(path: Path) -> Journal:
    return open_journal(f"sqlite:///{path / 'journal.db'}", clock=lambda: T0)


def _order(i: int, side: Side, price: float, *, fill_after_s: int = 2) -> list[Message]:
    ts = T0 + timedelta(minutes=i)
    trace = new_trace_id("ema_cross", "NIFTY", ts, i)
    key = client_key(trace)
    return [OrderIntended(trace_id=trace, ts_event=ts, client_key=key, strategy="ema_cross",
                          version="1", symbol="NIFTY", exchange="NFO", side=side, qty=75,
                          order_type=OrderType.MARKET, mode=TradingMode.LIVE),
            OrderSubmitted(trace_id=trace, ts_event=ts + timedelta(seconds=1), client_key=key,
                           broker_order_id=f"B{i}", outcome=Outcome.CONFIRMED),
            OrderFilled(trace_id=trace, ts_event=ts + timedelta(seconds=fill_after_s),
                        client_key=key, broker_order_id=f"B{i}", trade_id=f"T{i}",
                        symbol="NIFTY", side=side, qty=75, price=price)]


def _bar(i: int, close: float) -> BarClosed:
    return BarClosed(trace_id="", ts_event=T0 + timedelta(minutes=i), symbol="NIFTY",
                     open=close, high=close + 5, low=close - 5, close=close, volume=1000.0)


def _charges(side: Side, price: float) -> float:
    rates = load_cost_rates("index_future", on=T0.date())
    return order_cost_breakdown(rates, is_buy=side is Side.BUY,
                                notional_inr=75 * price).total_inr


def test_journal_view_net_pnl_is_realised_plus_marked_minus_every_fills_charges(
        tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.append_many([*_order(0, Side.BUY, 22_000.0), *_order(1, Side.SELL, 22_010.0),
                         *_order(2, Side.BUY, 22_020.0), _bar(3, 22_030.0)])
    view = JournalView(journal)
    view.poll()
    expected = 10.0 * 75 + 10.0 * 75 - sum(
        _charges(s, p) for s, p in ((Side.BUY, 22_000.0), (Side.SELL, 22_010.0),
                                    (Side.BUY, 22_020.0)))
    assert view.pnl()[0]["net_inr"] == pytest.approx(expected, abs=1e-9)


def test_journal_view_follows_rows_appended_after_a_poll(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.append_many(_order(0, Side.BUY, 22_000.0))
    view = JournalView(journal)
    view.poll()
    journal.append_many(_order(1, Side.SELL, 22_010.0))
    assert (view.poll(), [f.trade_id for f in view.fills]) == (3, ["T1", "T0"])


def test_journal_view_state_equals_the_replayed_journal(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.append_many(sample_session(12))
    view = JournalView(journal)
    view.poll()
    assert view.state == replay(journal)


def test_journal_view_stops_at_the_first_new_row_after_a_rechained_history(
        tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.append_many(_order(0, Side.BUY, 22_000.0))
    view = JournalView(journal)
    view.poll()
    journal.append_many(_order(1, Side.SELL, 22_010.0))
    rechain_journal(journal.engine, 2, lambda record: record["fields"].update(
        broker_order_id="B-forged"))
    view.poll()  # seq 1-3 were checked: seq 4 no longer chains on the hash seen for 3
    assert ((view.broken or "")[:25], len(view.fills)) == ("journal broken at seq 4: ", 1)


def test_journal_view_keeps_alerts_newest_first(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.append_many([AlertRaised(trace_id="", ts_event=T0 + timedelta(seconds=i),
                                     severity=Severity.WARNING, code=f"c{i}", message="m")
                         for i in range(3)])
    view = JournalView(journal)
    view.poll()
    assert [a["code"] for a in view.alerts] == ["c2", "c1", "c0"]


def test_journal_view_trace_lists_one_trace_in_order_with_event_latencies(
        tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    entry, other = _order(0, Side.BUY, 22_000.0, fill_after_s=3), _order(1, Side.SELL, 1.0)
    journal.append_many([*entry, *other])
    view = JournalView(journal)
    view.poll()
    trace = view.trace(entry[0].trace_id)
    assert [(e["kind"], e["since_start_ms"], e["since_prev_ms"]) for e in trace] == [
        ("OrderIntended", 0.0, 0.0), ("OrderSubmitted", 1000.0, 1000.0),
        ("OrderFilled", 3000.0, 2000.0)]
