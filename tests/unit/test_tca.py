"""TCA checked against a hand computation on a small real SQLite journal.

The journal (events appended to a real journal, as the runner appends them):

* NIFTY 1-minute bars labelled 10:00 + i (i = 0..19): close 100 + i, high close + 1, low
  close - 1, volume 10 (so each bar's typical price (H + L + C) / 3 equals its close);
* trace ``trA``: a long entry signalled on the 10:00 bar (decision price P_d = 100), worked
  by an execution algo as two children of a 100-unit parent (``parent_qty`` 100):
  ``trA-c0`` intended at 10:01 (arrival 101), 40 units filled at 10:02 @ 102.5 (the fill is
  journaled twice, one trade id: counted once); ``trA-c1`` intended at 10:03 (arrival 103),
  30 of its 40 units filled at 10:05 @ 104.5; 30 units never filled;
* a ``TradeExited`` of the trace with a realised P&L of 1000 INR.

Hand computation (buy: s = +1):

* child c0: slippage = (102.5 - 101) x 40 = 60 INR = 60 / (101 x 40) x 1e4 = 148.5149 bps;
  market at the fill (close of the 10:01 bar, the last closed by 10:02) = 101, so
  timing = (101 - 101) x 40 = 0, impact = 60; VWAP of bars (10:01, 10:02] = 102, VWAP
  slippage = (102.5 - 102) / 102 x 1e4 = 49.0196 bps; markouts: 1 bar (close of the 10:02
  bar 102) = (102 - 102.5) x 40 = -20, 5 bars (10:06 close 106) = 3.5 x 40 = 140,
  15 bars (10:16 close 116) = 13.5 x 40 = 540;
* child c1: slippage = (104.5 - 103) x 30 = 45 INR; market at 10:05 = close 10:04 = 104:
  timing = (104 - 103) x 30 = 30, impact = (104.5 - 104) x 30 = 15; VWAP of 10:04, 10:05
  = 104.5, VWAP slippage 0; markouts 1 bar = (105 - 104.5) x 30 = 15, 15 bars (10:19 close
  119) = 14.5 x 30 = 435;
* parent: avg fill = (102.5 x 40 + 104.5 x 30) / 70 = 7235 / 70; delay = (101 - 100) x 70
  = 70; timing = c1's drift since the parent's arrival (103 - 101) x 30 = 60, plus c1's
  timing 30 = 90; impact = 60 + 15 = 75; opportunity = (119 - 100) x 30 = 570 (119: the
  day's last close); shortfall = 70 + 90 + 75 + 570 = 805 INR, on a paper notional of
  100 x 100 = 10 000 INR: 805 bps; fill rate 70 / 100 = 0.7; arrival slippage
  = (7235/70 - 101) x 70 = 165 INR;
* day: gross P&L = realised 1000 + shortfall 805 = 1805; cost share = 805 / 1805.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live.broker import OrderType, Side
from live.events import (
    BarClosed,
    Message,
    OrderFilled,
    OrderIntended,
    SignalRaised,
    SignalSide,
    TradeExited,
    TradingMode,
)
from live.journal import open_journal
from live.tca.daily import ALL_ALGOS
from live.tca.extract import TcaTables, tca_tables
from live.tca.metrics import Bar, BarPath, Child, Fill, Parent, child_tca, parent_tca

IST = timezone(timedelta(hours=5, minutes=30))
DAY = date(2025, 3, 3)


def at(minute: int) -> datetime:
    return datetime(2025, 3, 3, 10, minute, tzinfo=IST)


def intent(key: str, minute: int, qty: int) -> OrderIntended:
    return OrderIntended(trace_id="trA", ts_event=at(minute), client_key=key,
                         strategy="ema_cross", version="3", symbol="NIFTY", exchange="NFO",
                         side=Side.BUY, qty=qty, order_type=OrderType.MARKET,
                         mode=TradingMode.CANARY, parent_qty=100)


def fill(key: str, minute: int, qty: int, price: float, trade: str) -> OrderFilled:
    return OrderFilled(trace_id="trA", ts_event=at(minute), client_key=key,
                       broker_order_id="B" + key, trade_id=trade, symbol="NIFTY",
                       side=Side.BUY, qty=qty, price=price)


def events() -> list[Message]:
    out: list[Message] = [BarClosed(trace_id="", ts_event=at(i), symbol="NIFTY",
                                    open=100.0 + i, high=101.0 + i, low=99.0 + i,
                                    close=100.0 + i, volume=10.0) for i in range(20)]
    out += [SignalRaised(trace_id="trA", ts_event=at(0), strategy="ema_cross", version="3",
                         symbol="NIFTY", side=SignalSide.LONG, reason="entry"),
            intent("trA-c0", 1, 40), fill("trA-c0", 2, 40, 102.5, "T1"),
            fill("trA-c0", 2, 40, 102.5, "T1"),  # the same trade seen twice
            intent("trA-c1", 3, 40), fill("trA-c1", 5, 30, 104.5, "T2"),
            TradeExited(trace_id="trA", ts_event=at(19), strategy="ema_cross",
                        symbol="NIFTY", reason="closed", pnl_inr=1000.0)]
    return sorted(out, key=lambda m: m.ts_event)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> TcaTables:
    path = tmp_path_factory.mktemp("tca") / "journal.db"
    journal = open_journal(f"sqlite:///{path}")
    journal.append_many(events(), ts_record=at(30))
    return tca_tables(journal, DAY)


def test_tca_algo_children_group_into_one_parent(tables: TcaTables) -> None:
    assert [(p.parent_id, p.algo, p.target_qty) for p in tables.parents] == \
        [("trA/BUY", "algo", 100)]


def test_tca_child_arrival_slippage_matches_hand_computation(tables: TcaTables) -> None:
    c0, c1 = tables.children
    assert (c0.arrival_slippage_inr, c1.arrival_slippage_inr) == pytest.approx((60.0, 45.0))
    assert c0.arrival_slippage_bps == pytest.approx(60 / (101 * 40) * 1e4)


def test_tca_duplicate_trade_id_counts_once(tables: TcaTables) -> None:
    assert tables.children[0].filled_qty == 40


def test_tca_child_timing_and_impact_split_at_the_market_path(tables: TcaTables) -> None:
    c0, c1 = tables.children
    assert (c0.timing_inr, c0.impact_inr) == pytest.approx((0.0, 60.0))
    assert (c1.timing_inr, c1.impact_inr) == pytest.approx((30.0, 15.0))


def test_tca_child_vwap_slippage_matches_hand_computation(tables: TcaTables) -> None:
    c0, c1 = tables.children
    assert c0.vwap_slippage_bps == pytest.approx(0.5 / 102 * 1e4)
    assert c1.vwap_slippage_bps == pytest.approx(0.0, abs=1e-9)


def test_tca_child_markouts_match_hand_computation(tables: TcaTables) -> None:
    c0, c1 = tables.children
    assert [c0.markout_inr[k] for k in (1, 5, 15)] == pytest.approx([-20.0, 140.0, 540.0])
    assert [c1.markout_inr[k] for k in (1, 15)] == pytest.approx([15.0, 435.0])


def test_tca_parent_shortfall_decomposes_as_perold(tables: TcaTables) -> None:
    (p,) = tables.parents
    assert (p.decision_price, p.arrival_price, p.end_price) == (100.0, 101.0, 119.0)
    got = (p.delay_inr, p.timing_inr, p.impact_inr, p.opportunity_inr, p.shortfall_inr)
    assert got == pytest.approx((70.0, 90.0, 75.0, 570.0, 805.0))
    assert p.shortfall_bps == pytest.approx(805.0)


def test_tca_parent_fill_rate_and_arrival_slippage(tables: TcaTables) -> None:
    (p,) = tables.parents
    assert p.fill_rate == pytest.approx(0.7)
    assert p.avg_fill_price == pytest.approx(7235 / 70)
    assert p.arrival_slippage_inr == pytest.approx(165.0)


def test_tca_day_cost_share_of_gross_pnl(tables: TcaTables) -> None:
    row = next(r for r in tables.days if r.algo == ALL_ALGOS)
    assert (row.realised_pnl_inr, row.gross_pnl_inr) == pytest.approx((1000.0, 1805.0))
    assert row.cost_share == pytest.approx(805 / 1805)


def test_tca_day_rows_split_by_algo(tables: TcaTables) -> None:
    assert [(r.strategy, r.version, r.algo) for r in tables.days] == \
        [("ema_cross", "3", "algo"), ("ema_cross", "3", ALL_ALGOS)]


def test_tca_other_day_has_no_rows(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    journal.append_many(events(), ts_record=at(30))
    assert tca_tables(journal, date(2025, 3, 4)).to_json()["daily"] == []


prices = st.floats(min_value=50.0, max_value=150.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(side=st.sampled_from([1, -1]), fills=st.lists(
    st.tuples(st.integers(1, 10), st.integers(1, 20), prices), min_size=0, max_size=4),
    unfilled=st.integers(0, 30))
def test_tca_shortfall_components_sum_to_paper_minus_real(
        side: int, fills: list[tuple[int, int, float]], unfilled: int) -> None:
    """delay + timing + impact + opportunity = s·(avg − P_d)·q + s·(P_end − P_d)·(Q − q)."""
    bars = [Bar(at(i), 101.0 + i % 7, 99.0, 100.0 + (i * 37) % 11, 5.0) for i in range(30)]
    path = BarPath(bars)
    done = tuple(Fill(at(m), q, p) for m, q, p in sorted(fills))
    qty = sum(f.qty for f in done) + unfilled
    if qty == 0:
        return
    child = Child(client_key="k", parent_id="p", trace_id="t", strategy="s", version="1",
                  symbol="X", side=side, qty=qty, ts=at(0), algo="market", fills=done)
    parent = Parent(parent_id="p", trace_id="t", strategy="s", version="1", symbol="X",
                    side=side, algo="market", decision_ts=at(0), target_qty=qty,
                    children=(child,))
    row = parent_tca(parent, path, [child_tca(child, path)])
    decision, end = path.close_at(at(0)), path.last_close_on(DAY)
    assert decision is not None and end is not None
    expected = side * (end - decision) * unfilled + sum(
        side * (f.price - decision) * f.qty for f in done)
    assert row.shortfall_inr == pytest.approx(expected, abs=1e-6)


def test_tca_markout_past_the_days_last_bar_is_none() -> None:
    """A fill on the day's last bar has no 5-bar markout, even with the next day's bars."""
    today = [Bar(at(i), 101.0, 99.0, 100.0, 1.0) for i in range(3)]
    tomorrow = [Bar(at(i) + timedelta(days=1), 101.0, 99.0, 100.0, 1.0) for i in range(10)]
    path = BarPath(today + tomorrow)
    assert path.close_after(at(2), 1) == 100.0
    assert path.close_after(at(2), 5) is None


def test_tca_protective_stop_slips_against_its_trigger_and_untriggered_target_is_ignored(
        tmp_path: Path) -> None:
    """A stop SELL 10 triggered at 110 fills at 109.5: s = -1, slippage = -1 x (109.5 - 110)
    x 10 = 5 INR, shortfall 5 INR (decision = arrival = the trigger); its OCO target (a
    LIMIT at 120) never fills: no parent, no opportunity cost."""
    def protective(key: str, order_type: OrderType, *, trigger_price: float | None = None,
                   limit_price: float | None = None) -> OrderIntended:
        return OrderIntended(trace_id="trA", ts_event=at(3), client_key=key,
                             strategy="ema_cross", version="3", symbol="NIFTY",
                             exchange="NFO", side=Side.SELL, qty=10, order_type=order_type,
                             mode=TradingMode.CANARY, after_trade="T1", oco_group="g1",
                             trigger_price=trigger_price, limit_price=limit_price)

    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    bars = [m for m in events() if isinstance(m, BarClosed)]
    journal.append_many([*bars, protective("stop1", OrderType.SL_M, trigger_price=110.0),
                         protective("target1", OrderType.LIMIT, limit_price=120.0),
                         OrderFilled(trace_id="trA", ts_event=at(10), client_key="stop1",
                                     broker_order_id="B1", trade_id="T9", symbol="NIFTY",
                                     side=Side.SELL, qty=10, price=109.5)], ts_record=at(30))
    (parent,) = tca_tables(journal, DAY).parents
    assert (parent.parent_id, parent.algo, parent.target_qty) == ("stop1", "protective", 10)
    assert (parent.arrival_slippage_inr, parent.shortfall_inr) == pytest.approx((5.0, 5.0))


def test_tca_an_algo_parent_is_named_by_its_algo_and_owes_its_unsent_remainder(
        tmp_path: Path) -> None:
    from live.events import ParentOrderStarted

    bars = [BarClosed(trace_id="", ts_event=at(i), symbol="NIFTY", open=100.0, high=101.0,
                      low=99.0, close=100.0 + i, volume=10.0) for i in range(6)]
    started = ParentOrderStarted(
        trace_id="trA", ts_event=at(0), strategy="ema_cross", version="3", symbol="NIFTY",
        side=Side.BUY, qty=150, lot_size=50, algo='{"name": "twap", "child_count": 3}',
        arrival_price=100.0, deadline=at(5), schedule=("50@a", "50@b", "50@c"))
    child = OrderIntended(trace_id="trA", ts_event=at(1), client_key="k2000000",
                          strategy="ema_cross", version="3", symbol="NIFTY", exchange="NFO",
                          side=Side.BUY, qty=50, order_type=OrderType.LIMIT, limit_price=101.0,
                          mode=TradingMode.CANARY)
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    journal.append_many([*bars[:1], started, *bars[1:2], child, fill("k2000000", 2, 50, 101.0,
                                                                      "T9"), *bars[2:]],
                        ts_record=at(30))
    (parent,) = tca_tables(journal, DAY).parents
    # 50 of 150 filled: the 100 never sent are opportunity cost at the last close (105 - 100)
    assert (parent.algo, parent.target_qty, parent.filled_qty) == ("twap", 150, 50)
    assert parent.opportunity_inr == pytest.approx(100 * 5.0)
