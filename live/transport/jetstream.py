"""The bus over NATS JetStream: :class:`JetStreamTransport` implements the bus's
:class:`~live.bus.Transport` (attach / publish) for a synchronous caller, with nats-py's
asyncio client running in a dedicated thread.

Publishing waits for JetStream's ack (the message is on disk) - or, with ``wait=False``,
pipelines the publish and collects its ack at :meth:`JetStreamTransport.flush` (the
execution service's mirror: its journal is the record, the bar is acked only after the
flush) - and retries through a server
restart until ``publish_deadline_seconds``; the envelope's message id is the ``Nats-Msg-Id``
(JetStream drops a repeat inside the de-duplication window) and every stored message carries
its publisher's next sequence number (:mod:`.sequencing`). Receiving is a durable pull
consumer with explicit ack: a message is acked only after its handler returned, nak'ed (with a
delay: delivered again) when it raised, and poison (:mod:`.wire`) or a message that failed
``max_deliver`` times is parked on the dead-letter stream, alerted and terminated, so it
never blocks the stream. A consumer marked ``ordered`` releases each publisher's messages in
sequence only: a gap holds what follows until the missing message comes, and a gap older than
``gap_timeout_seconds`` is alerted and keeps holding (fail closed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from live.bus import Envelope
from live.transport.sequencing import Resequencer, SequenceTracker, SeqVerdict
from live.transport.subjects import BusLayout, ConsumerSpec, ensure_streams
from live.transport.wire import PoisonMessageError, decode, encode
from strategies.errors import StratopsError

log = logging.getLogger(__name__)
T = TypeVar("T")
Alert = Callable[[str, str], None]  # (code, message): a person must hear of it
REASON = "Stratops-Dead-Reason"


class BusUnavailableError(StratopsError, ConnectionError):
    """The NATS server could not be reached (or did not ack) within the deadline."""


def log_alert(code: str, message: str) -> None:
    """The default alert: an ERROR log line."""
    log.error("bus alert %s: %s", code, message)


@dataclass(frozen=True, slots=True)
class Received:
    """One delivery of a valid envelope, to be acked (or nak'ed) by :class:`JetStreamTransport`."""

    envelope: Envelope
    publisher: str
    seq: int
    deliveries: int
    raw: Any  # the nats Msg

    @property
    def headers(self) -> dict[str, str]:
        """The message's NATS headers."""
        return dict(self.raw.headers or {})

    @property
    def stream_seq(self) -> int:
        """Its position in its stream."""
        return int(self.raw.metadata.sequence.stream)


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A publish sent without waiting for its ack (collected by ``flush``)."""

    future: concurrent.futures.Future[Any]
    kind: str
    subject: str
    payload: bytes
    headers: dict[str, str]
    message_id: str


class _LoopThread:
    """An asyncio loop in a daemon thread; :meth:`call` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="nats-bus",
                                        daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout_seconds: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_seconds)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class JetStreamTransport:
    """The bus's transport over JetStream (see the module): ``publisher`` names this process
    (unique per incarnation); ``publishes`` the stream kind it publishes to (default: commands
    or events by message); ``consumer`` the durable consumer it receives from, if any.
    Sequence numbers count per stream kind (a consumer reads one stream)."""

    def __init__(self, url: str, layout: BusLayout, *, publisher: str,
                 publishes: str | None = None, consumer: ConsumerSpec | None = None,
                 alert: Alert = log_alert,
                 timeout_seconds: float = 2.0, publish_deadline_seconds: float = 30.0,
                 nak_delay_seconds: float = 0.2, gap_timeout_seconds: float = 10.0) -> None:
        self.layout, self.publisher, self.consumer, self.alert = layout, publisher, consumer, alert
        self.timeout_seconds = timeout_seconds
        self.publish_deadline_seconds = publish_deadline_seconds
        self.nak_delay_seconds = nak_delay_seconds
        self.tracker = SequenceTracker()
        self.resequencer: Resequencer[Received] = Resequencer(int(gap_timeout_seconds * 1e9))
        self.held_publishers: set[str] = set()  # a gap timed out: alerted, still held
        self.parked = 0
        self.publishes = publishes
        self._seq: dict[str, int] = {}
        self.stream_seq: dict[str, int] = {}  # per stream kind: the last message stored (ack)
        self._inflight: list[_InFlight] = []  # sent without waiting (publish(wait=False))
        self.before_flush: list[Callable[[], None]] = []  # publish what they hold (the mirror)
        self._unacked_at_start = 0  # a predecessor's deliveries it never acked
        self._startup: list[Received] | None = [] if consumer is not None and \
            consumer.ordered else None
        self._startup_deadline = time.monotonic() + 2 * (
            consumer.ack_wait_seconds if consumer is not None else 0) + 1
        self._deliver: Callable[[Envelope], None] | None = None
        self._thread = _LoopThread()
        try:
            self._nc, self._js, self._sub = self._thread.call(self._connect(url),
                                                              timeout_seconds + 10)
        except Exception as exc:
            self._thread.stop()
            raise BusUnavailableError(f"live.bus.url {url!r}: {exc!r}") from exc

    async def _connect(self, url: str) -> tuple[Any, Any, Any]:
        import nats

        nc = await nats.connect(url, connect_timeout=self.timeout_seconds,
                                max_reconnect_attempts=-1, reconnect_time_wait=0.25,
                                allow_reconnect=True)
        js = nc.jetstream(timeout=self.timeout_seconds)
        consumers = (self.consumer,) if self.consumer is not None else ()
        await ensure_streams(js, self.layout, consumers)
        sub = None
        if self.consumer is not None:
            sub = await js.pull_subscribe_bind(durable=self.consumer.durable,
                                               stream=self.consumer.stream)
            if self.consumer.ordered:
                info = await js.consumer_info(self.consumer.stream, self.consumer.durable)
                self._unacked_at_start = info.num_ack_pending or 0
        return nc, js, sub

    # --- the Transport protocol ---------------------------------------------------------

    def attach(self, deliver: Callable[[Envelope], None]) -> None:
        self._deliver = deliver

    def publish(self, envelope: Envelope, *, kind: str | None = None,
                extra_headers: Mapping[str, str] | None = None, wait: bool = True) -> None:
        """Store ``envelope`` in its stream (``kind``; default: the transport's, else by
        message) - waits for JetStream's ack; retried with the same message id through a
        reconnect; ``extra_headers`` ride along. Raises :class:`BusUnavailableError` past the
        deadline. ``wait=False``: sent without waiting for the ack (pipelined, in order on
        this connection); :meth:`flush` collects the acks and publishes again what failed."""
        kind = kind or self.publishes or self.layout.kind_of(envelope.messages[0])
        subject = self.layout.subject(kind, envelope.topic)
        seq = self._seq.get(kind, 0) + 1
        payload, headers = encode(envelope, self.publisher, seq)
        headers.update(extra_headers or {})
        if not wait:  # its number is taken now: the next message is sent before this ack
            self._seq[kind] = seq
            future = asyncio.run_coroutine_threadsafe(self._js.publish(
                subject, payload, timeout=self.timeout_seconds, headers=headers),
                self._thread.loop)
            self._inflight.append(_InFlight(future, kind, subject, payload, headers,
                                            envelope.message_id))
            return
        ack = self._store(subject, payload, headers, envelope.message_id)
        if not ack.duplicate:  # a duplicate was stored before: its number is not used
            self._seq[kind] = seq
        self.stream_seq[kind] = max(self.stream_seq.get(kind, 0), int(ack.seq))

    def flush(self) -> None:
        """Publish what the ``before_flush`` callbacks hold, then wait for the acks of every
        publish sent without waiting; one that failed is published again (same message id
        and number: stored once) until the deadline. Raises :class:`BusUnavailableError`
        past it."""
        for publish_held in self.before_flush:
            publish_held()
        while self._inflight:
            sent = self._inflight[0]
            try:
                ack = sent.future.result(self.timeout_seconds + 1)
            except Exception as exc:  # nats raises many kinds while reconnecting
                log.warning("publish of %s not acked (%r): sent again", sent.message_id, exc)
                ack = self._store(sent.subject, sent.payload, sent.headers, sent.message_id)
            self._inflight.pop(0)  # only once stored: a raise above leaves it for next time
            self.stream_seq[sent.kind] = max(self.stream_seq.get(sent.kind, 0), int(ack.seq))

    def _store(self, subject: str, payload: bytes, headers: dict[str, str],
               message_id: str) -> Any:
        """Publish and wait for JetStream's ack, retrying through a reconnect until the
        publish deadline; returns the ack."""
        deadline = time.monotonic() + self.publish_deadline_seconds
        while True:
            try:
                return self._thread.call(self._js.publish(
                    subject, payload, timeout=self.timeout_seconds, headers=headers),
                    self.timeout_seconds + 1)
            except Exception as exc:  # nats raises many kinds while reconnecting
                if time.monotonic() > deadline:
                    raise BusUnavailableError(
                        f"publish {message_id} to {subject}: no ack within "
                        f"{self.publish_deadline_seconds:g} s: {exc!r}") from exc
                time.sleep(0.1)

    # --- receiving ----------------------------------------------------------------------

    def fetch(self, max_msgs: int = 64, timeout_seconds: float = 0.2) -> list[Received]:
        """The next valid deliveries, in sequence order on an ordered consumer (poison is
        parked and terminated here, never returned); empty when none came in time."""
        if self._sub is None:
            raise RuntimeError("this transport has no consumer")
        # one message, returned as soon as it comes (a pull of n waits for n or the timeout),
        # then as many more as the server says are already waiting (none: no second pull)
        msgs = self._pull(1, timeout_seconds)
        waiting = int(msgs[0].metadata.num_pending or 0) if msgs else 0
        if waiting and max_msgs > 1:
            msgs += self._pull(min(waiting, max_msgs - 1), self.timeout_seconds)
        items: list[Received] = []
        for msg in msgs:
            try:
                envelope, publisher, seq = decode(msg.data, msg.headers)
            except PoisonMessageError as exc:
                self.park(msg, str(exc))
                continue
            items.append(Received(envelope, publisher, seq, msg.metadata.num_delivered, msg))
        out: list[Received] = []
        for item in self._after_start(items):
            out.extend(self._sequenced(item))
        self._check_gaps()
        return out

    def _after_start(self, items: list[Received]) -> list[Received]:
        """An ordered consumer's first items wait for its predecessor's unacked deliveries
        (redelivered after the ack wait, behind newer ones), then go in stream order: it
        resumes at exactly the first message not acked."""
        if self._startup is None:
            return items
        self._startup.extend(items)
        redelivered = sum(i.deliveries > 1 for i in self._startup)
        if redelivered < self._unacked_at_start and time.monotonic() < self._startup_deadline:
            return []
        ready = sorted(self._startup, key=lambda i: int(i.raw.metadata.sequence.stream))
        self._startup = None
        return ready

    def _pull(self, batch: int, timeout_seconds: float) -> list[Any]:
        try:
            got = self._thread.call(self._sub.fetch(batch, timeout=timeout_seconds),
                                    timeout_seconds + self.timeout_seconds + 1)
        except Exception as exc:  # a fetch timeout, or the server away
            if type(exc).__name__ not in ("TimeoutError", "FetchTimeoutError"):
                log.warning("bus fetch failed (reconnecting?): %r", exc)
                time.sleep(0.1)
            return []
        return list(got)

    def _sequenced(self, item: Received) -> list[Received]:
        seen = self.tracker.observe(item.publisher, item.seq)
        if seen.verdict is SeqVerdict.GAP:
            self.alert("bus_sequence_gap", f"{item.publisher}: {item.envelope.topic} "
                       f"#{item.seq} after a gap; missing {list(seen.missing)[:10]}")
        elif seen.verdict is SeqVerdict.LATE:
            self.alert("bus_sequence_reorder", f"{item.publisher}: #{item.seq} "
                       f"({item.envelope.topic}) arrived after later messages")
        if self.consumer is None or not self.consumer.ordered:
            return [item]
        released = self.resequencer.offer(item.publisher, item.seq, item, time.monotonic_ns())
        if released and item.publisher in self.held_publishers and \
                not self.resequencer.held(item.publisher):
            self.held_publishers.discard(item.publisher)  # the gap filled: resume
            self.alert("bus_sequence_resumed", f"{item.publisher}: the gap filled")
        return released

    def _check_gaps(self) -> None:
        for publisher, missing in self.resequencer.overdue(time.monotonic_ns()):
            if publisher not in self.held_publishers:
                self.held_publishers.add(publisher)
                self.alert("bus_sequence_hold", f"{publisher}: message #{missing} missing "
                           "past the gap timeout; holding everything after it (fail closed)")

    def ack(self, item: Received) -> None:
        """Acknowledge ``item`` (its effect is done): not delivered again. The ack is not
        awaited (queued on the connection, in order after every publish before it, and sent
        before a ``close``): one lost (a crash, the server away) means a redelivery, which the
        idempotent handlers absorb; a failure is logged."""
        message_id = item.envelope.message_id

        def failed(done: concurrent.futures.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.warning("ack of %s failed (it will be redelivered): %r", message_id,
                            done.exception())

        asyncio.run_coroutine_threadsafe(item.raw.ack(), self._thread.loop
                                         ).add_done_callback(failed)

    def nak(self, item: Received, why: str) -> None:
        """Refuse ``item`` for now (delivered again after a delay); at its last allowed
        delivery it is parked as poison instead."""
        if self.consumer is not None and item.deliveries >= self.consumer.max_deliver:
            self.park(item.raw, f"failed {item.deliveries} deliveries: {why}")
            return
        try:
            self._thread.call(item.raw.nak(delay=self.nak_delay_seconds), self.timeout_seconds)
        except Exception as exc:  # unacked anyway: redelivered after ack_wait
            log.warning("nak of %s failed: %r", item.envelope.message_id, exc)

    def park(self, msg: Any, reason: str) -> None:
        """Copy ``msg`` to the dead-letter stream with ``reason``, alert, and terminate it
        (never redelivered: the stream moves on)."""
        meta = msg.metadata
        headers = {**(msg.headers or {}), REASON: reason[:500],
                   "Nats-Msg-Id": f"dead:{meta.stream}:{meta.sequence.stream}"}
        self._thread.call(self._js.publish(self.layout.dead_subject(msg.subject), msg.data,
                                           headers=headers, timeout=self.timeout_seconds),
                          self.timeout_seconds + 1)
        self._thread.call(msg.term(), self.timeout_seconds)
        self.parked += 1
        self.alert("bus_poison_parked", f"{msg.subject} #{meta.sequence.stream} parked on "
                   f"{self.layout.dead_subject(msg.subject)}: {reason[:200]}")

    def poll(self, max_msgs: int = 64, timeout_seconds: float = 0.2) -> int:
        """Fetch and hand each envelope to the attached bus: acked when the bus returned,
        nak'ed when a handler raised. Returns how many were handled."""
        if self._deliver is None:
            raise RuntimeError("transport not attached to a bus")
        handled = 0
        for item in self.fetch(max_msgs, timeout_seconds):
            try:
                self._deliver(item.envelope)
            except Exception as exc:  # any handler failure: delivered again
                log.warning("%s refused (%r): delivered again", item.envelope.message_id, exc)
                self.nak(item, repr(exc))
                continue
            self.ack(item)
            handled += 1
        return handled

    def close(self) -> None:
        """Collect the acks still in flight, close the connection, stop the loop thread."""
        try:
            self.flush()
        except BusUnavailableError as exc:  # closing anyway: the journal holds them
            log.warning("bus close: %s", exc)
        try:
            self._thread.call(self._nc.close(), self.timeout_seconds + 1)
        except Exception as exc:  # closing anyway
            log.warning("bus close failed: %r", exc)
        self._thread.stop()
