"""The execution service's mirror over the real NATS JetStream server, following a journal
that defers a bar's own events: no other service hears of an event before the journal has
committed it (a crash could still take back a deferred one)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from live.bus import DEFERRABLE_KINDS, JournalSink, MessageBus
from live.events import AlertRaised, BarClosed, Severity
from live.journal import Journal, open_journal
from live.svc.mirror import MirrorTransport
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import EVENTS, BusLayout
from tests.integration.jetstream import NATS_URL, layout

__all__ = ["layout"]
pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 3, 3, 45, tzinfo=UTC)


def _mirrored(layout: BusLayout, tmp_path: Path
              ) -> tuple[JetStreamTransport, JetStreamTransport, Journal, MessageBus]:
    """The events transport, a reader of its stream, the journal, and the bus whose
    transport mirrors what that journal committed (deferred appends, as the runner's)."""
    events = JetStreamTransport(NATS_URL, layout, publisher="mirror", publishes=EVENTS)
    reader = JetStreamTransport(NATS_URL, layout, publisher="mirror-r",
                                consumer=layout.consumer(EVENTS, "mirror-r", ordered=True))
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=lambda: T0)
    mirror = MirrorTransport(events)
    bus = MessageBus(mirror)
    bus.subscribe_all(JournalSink(journal, deferred=DEFERRABLE_KINDS))
    mirror.follow(journal)
    return events, reader, journal, bus


def test_mirror_publishes_a_deferred_event_only_once_the_journal_committed_it(
        layout: BusLayout, tmp_path: Path) -> None:
    events, reader, journal, bus = _mirrored(layout, tmp_path)
    try:
        bus.publish(BarClosed(trace_id="", ts_event=T0, symbol="NIFTY", open=1.0, high=2.0,
                              low=0.5, close=1.5, volume=10.0))
        events.flush()
        assert not reader.fetch(8, 0.5)  # deferred: not durable, so not mirrored
        bus.publish(AlertRaised(trace_id="", ts_event=T0, severity=Severity.INFO,
                                code="test", message="commits the bar with it"))
        events.flush()
        got = reader.fetch(8, 2.0)
        for item in got:
            reader.ack(item)
        assert [i.envelope.messages[0].KIND for i in got] == [BarClosed.KIND,
                                                              AlertRaised.KIND]
        assert journal.head()[0] == 2
    finally:
        events.close()
        reader.close()


def test_mirror_publishes_committed_events_at_the_bus_flush_not_on_the_order_path(
        layout: BusLayout, tmp_path: Path) -> None:
    events, reader, journal, bus = _mirrored(layout, tmp_path)
    try:
        bus.publish(AlertRaised(trace_id="", ts_event=T0, severity=Severity.INFO,
                                code="test", message="committed at once"))
        assert journal.head()[0] == 1  # journaled: the record, before anyone hears of it
        assert not reader.fetch(8, 0.3)  # not yet on the bus: the flush sends it
        events.flush()
        got = reader.fetch(8, 2.0)
        for item in got:
            reader.ack(item)
        assert [i.envelope.messages[0].code for i in got] == ["test"]
    finally:
        events.close()
        reader.close()
