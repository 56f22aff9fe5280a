"""The execution service's bus transport: every envelope delivered in process first (the
runner's own handlers, the journal first: exactly the embedded runner), then each event it
carried stored on the JetStream bus for the other services, one message each, keyed by the
digest of its record (:func:`record_id`): the same event published again (a restart's
catch-up, :func:`republish_tail`) is the same message, dropped by JetStream's window or by
the state service's de-duplication.

The mirror is off the order's path: an event is published at the bus's next ``flush()``
after the journal committed it - after the bar's orders reached the broker, before the bar is
acked (:mod:`.bar_feed`, also after each ``Idle``) and before a check is sent to the risk
service (:mod:`.remote_risk`, which needs the stream's position) - pipelined on the
connection, in order, their acks collected by that flush; one that failed is published again
there (same id: stored once). The journal, written first, is the record. A publish whose ack
says duplicate still took its sequence number, so a consumer may see a gap alerted after a
restart's re-processed bar (nothing is lost: the journal and the message ids stand)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from live.bus import Envelope, InProcessTransport
from live.canonical import digest
from live.events import Event, Message, to_record
from live.journal import Journal
from live.transport.jetstream import JetStreamTransport

CATCHUP_ENTRIES = 1000  # journal entries republished at start (at most one group was unsent)


def record_id(message: Message) -> str:
    """The bus message id of one journaled event: its kind and record digest."""
    return f"{message.KIND}:{digest(to_record(message))[:40]}"


class MirrorTransport:
    """In-process delivery, then every event stored on ``bus`` (see the module) at the bus's
    next flush once the journal it follows (:meth:`follow`, the runner's) has committed it:
    an event the journal deferred (:data:`live.bus.DEFERRABLE_KINDS`) waits for that commit,
    so no other service ever hears of an event a crash could still take back."""

    def __init__(self, bus: JetStreamTransport) -> None:
        self.bus = bus
        self._local = InProcessTransport()
        self._journal: Journal | None = None
        self._unsent: list[Event] = []  # delivered here, waiting for the journal's commit
        self._committed_events: list[Event] = []  # committed, published at the next flush
        bus.before_flush.append(self._send)

    def attach(self, deliver: Callable[[Envelope], None]) -> None:
        self._local.attach(deliver)

    def follow(self, journal: Journal) -> None:
        """Mirror events only once ``journal`` has committed them."""
        self._journal = journal
        journal.listeners.append(self._committed)

    def publish(self, envelope: Envelope) -> None:
        self._local.publish(envelope)  # journaled (and acted on) before anyone hears of it
        self._unsent.extend(m for m in envelope.messages if isinstance(m, Event))
        if self._journal is None or not self._journal.pending:
            self._committed(())

    def _committed(self, _messages: Sequence[Message]) -> None:
        # what was delivered before this commit (the rest follows its publish)
        self._committed_events.extend(self._unsent)
        self._unsent = []

    def _send(self) -> None:
        committed, self._committed_events = self._committed_events, []
        for message in committed:
            self.bus.publish(Envelope(message.KIND, record_id(message), (message,)),
                             wait=False)


def republish_tail(journal: Journal, bus: JetStreamTransport,
                   entries: int = CATCHUP_ENTRIES) -> int:
    """Publish the journal's last ``entries`` events again (a crash may have come between an
    append and its mirroring); returns how many."""
    head, _ = journal.head()
    sent = 0
    for _, message in journal.read(max(1, head - entries + 1)):
        if isinstance(message, Event):
            bus.publish(Envelope(message.KIND, record_id(message), (message,)))
            sent += 1
    return sent
