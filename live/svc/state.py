"""The state service: a replica journal and state folded from the events the execution
service mirrors on the bus (the execution service stays the one writer of the trading
journal: journal-first execution needs the intent durable in its own process before the
broker hears of it, and restart reads it there). Each event is appended once: its message
id (the record's digest) is skipped when seen, including after a restart (the replica's
last entries seed the memory), so a redelivery after the effect has none."""

from __future__ import annotations

from collections import OrderedDict

from live.bus import SEEN_IDS_KEPT, Envelope, MessageBus
from live.journal import Journal
from live.observability.metrics import RunnerMetrics
from live.state import LiveState
from live.svc.mirror import record_id
from live.transport.jetstream import JetStreamTransport


class ReplicaSink:
    """Appends each new event of an envelope to ``journal`` and folds it into ``state``."""

    def __init__(self, journal: Journal, state: LiveState) -> None:
        self.journal, self.state = journal, state
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.appended = 0
        head, _ = journal.head()
        for seq, message in journal.read(1):
            state.apply(message)
            if head - seq < SEEN_IDS_KEPT:
                self._remember(record_id(message))

    def _remember(self, message_id: str) -> None:
        self._seen[message_id] = None
        if len(self._seen) > SEEN_IDS_KEPT:
            self._seen.popitem(last=False)

    def __call__(self, envelope: Envelope) -> None:
        for message in envelope.messages:
            key = record_id(message)
            if key in self._seen:
                continue  # appended before (a redelivery after the effect)
            self.journal.append(message)  # raises: not remembered, nak'ed, delivered again
            self._remember(key)
            self.state.apply(message)
            self.appended += 1


def serve_state(journal: Journal, bus: JetStreamTransport, *,
                idle_exit_seconds: float | None = None,
                idle_slice_seconds: float = 0.2,
                metrics: RunnerMetrics | None = None) -> ReplicaSink:
    """Append the mirrored events to ``journal`` until ``idle_exit_seconds`` pass without
    one after the first (``None``: forever); each acked once appended. ``metrics``
    (:mod:`live.observability`) counts what the replica appended and beats at each poll."""
    sink = ReplicaSink(journal, LiveState())
    replica_bus = MessageBus(bus)
    replica_bus.subscribe_all(sink)
    if metrics is not None:
        metrics.attach(sink.state, journal.head()[0])
        replica_bus.subscribe_all(metrics)
    idle_seconds, heard = 0.0, False
    while idle_exit_seconds is None or not heard or idle_seconds < idle_exit_seconds:
        if metrics is not None:  # the heartbeat: from this loop only
            metrics.tick(bar=False)
        handled = bus.poll(64, idle_slice_seconds)
        heard = heard or handled > 0
        idle_seconds = 0.0 if handled else idle_seconds + idle_slice_seconds
    return sink
