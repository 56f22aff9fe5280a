"""The live side's message bus (as in NautilusTrader): imperative commands go to the one
handler registered for their topic, past-tense events to every subscriber of theirs; the
journal subscribes to every event (first, so nothing acts on an event before it is durable).

A topic is the message's ``KIND`` (``SubmitOrder``, ``OrderFilled``, ...). Messages travel in
an :class:`Envelope` with a message id, through a :class:`Transport`: in process by default
(:class:`InProcessTransport`: delivered at once, in order, exactly once), or a broker such as
NATS JetStream later - at-least-once, so a message may come again (redelivered until acked,
or duplicated) and out of order. Handlers are therefore idempotent: the journal skips a
message id it already appended, execution never submits an order twice (its key is the
order's client key). A batch of events (one group commit) travels as one envelope.

The runner's journal sink defers the events nothing outside the process acts on yet
(:data:`DEFERRABLE_KINDS`: a bar, a signal, its governance and risk answers): they are
committed with the next event of any other kind (an order's intent) in one transaction, or
by :meth:`MessageBus.durable`, which whoever is about to act outside the process calls first
(execution before each broker call, the risk client before asking the risk service, the
bar loop at the end of each bar). Every other event is durable when its publish returns.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from live.events import Command, Event, Message
from strategies.errors import StratopsError

if TYPE_CHECKING:
    from live.journal import Journal

SEEN_IDS_KEPT = 100_000  # message ids a deduplicating handler remembers (oldest dropped)
# events the runner's journal sink may leave pending until the next commit (see the module):
# none of them is, by itself, acted on outside the process
DEFERRABLE_KINDS = frozenset({"BarClosed", "SignalRaised", "GovernanceDecided", "RiskChecked"})


class NoHandlerError(StratopsError, LookupError):
    """A command was sent on a topic no handler is registered for."""


class DuplicateHandlerError(StratopsError, ValueError):
    """A second handler registered for one command topic."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One delivery unit: the topic, a message id (the dedup key across redeliveries) and
    the messages (one command, or the events of one group commit)."""

    topic: str
    message_id: str
    messages: tuple[Message, ...]


class Transport(Protocol):
    """Moves envelopes to the bus's dispatcher. ``deliver`` is called once per delivery
    (possibly more than once per envelope); the transport acks an envelope when the call
    returns and redelivers it when the call raised or no ack came."""

    def attach(self, deliver: Callable[[Envelope], None]) -> None: ...
    def publish(self, envelope: Envelope) -> None: ...


class InProcessTransport:
    """Delivery at once on the publisher's stack: in order, exactly once; a handler's
    exception reaches the publisher (fail closed: nothing after it runs)."""

    def __init__(self) -> None:
        self._deliver: Callable[[Envelope], None] | None = None

    def attach(self, deliver: Callable[[Envelope], None]) -> None:
        self._deliver = deliver

    def publish(self, envelope: Envelope) -> None:
        if self._deliver is None:
            raise RuntimeError("transport not attached to a bus")
        self._deliver(envelope)


@runtime_checkable
class FollowsJournal(Protocol):
    """A transport that must know the journal (it mirrors only committed events:
    :class:`live.svc.mirror.MirrorTransport`); the runner hands it its journal."""

    def follow(self, journal: Journal) -> None: ...


class MessageBus:
    """Commands to one handler per topic; events to every sink (whole envelopes: the
    journal, the state's fold), then to their topic's subscribers, in subscription order."""

    def __init__(self, transport: Transport | None = None, *, name: str = "bus") -> None:
        self.transport = transport if transport is not None else InProcessTransport()
        self.transport.attach(self._dispatch)
        self._ids = itertools.count(1)
        self._name = name
        self._handlers: dict[str, Callable[[Command], None]] = {}
        self._subscribers: dict[str, list[Callable[[Event], None]]] = defaultdict(list)
        self._sinks: list[Callable[[Envelope], None]] = []

    def register(self, topic: str, handler: Callable[[Command], None]) -> None:
        """The handler of command ``topic`` (one per topic)."""
        if topic in self._handlers:
            raise DuplicateHandlerError(f"command topic {topic!r} already has a handler")
        self._handlers[topic] = handler

    def subscribe(self, topic: str, handler: Callable[[Event], None]) -> None:
        """Call ``handler`` with every event of ``topic`` (after the sinks)."""
        self._subscribers[topic].append(handler)

    def subscribe_all(self, sink: Callable[[Envelope], None]) -> None:
        """Call ``sink`` with every event envelope, before any topic's handlers (the
        journal, then the state's fold)."""
        self._sinks.append(sink)

    def durable(self) -> None:
        """Make every event published so far durable (the journal sinks commit what they
        deferred): called
        before anything acts outside the process on them."""
        for sink in self._sinks:
            if isinstance(sink, JournalSink):
                sink.flush()

    def send(self, command: Command) -> None:
        """Deliver an imperative command to its topic's handler."""
        if command.KIND not in self._handlers:
            raise NoHandlerError(f"no handler for command {command.KIND!r}")
        key = getattr(command, "client_key", "") or str(next(self._ids))
        self.transport.publish(Envelope(command.KIND, f"{command.KIND}:{key}", (command,)))

    def publish(self, *events: Event, message_id: str | None = None) -> None:
        """Publish events that happened (several: one envelope, journaled in one commit).
        ``message_id``: a handler's own key for its answer, so that publishing it again
        (the handler's command redelivered after a failure) is the same message."""
        if message_id is None:
            message_id = f"{self._name}:{next(self._ids)}"
        self.transport.publish(Envelope(events[0].KIND, message_id, events))

    def _dispatch(self, envelope: Envelope) -> None:
        first = envelope.messages[0]
        if isinstance(first, Command):
            self._handlers[envelope.topic](first)
            return
        for sink in self._sinks:
            sink(envelope)
        for message in envelope.messages:
            for handler in self._subscribers.get(message.KIND, ()):
                handler(message)  # type: ignore[arg-type]  # an event envelope: all events


class SeenIds:
    """The message ids a handler already acted on (the newest :data:`SEEN_IDS_KEPT`)."""

    def __init__(self, kept: int = SEEN_IDS_KEPT) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._kept = kept

    def first_time(self, message_id: str) -> bool:
        """True the first time ``message_id`` is seen (and remembers it)."""
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > self._kept:
            self._seen.popitem(last=False)
        return True


class _Appends(Protocol):
    """What the journal sink needs of a journal (:class:`live.journal.Journal`)."""

    def append(self, message: Message) -> object: ...

    def append_many(self, messages: Iterable[Message], *, defer: bool = False) -> object: ...

    def flush(self) -> None: ...


class _Folds(Protocol):
    """What the state sink needs of a state (:class:`live.state.LiveState`)."""

    def apply(self, message: Message) -> None: ...


class JournalSink:
    """The journal as the bus's first subscriber: every event envelope appended once (a
    batch in one commit); a redelivered or duplicated envelope is skipped by message id.
    ``deferred``: the kinds whose envelopes (all of its events of such kinds) are left
    pending until the next commit (:data:`DEFERRABLE_KINDS` in the runner; none: every
    envelope committed when it is published)."""

    def __init__(self, journal: _Appends, deferred: frozenset[str] = frozenset()) -> None:
        self.journal = journal
        self.deferred = deferred
        self._seen = SeenIds()

    def __call__(self, envelope: Envelope) -> None:
        if not self._seen.first_time(envelope.message_id):
            return
        if self.deferred and all(m.KIND in self.deferred for m in envelope.messages):
            self.journal.append_many(list(envelope.messages), defer=True)
        elif len(envelope.messages) == 1:
            self.journal.append(envelope.messages[0])
        else:
            self.journal.append_many(list(envelope.messages))

    def flush(self) -> None:
        """Commit what was deferred."""
        self.journal.flush()


class StateSink:
    """The state's fold as the bus's second subscriber (after the journal): every event
    folded once; a redelivered or duplicated envelope is skipped by message id."""

    def __init__(self, state: _Folds) -> None:
        self.state = state
        self._seen = SeenIds()

    def __call__(self, envelope: Envelope) -> None:
        if not self._seen.first_time(envelope.message_id):
            return
        for message in envelope.messages:
            self.state.apply(message)
