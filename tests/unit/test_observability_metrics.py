"""The runner's metrics from journaled events: each event kind moves the metric it defines,
on a real bus behind a real journal and the state's fold (as the runner wires them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from live.broker import Outcome, Side
from live.bus import Envelope, JournalSink, MessageBus, StateSink
from live.events import (
    BarClosed,
    Event,
    KillMode,
    KillSwitchChanged,
    OrderIntended,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    RiskChecked,
    TradingMode,
)
from live.journal import Journal, open_journal
from live.observability.metrics import RunnerMetrics
from live.observability.reasons import REJECT_REASONS, reject_class
from live.risk.risk_report import Row
from live.state import LiveState

TS = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


class Clocks:
    """Settable wall and perf clocks (seconds)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def wall(self) -> float:
        return self.now


@pytest.fixture
def wired(tmp_path: Path) -> tuple[MessageBus, RunnerMetrics, Journal, Clocks]:
    clocks = Clocks()
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}", clock=lambda: TS)
    state = LiveState()
    bus = MessageBus()
    bus.subscribe_all(JournalSink(journal))
    bus.subscribe_all(StateSink(state))
    metrics = RunnerMetrics(wall=clocks.wall, perf=clocks.wall)
    metrics.attach(state, journal.head()[0])
    bus.subscribe_all(metrics)
    return bus, metrics, journal, clocks


def value(metrics: RunnerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def intent(key: str = "soAAAAAAAAAAAAAAAA") -> OrderIntended:
    return OrderIntended(trace_id="tr1", ts_event=TS, client_key=key, strategy="ema_cross",
                         version="1", symbol="NIFTY", exchange="NFO", side=Side.BUY, qty=75,
                         order_type=OrderType.MARKET, mode=TradingMode.LIVE)


def publish(bus: MessageBus, *events: Event) -> None:
    for event in events:
        bus.publish(event)


def test_metrics_kill_switch_change_sets_its_scope_level(wired: tuple) -> None:
    bus, metrics, _, _ = wired
    publish(bus, KillSwitchChanged(trace_id="", ts_event=TS, scope="ema_cross",
                                   mode=KillMode.HALT, actor="ops", reason="drill"))
    assert value(metrics, "stratops_kill_switch_state", scope="ema_cross") == 2


def test_metrics_kill_switch_of_the_recovered_state_shows_at_the_first_turn(
        wired: tuple) -> None:
    _bus, metrics, _, _ = wired
    state = LiveState()
    state.kill_switches["all"] = KillMode.FLATTEN
    metrics.attach(state, 0)
    assert value(metrics, "stratops_kill_switch_state", scope="all") is None
    metrics.tick(bar=False)
    assert value(metrics, "stratops_kill_switch_state", scope="all") == 3


def test_metrics_risk_denial_counts_by_its_check_and_a_pass_does_not(wired: tuple) -> None:
    bus, metrics, _, _ = wired
    check = {"trace_id": "tr1", "ts_event": TS, "strategy": "ema_cross", "symbol": "NIFTY"}
    publish(bus, RiskChecked(**check, passed=False, check="max_open_orders", reason="5 > 4"),
            RiskChecked(**check, passed=True, check="all", reason=""))
    assert value(metrics, "stratops_orders_denied_total", strategy="ema_cross",
                 check="max_open_orders") == 1
    assert value(metrics, "stratops_orders_denied_total", strategy="ema_cross",
                 check="all") is None


def test_metrics_broker_rejection_is_labelled_by_a_bounded_class(wired: tuple) -> None:
    bus, metrics, _, _ = wired
    publish(bus, intent("soAAAAAAAAAAAAAAAA"), intent("soBBBBBBBBBBBBBBBB"),
            OrderSubmitted(trace_id="tr1", ts_event=TS, client_key="soAAAAAAAAAAAAAAAA",
                           broker_order_id=None, outcome=Outcome.REJECTED,
                           reason="Insufficient margin: required 1,23,456.70"),
            OrderRejected(trace_id="tr1", ts_event=TS, client_key="soBBBBBBBBBBBBBBBB",
                          reason="RMS:Blocked for order ref 77123"))
    assert value(metrics, "stratops_orders_rejected_total", strategy="ema_cross",
                 stage="submit", reason="margin") == 1
    assert value(metrics, "stratops_orders_rejected_total", strategy="ema_cross",
                 stage="exchange", reason="other") == 1
    assert value(metrics, "stratops_orders_sent_total", strategy="ema_cross",
                 outcome="rejected") == 1


@pytest.mark.parametrize(("reason", "expected"), [
    ("Insufficient funds", "margin"), ("Too many requests", "rate_limit"),
    ("Price is outside the circuit limits", "price"),
    ("Quantity above the freeze quantity", "quantity"), ("Market closed", "session"),
    ("paper exchange unavailable", "connection"), ("anything else at all", "other"),
])
def test_reject_class_of_a_reason_is_one_of_the_known_classes(reason: str,
                                                              expected: str) -> None:
    assert reject_class(reason) == expected and expected in REJECT_REASONS


def test_metrics_heartbeat_moves_only_when_the_loop_turns(wired: tuple) -> None:
    bus, metrics, _, clocks = wired
    metrics.tick(bar=False)
    clocks.now = 1_050.0
    publish(bus, BarClosed(trace_id="", ts_event=TS, symbol="NIFTY", open=1, high=2, low=1,
                           close=2, volume=10))  # events alone do not beat
    assert value(metrics, "stratops_heartbeat_timestamp_seconds") == 1_000.0
    metrics.tick(bar=True)
    assert value(metrics, "stratops_heartbeat_timestamp_seconds") == 1_050.0


def test_metrics_feed_staleness_and_journal_lag_age_with_the_wall_clock(
        wired: tuple) -> None:
    bus, metrics, journal, clocks = wired
    publish(bus, BarClosed(trace_id="", ts_event=TS, symbol="NIFTY", open=1, high=2, low=1,
                           close=2, volume=10))
    clocks.now += 7.5
    assert value(metrics, "stratops_feed_staleness_seconds", symbol="NIFTY") == 7.5
    assert value(metrics, "stratops_journal_lag_seconds") == 7.5
    assert value(metrics, "stratops_journal_head_seq") == journal.head()[0] == 1


def test_metrics_redelivered_envelope_counts_once(wired: tuple) -> None:
    _, metrics, _, _ = wired
    bar = BarClosed(trace_id="", ts_event=TS, symbol="NIFTY", open=1, high=2, low=1, close=2,
                    volume=10)
    envelope = Envelope("BarClosed", "bus:1", (bar,))
    metrics(envelope)
    metrics(envelope)
    assert value(metrics, "stratops_bars_total", symbol="NIFTY") == 1
    assert value(metrics, "stratops_journal_head_seq") == 1


def test_metrics_risk_rows_set_utilisation_of_rows_with_a_limit(wired: tuple) -> None:
    _, metrics, _, _ = wired
    rows = [Row("positions", "ema_cross NIFTY net lots", 3, 4), Row("stress", "crash", -5, None)]
    metrics.attach(LiveState(), 0, risk_rows=lambda: rows, risk_every_s=10)
    metrics.tick(bar=True)
    assert value(metrics, "stratops_risk_limit_utilisation", area="positions",
                 item="ema_cross NIFTY net lots") == 0.75
    assert value(metrics, "stratops_risk_limit_utilisation", area="stress",
                 item="crash") is None


def test_metrics_failed_risk_report_is_counted_and_keeps_the_last_rows(
        wired: tuple) -> None:
    _, metrics, _, clocks = wired
    answers: list[Callable[[], list[Row]]] = [lambda: [Row("margin", "total", 50, 100)]]

    def report() -> list[Row]:
        return answers[-1]()

    def broken() -> list[Row]:
        raise KeyError("NIFTY")

    metrics.attach(LiveState(), 0, risk_rows=report, risk_every_s=10)
    metrics.tick(bar=True)
    answers.append(broken)
    clocks.now += 5
    metrics.tick(bar=True)  # not due yet
    assert value(metrics, "stratops_risk_report_errors_total") == 0
    clocks.now += 6
    metrics.tick(bar=True)
    assert value(metrics, "stratops_risk_report_errors_total") == 1
    assert value(metrics, "stratops_risk_limit_utilisation", area="margin",
                 item="total") == 0.5


def test_metrics_risk_row_the_report_no_longer_has_is_removed(wired: tuple) -> None:
    _, metrics, _, clocks = wired
    reports = [[Row("portfolio", "VaR (no open positions)", 0.0, 100.0)],
               [Row("portfolio", "historical VaR 99%", 40.0, 100.0)]]
    metrics.attach(LiveState(), 0, risk_rows=lambda: reports[0], risk_every_s=1)
    metrics.tick(bar=True)
    reports.pop(0)
    clocks.now += 2
    metrics.tick(bar=True)
    assert value(metrics, "stratops_risk_limit_utilisation", area="portfolio",
                 item="VaR (no open positions)") is None
    assert value(metrics, "stratops_risk_limit_utilisation", area="portfolio",
                 item="historical VaR 99%") == 0.4
