"""Stuck orders, duplicate signals, runaway order rate and flip-flopping: the case that just
triggers each detector and the one that just does not, and benign random flows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from live.anomaly.base import (
    DUPLICATE_SIGNAL,
    ORDER_RATE_RUNAWAY,
    ORDER_STUCK,
    SIGNAL_FLIP_FLOP,
    Finding,
)
from live.anomaly.duplicate_signals import DuplicateSignals
from live.anomaly.flip_flop import FlipFlop
from live.anomaly.order_rate import OrderRate
from live.anomaly.stuck_orders import StuckOrders
from live.broker import Side
from live.events import Message, SignalSide
from tests.anomaly_flows import T0, at, bar, confirmed, fill, intent, signal


def feed(detector: StuckOrders | DuplicateSignals | OrderRate | FlipFlop,
         messages: Sequence[Message]) -> list[Finding]:
    out: list[Finding] = []
    for m in messages:
        out += detector.observe(m, T0)
    return out


def test_stuck_order_working_past_budget_is_alerted_under_its_trace() -> None:
    order = intent(T0, "tr-a")
    found = feed(StuckOrders(300), [order, confirmed(order), bar(at(300.001), 100.0)])
    assert [(f.code, f.trace_id) for f in found] == [(ORDER_STUCK, "tr-a")]


def test_stuck_order_working_exactly_its_budget_is_not_alerted() -> None:
    order = intent(T0, "tr-a")
    assert feed(StuckOrders(300), [order, confirmed(order), bar(at(300), 100.0)]) == []


def test_stuck_order_alerted_once_per_order() -> None:
    order = intent(T0, "tr-a")
    found = feed(StuckOrders(60), [order, bar(at(61), 1.0), bar(at(120), 1.0),
                                   bar(at(180), 1.0)])
    assert len(found) == 1


def test_stuck_order_between_bars_is_found_by_tick() -> None:
    detector = StuckOrders(60)
    detector.observe(intent(T0, "tr-a"), T0)
    assert [f.code for f in detector.tick(at(61))] == [ORDER_STUCK]


def test_stuck_order_filled_in_budget_is_not_alerted() -> None:
    order = intent(T0, "tr-a")
    found = feed(StuckOrders(60), [order, fill(order, at(59), 100.0), bar(at(600), 1.0)])
    assert found == []


def test_stuck_order_partly_filled_is_still_working() -> None:
    order = intent(T0, "tr-a", qty=150)
    found = feed(StuckOrders(60), [order, fill(order, at(30), 100.0, qty=75),
                                   bar(at(61), 1.0)])
    assert [f.code for f in found] == [ORDER_STUCK]


def test_stuck_order_protective_stop_resting_is_never_stuck() -> None:
    stop = intent(T0, "tr-a", side=Side.SELL,
                  after_trade="t1")
    assert feed(StuckOrders(60), [stop, confirmed(stop), bar(at(3600), 1.0)]) == []


def test_duplicate_signal_same_bar_two_traces_is_alerted() -> None:
    found = feed(DuplicateSignals(), [signal(T0, SignalSide.LONG, "tr-a"),
                                      signal(T0, SignalSide.LONG, "tr-b")])
    assert [(f.code, f.trace_id) for f in found] == [(DUPLICATE_SIGNAL, "tr-b")]


def test_duplicate_signal_same_trace_again_is_the_replay_not_a_duplicate() -> None:
    assert feed(DuplicateSignals(), [signal(T0, SignalSide.LONG, "tr-a"),
                                     signal(T0, SignalSide.LONG, "tr-a")]) == []


def test_duplicate_signal_next_bar_or_other_side_is_not_a_duplicate() -> None:
    assert feed(DuplicateSignals(), [signal(T0, SignalSide.LONG, "tr-a"),
                                     signal(at(60), SignalSide.LONG, "tr-b"),
                                     signal(T0, SignalSide.FLAT, "tr-c")]) == []


def _orders(n: int, spacing_s: float) -> list[Message]:
    return [intent(at(i * spacing_s), f"tr-{i}") for i in range(n)]


def test_order_rate_one_over_the_limit_in_the_window_is_runaway() -> None:
    found = feed(OrderRate(60, 5), _orders(6, 10))  # 6 intents within 50 s
    assert [f.code for f in found] == [ORDER_RATE_RUNAWAY]


def test_order_rate_at_the_limit_is_not_runaway() -> None:
    assert feed(OrderRate(60, 5), _orders(5, 10)) == []


def test_order_rate_oldest_leaving_the_window_is_not_counted() -> None:
    assert feed(OrderRate(60, 5), _orders(6, 12)) == []  # the first is 60 s old at the 6th


def test_order_rate_alerted_once_until_the_rate_falls() -> None:
    detector = OrderRate(60, 2)
    flood = _orders(6, 1)
    later = [intent(at(600 + i), f"tr-late-{i}") for i in range(3)]
    assert len(feed(detector, flood)) == 1
    assert len(feed(detector, later)) == 1  # fell under at 600 s, runaway again


def _flips(n: int, spacing_s: float) -> list[Message]:
    sides = (SignalSide.LONG, SignalSide.SHORT)
    return [signal(at(i * spacing_s), sides[i % 2], f"tr-{i}") for i in range(n)]


def test_flip_flop_one_change_over_the_limit_is_alerted() -> None:
    found = feed(FlipFlop(1800, 4), _flips(6, 60))  # 5 changes in 5 minutes
    assert [f.code for f in found] == [SIGNAL_FLIP_FLOP]


def test_flip_flop_at_the_limit_is_not_alerted() -> None:
    assert feed(FlipFlop(1800, 4), _flips(5, 60)) == []  # 4 changes


def test_flip_flop_exits_and_same_direction_are_not_changes() -> None:
    messages: list[Message] = []
    for i in range(10):
        messages += [signal(at(i * 60), SignalSide.LONG, f"tr-{i}"),
                     signal(at(i * 60 + 30), SignalSide.FLAT, f"tr-x{i}")]
    assert feed(FlipFlop(1800, 1), messages) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 600), st.booleans(), st.integers(0, 200)),
                max_size=30))
def test_benign_flows_raise_nothing(steps: list[tuple[int, bool, int]]) -> None:
    """Orders spaced at least a minute apart, each filled inside its budget, signals one per
    bar on one trace each and never flipping: no detector here finds anything."""
    detectors = (StuckOrders(300), DuplicateSignals(), OrderRate(60, 2), FlipFlop(1800, 1))
    ts, found = T0, []
    for i, (gap, long_side, fill_after) in enumerate(steps):
        ts += timedelta(seconds=60 + gap)
        order = intent(ts, f"tr-{i}")
        side = SignalSide.LONG if long_side else SignalSide.FLAT  # entries never flip
        messages = [bar(ts, 100.0), signal(ts, side, f"tr-{i}"),
                    order, confirmed(order),
                    fill(order, ts + timedelta(seconds=fill_after), 100.0, trade=f"t{i}")]
        for d in detectors:
            found += feed(d, messages)
    assert found == []


def test_duplicate_signal_exits_on_two_legs_of_one_bar_are_not_duplicates() -> None:
    assert feed(DuplicateSignals(), [signal(T0, SignalSide.FLAT, "tr-flatten"),
                                     signal(T0, SignalSide.FLAT, "tr-exit")]) == []
