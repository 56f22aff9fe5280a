"""Latency spikes: bar -> intent and intent -> confirmation against the budget and against
the robust z-score of recent samples."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from live.anomaly.base import (
    LATENCY_BAR_TO_INTENT,
    LATENCY_SUBMIT_TO_ACK,
    AnomalyThresholds,
    Finding,
)
from live.anomaly.latency import Latency
from tests.anomaly_flows import T0, at, bar, confirmed, intent

WALL = datetime(2026, 1, 5, 4, 0, tzinfo=T0.tzinfo)


def decide(detector: Latency, i: int, decision_ms: float, ack_ms: float) -> list[Finding]:
    """Bar ``i`` journaled, its order intended ``decision_ms`` later (wall time), confirmed
    ``ack_ms`` after that."""
    ts = at(60 * i)
    wall = WALL + timedelta(minutes=i)
    order = intent(ts, f"tr-{i}")
    found = detector.observe(bar(ts, 100.0), wall)
    wall += timedelta(milliseconds=decision_ms)
    found += detector.observe(order, wall)
    return found + detector.observe(confirmed(order), wall + timedelta(milliseconds=ack_ms))


def test_latency_decision_just_over_budget_is_a_spike() -> None:
    detector = Latency(AnomalyThresholds(bar_to_intent_budget_ms=500))
    assert [f.code for f in decide(detector, 0, 501, 1)] == [LATENCY_BAR_TO_INTENT]


def test_latency_decision_at_budget_is_not_a_spike() -> None:
    detector = Latency(AnomalyThresholds(bar_to_intent_budget_ms=500))
    assert decide(detector, 0, 500, 1) == []


def test_latency_ack_over_budget_is_a_spike_under_the_orders_trace() -> None:
    detector = Latency(AnomalyThresholds(submit_to_ack_budget_ms=800))
    found = decide(detector, 0, 1, 801)
    assert [(f.code, f.trace_id) for f in found] == [(LATENCY_SUBMIT_TO_ACK, "tr-0")]


def _history(detector: Latency, n: int) -> None:
    for i in range(n):  # decisions of 100 +- 10 ms: median 100, MAD 10
        assert decide(detector, i, 90.0 + 20.0 * (i % 2), 1.0) == []


def test_latency_robust_z_just_above_its_max_is_a_spike() -> None:
    t = AnomalyThresholds(latency_min_samples=10, latency_window=20, latency_z_max=6.0,
                          latency_floor_ms=50.0)
    detector = Latency(t)
    _history(detector, 10)
    # scale = 1.4826 x MAD(10) = 14.826 ms; z = 6 at 100 + 88.956 ms
    assert [f.code for f in decide(detector, 10, 189.0, 1.0)] == [LATENCY_BAR_TO_INTENT]


def test_latency_robust_z_just_below_its_max_is_not_a_spike() -> None:
    t = AnomalyThresholds(latency_min_samples=10, latency_window=20, latency_z_max=6.0,
                          latency_floor_ms=50.0)
    detector = Latency(t)
    _history(detector, 10)
    assert decide(detector, 10, 188.9, 1.0) == []


def test_latency_z_score_waits_for_min_samples() -> None:
    t = AnomalyThresholds(latency_min_samples=10, latency_window=20, latency_floor_ms=50.0)
    detector = Latency(t)
    _history(detector, 9)
    assert decide(detector, 9, 1000.0, 1.0) == []  # under the 2 s budget, 9 samples known


def test_latency_below_the_floor_is_never_a_z_spike() -> None:
    t = AnomalyThresholds(latency_min_samples=10, latency_window=20, latency_floor_ms=250.0)
    detector = Latency(t)
    _history(detector, 10)
    assert decide(detector, 10, 249.0, 1.0) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(5.0, 40.0), min_size=1, max_size=80))
def test_latency_steady_random_flows_raise_nothing(samples: list[float]) -> None:
    detector = Latency(AnomalyThresholds())  # default floor 250 ms, budgets 2 s / 3 s
    found = []
    for i, ms in enumerate(samples):
        found += decide(detector, i, ms, ms)
    assert found == []
