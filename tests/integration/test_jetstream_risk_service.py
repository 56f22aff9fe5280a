"""The risk service's rules over the real NATS JetStream server, in one process: a check is
answered over the state folded to exactly the position it names; a check the sender gave up
on (the fold is already past it) is not asked of the engine; with no risk service an entry
gets no answer (denied by the pipeline) while an exit is checked in the sender's process."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from live.bus import Envelope, MessageBus
from live.events import BarClosed, CheckRisk, RiskChecked
from live.risk.interface import OrderProposal, RiskDecision
from live.state import LiveState
from live.svc.mirror import record_id
from live.svc.remote_risk import LOCAL, RemoteRisk
from live.svc.risk import EVENTS_THROUGH, RiskService
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import COMMANDS, EVENTS, RISK, BusLayout
from tests.integration.jetstream import NATS_URL, layout

__all__ = ["layout"]
pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 3, 3, 45, tzinfo=UTC)


class CountingEngine:
    """Passes everything; remembers how many bars the state it was asked over had."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        self.asked.append((proposal.client_key, state.events_applied))
        return RiskDecision(True, "counted", "ok", warning="w1")

    def remember(self, proposal: OrderProposal) -> None:
        return None


def _bar(i: int) -> BarClosed:
    return BarClosed(trace_id="", ts_event=T0 + timedelta(minutes=i), symbol="NIFTY",
                     open=1.0, high=2.0, low=0.5, close=1.5, volume=1.0)


def _check(key: str, *, reduces: bool = False) -> CheckRisk:
    return CheckRisk(trace_id=f"t-{key}", ts_event=T0, check_id=f"{key}#1", strategy="s",
                     symbol="NIFTY", side=1, qty=75, reference_price=1.5,
                     reduces_exposure=reduces)


def _service(layout: BusLayout, engine: Any) -> tuple[RiskService, list[JetStreamTransport]]:
    commands = JetStreamTransport(NATS_URL, layout, publisher="risk", publishes=RISK,
                                  consumer=layout.consumer(COMMANDS, "risk", topic="CheckRisk"))
    events = JetStreamTransport(NATS_URL, layout, publisher="risk-s",
                                consumer=layout.consumer(EVENTS, "risk-state", from_start=True))
    return RiskService(engine, commands, events), [commands, events]


def _sender(layout: BusLayout) -> tuple[JetStreamTransport, JetStreamTransport]:
    """The execution side: its events mirror and its risk client's transport."""
    mirror = JetStreamTransport(NATS_URL, layout, publisher="exec", publishes=EVENTS)
    asker = JetStreamTransport(NATS_URL, layout, publisher="exec-r", publishes=COMMANDS,
                               consumer=layout.consumer(RISK, "exec-risk", topic="RiskChecked"))
    return mirror, asker


def test_risk_service_answers_at_the_named_position_and_skips_a_given_up_check(
        layout: BusLayout) -> None:
    mirror, asker = _sender(layout)
    engine = CountingEngine()
    service, transports = _service(layout, engine)
    try:
        for i in range(3):
            mirror.publish(Envelope(BarClosed.KIND, record_id(_bar(i)), (_bar(i),)))
        assert service.catch_up() == 3
        for i in range(3, 5):  # mirrored after the catch-up, before the check
            mirror.publish(Envelope(BarClosed.KIND, record_id(_bar(i)), (_bar(i),)))
        mirror.publish(Envelope(BarClosed.KIND, "again", (_bar(0),)))  # a restart's re-send
        through = mirror.stream_seq[EVENTS]
        mirror.publish(Envelope(BarClosed.KIND, record_id(_bar(5)), (_bar(5),)))  # after it
        for key, at in (("old", 2), ("new", through)):
            asker.publish(Envelope(CheckRisk.KIND, f"CheckRisk:{key}#1", (_check(key),)),
                          extra_headers={EVENTS_THROUGH: str(at)})
        handled = service.poll(1.0) + service.poll(0.3)
        assert handled == 1 and service.stale == 1
        # asked once, over exactly the five bars before the check: the re-sent one folded
        # once, the one mirrored after the check not yet
        assert engine.asked == [("new", 5)]
        answers = asker.fetch(8, 2.0)
        assert [a.envelope.message_id for a in answers] == ["RiskChecked:new#1"]
        assert answers[0].headers["Stratops-Risk-Decision"] == \
            '{"disable_strategy":false,"warning":"w1","notice":""}'
    finally:
        for t in (mirror, asker, *transports):
            t.close()


def test_remote_risk_without_a_service_denies_entries_and_checks_exits_locally(
        layout: BusLayout) -> None:
    events = JetStreamTransport(NATS_URL, layout, publisher="exec", publishes=EVENTS)
    risk_bus = JetStreamTransport(NATS_URL, layout, publisher="exec-r", publishes=COMMANDS,
                                  consumer=layout.consumer(RISK, "exec-risk",
                                                           topic="RiskChecked"))
    bus = MessageBus()
    journaled: list[RiskChecked] = []
    bus.subscribe(RiskChecked.KIND, journaled.append)  # type: ignore[arg-type]
    fallback = CountingEngine()
    remote = RemoteRisk(bus, fallback, LiveState(), risk_bus=risk_bus, events_bus=events,
                        deadline_seconds=0.2)
    try:
        bus.send(_check("entry"))
        bus.send(_check("exit", reduces=True))
        assert remote.answer("entry#1") is None and remote.unanswered == 2
        exit_answer = remote.answer("exit#1")
        assert exit_answer is not None and exit_answer.passed
        assert exit_answer.check == f"{LOCAL}counted" and fallback.asked == [("exit", 0)]
        assert [(r.check, r.passed) for r in journaled] == [(f"{LOCAL}counted", True)]
    finally:
        events.close()
        risk_bus.close()


def test_remote_risk_journals_the_services_answer(layout: BusLayout) -> None:
    events = JetStreamTransport(NATS_URL, layout, publisher="exec", publishes=EVENTS)
    risk_bus = JetStreamTransport(NATS_URL, layout, publisher="exec-r", publishes=COMMANDS,
                                  consumer=layout.consumer(RISK, "exec-risk",
                                                           topic="RiskChecked"))
    engine = CountingEngine()
    service, transports = _service(layout, engine)
    stop = threading.Event()

    def serve() -> None:
        service.catch_up(0.05)
        while not stop.is_set():
            service.poll(0.05)

    worker = threading.Thread(target=serve)
    worker.start()
    bus = MessageBus()
    journaled: list[RiskChecked] = []
    bus.subscribe(RiskChecked.KIND, journaled.append)  # type: ignore[arg-type]
    remote = RemoteRisk(bus, CountingEngine(), LiveState(), risk_bus=risk_bus,
                        events_bus=events, deadline_seconds=5.0)
    try:
        bus.send(_check("entry"))
        answer = remote.answer("entry#1")
        assert answer is not None and answer.check == "counted" and answer.warning == "w1"
        assert [(r.check, r.trace_id) for r in journaled] == [("counted", "t-entry")]
        assert remote.unanswered == 0 and engine.asked == [("entry", 0)]
    finally:
        stop.set()
        worker.join(5)
        for t in (events, risk_bus, *transports):
            t.close()


def test_served_risk_service_folds_events_between_checks(layout: BusLayout) -> None:
    """With the prefetch thread, events mirrored while no check comes are folded at each
    turn of the loop, so a check only waits for its own bar's events."""
    mirror, asker = _sender(layout)
    engine = CountingEngine()
    service, transports = _service(layout, engine)
    try:
        assert service.catch_up(0.05) == 0
        service.start_prefetch(0.05)
        for i in range(4):
            mirror.publish(Envelope(BarClosed.KIND, record_id(_bar(i)), (_bar(i),)))
        deadline = time.monotonic() + 5.0
        while service.position < mirror.stream_seq[EVENTS] and time.monotonic() < deadline:
            assert service.poll(0.05) == 0  # no command: the events are folded anyway
        assert service.position == mirror.stream_seq[EVENTS] and engine.asked == []
        asker.publish(Envelope(CheckRisk.KIND, "CheckRisk:c#1", (_check("c"),)),
                      extra_headers={EVENTS_THROUGH: str(mirror.stream_seq[EVENTS])})
        assert service.poll(2.0) == 1 and engine.asked == [("c", 4)]
    finally:
        service.stop_prefetch()
        for t in (mirror, asker, *transports):
            t.close()
