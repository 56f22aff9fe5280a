"""Fills that do not match their intents, and P&L that prices do not explain: boundaries
and benign random flows (the P&L check against the real state fold)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from live.anomaly.base import (
    FILL_OUTSIDE_LIMIT,
    FILL_OVER_INTENT,
    FILL_SIDE_MISMATCH,
    FILL_UNKNOWN_ORDER,
    PNL_UNEXPLAINED,
    Finding,
)
from live.anomaly.fill_match import FillMatch
from live.anomaly.pnl_explained import PnlExplained
from live.broker import Side
from live.events import Message
from live.state import LiveState
from tests.anomaly_flows import T0, at, bar, fill, intent


def codes(detector: FillMatch, messages: list[Message]) -> list[str]:
    return [f.code for m in messages for f in detector.observe(m, T0)]


def test_fill_for_a_key_never_intended_is_alerted() -> None:
    order = intent(T0, "tr-a")
    assert codes(FillMatch(0.0), [fill(order, at(1), 100.0, key="soUNKNOWN")]) == \
        [FILL_UNKNOWN_ORDER]


def test_fill_one_unit_over_the_intent_is_alerted() -> None:
    order = intent(T0, "tr-a", qty=75)
    assert codes(FillMatch(0.0), [order, fill(order, at(1), 100.0, qty=75),
                                  fill(order, at(2), 100.0, qty=1, trade="t2")]) == \
        [FILL_OVER_INTENT]


def test_fill_exactly_the_intent_in_parts_is_not_alerted() -> None:
    order = intent(T0, "tr-a", qty=150)
    assert codes(FillMatch(0.0), [order, fill(order, at(1), 100.0, qty=75),
                                  fill(order, at(2), 100.0, qty=75, trade="t2")]) == []


def test_fill_reported_twice_counts_once() -> None:
    order = intent(T0, "tr-a", qty=75)
    assert codes(FillMatch(0.0), [order, fill(order, at(1), 100.0),
                                  fill(order, at(1), 100.0)]) == []


def test_fill_on_the_other_side_is_alerted() -> None:
    order = intent(T0, "tr-a", side=Side.BUY)
    assert codes(FillMatch(0.0), [order, fill(order, at(1), 100.0, side=Side.SELL)]) == \
        [FILL_SIDE_MISMATCH]


def test_buy_limit_filled_just_above_its_limit_plus_tolerance_is_alerted() -> None:
    order = intent(T0, "tr-a", limit=100.0)
    assert codes(FillMatch(0.05), [order, fill(order, at(1), 100.06)]) == [FILL_OUTSIDE_LIMIT]


def test_buy_limit_filled_at_its_limit_plus_tolerance_is_not_alerted() -> None:
    order = intent(T0, "tr-a", limit=100.0)
    assert codes(FillMatch(0.05), [order, fill(order, at(1), 100.05)]) == []


def test_sell_limit_filled_below_its_limit_is_alerted_above_is_not() -> None:
    order = intent(T0, "tr-a", side=Side.SELL, limit=100.0)
    assert codes(FillMatch(0.0), [order, fill(order, at(1), 99.95, qty=1)]) == \
        [FILL_OUTSIDE_LIMIT]
    other = intent(T0, "tr-b", side=Side.SELL, limit=100.0)
    assert codes(FillMatch(0.0), [other, fill(other, at(1), 100.5, trade="t9")]) == []


def run_pnl(messages: list[Message], state: LiveState | None = None,
            tolerance_inr: float = 1.0, tolerance_bps: float = 0.0) -> list[Finding]:
    """The messages folded into a real state, then shown to the detector (the runner's
    order: the state's sink before the detector's)."""
    state = state or LiveState()
    detector = PnlExplained(state, tolerance_inr, tolerance_bps)
    out: list[Finding] = []
    for m in messages:
        state.apply(m)
        out += detector.observe(m, T0)
    return out


def test_pnl_of_fills_and_price_moves_is_explained() -> None:
    buy = intent(at(0), "tr-a", qty=75)
    sell = intent(at(120), "tr-b", side=Side.SELL, qty=150)
    flow: list[Message] = [bar(at(0), 100.0), buy, fill(buy, at(60), 100.5),
                           bar(at(60), 101.0), bar(at(120), 99.0), sell,
                           fill(sell, at(180), 99.5, trade="t2"), bar(at(180), 98.0)]
    assert run_pnl(flow) == []


def _corrupted(gap_inr: float) -> list[Finding]:
    """A long of 75 whose average price is altered between two bars (as a bad snapshot
    restore would): the marked P&L moves by ``gap_inr`` with no price move or fill."""
    state = LiveState()
    buy = intent(at(0), "tr-a", qty=75)
    detector = PnlExplained(state, 1.0, 0.0)
    found: list[Finding] = []
    for m in [bar(at(0), 100.0), buy, fill(buy, at(30), 100.0), bar(at(60), 100.0)]:
        state.apply(m)
        found += detector.observe(m, T0)
    state.positions[("ema_cross", "NIFTY")].avg_price -= gap_inr / 75
    nxt = bar(at(120), 100.0)
    state.apply(nxt)
    return found + detector.observe(nxt, T0)


def test_pnl_moving_just_beyond_tolerance_unexplained_is_alerted() -> None:
    assert [f.code for f in _corrupted(1.01)] == [PNL_UNEXPLAINED]


def test_pnl_moving_within_tolerance_unexplained_is_not_alerted() -> None:
    assert _corrupted(0.99) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.floats(90.0, 110.0),
                          st.floats(90.0, 110.0)), min_size=1, max_size=40))
def test_pnl_random_fills_and_bars_are_always_explained(
        steps: list[tuple[int, float, float]]) -> None:
    """Any sequence of buys, sells and flips at any prices, marked at any closes: the fold's
    P&L is always what positions x price changes explain."""
    flow: list[Message] = [bar(T0, 100.0)]
    for i, (lots, price, close) in enumerate(steps):
        ts = T0 + timedelta(minutes=i + 1)
        if lots:
            order = intent(ts, f"tr-{i}", side=Side.BUY if lots > 0 else Side.SELL,
                           qty=abs(lots) * 75)
            flow += [order, fill(order, ts, round(price, 2), trade=f"t{i}")]
        flow.append(bar(ts + timedelta(seconds=30), round(close, 2)))
    assert run_pnl(flow, tolerance_inr=0.01) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 4), st.integers(1, 4),
                          st.floats(0.0, 5.0)), min_size=1, max_size=20))
def test_fills_within_their_intents_raise_nothing(
        orders: list[tuple[bool, int, int, float]]) -> None:
    """Limit orders of any side and size, each filled in parts that never exceed it, at
    its limit or better: no fill is a mismatch."""
    detector, flow = FillMatch(0.0), list[Message]()
    for i, (buy, lots, parts, better) in enumerate(orders):
        order = intent(at(i), f"tr-{i}", side=Side.BUY if buy else Side.SELL,
                       qty=lots * parts * 75, limit=100.0)
        price = 100.0 - better if buy else 100.0 + better
        flow.append(order)
        flow += [fill(order, at(i), price, qty=lots * 75, trade=f"t{i}-{p}")
                 for p in range(parts)]
    assert codes(detector, flow) == []
