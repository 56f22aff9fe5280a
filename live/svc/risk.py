"""The risk service (``stratops svc risk``): the pre-trade risk engine in a process of its own.

It answers the ``CheckRisk`` commands the execution service publishes (``<prefix>.cmd.
CheckRisk``, durable consumer) with the very :class:`~live.risk.handler.RiskHandler` the
embedded runner uses, over a :class:`~live.state.LiveState` it folds from the events the
execution service mirrors (``<prefix>.evt.>``, a consumer created afresh at each start: the
whole stream is folded again, each event once by its record id, and the intents already sent
go back into the engine's memory as at a runner's recovery).

Each command carries, in header :data:`EVENTS_THROUGH`, the events stream's position of the
last event the execution service had mirrored when it asked: the answer waits until the
fold has reached exactly that position (and folds nothing past it first), so the engine sees
the state the embedded runner's engine would see. The answer is a ``RiskChecked`` on the
risk answers stream (``<prefix>.rsk.RiskChecked``) under message id ``RiskChecked:<check_id>``
(a redelivered command is answered once; JetStream drops a second copy), the decision's
other fields (warning, notice, disable_strategy) in header :data:`DECISION`. The execution
service journals the answer (it stays the one journal writer).

Served (:func:`serve_risk`), a thread of its own fetches the events stream as they come and
each turn of the loop folds what arrived, so a check folds only the events of its own bar,
not every quiet bar's since the last check. Only the execution service writes the events
stream and it waits for the answer before it mirrors anything past the position it named,
so events past a command's position exist only once its sender stopped waiting.

A command whose position the fold has already passed is stale: the sender, which waits for
the answer before it journals anything else, gave up on it (past its deadline: an entry
denied, an exit checked in its own process) and moved on - it is acked and not asked of the
engine, whose memory (message rate, duplicates) must not count an order never sent. That
also covers a command redelivered after its answer was published (the sender journaled it).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable

from live.bus import Envelope, MessageBus, SeenIds
from live.events import CheckRisk, OrderIntended, SignalRaised, SignalSide, prepare_codecs
from live.risk.handler import RiskHandler
from live.risk.interface import RiskDecision, RiskEngine
from live.state import LiveState
from live.svc.mirror import record_id
from live.svc.serving import serve_polls
from live.transport.jetstream import JetStreamTransport, Received
from live.transport.subjects import RISK

log = logging.getLogger(__name__)
EVENTS_THROUGH = "Stratops-Events-Through"  # on a CheckRisk: the events the answer must see
DECISION = "Stratops-Risk-Decision"  # on a RiskChecked: the decision's other fields (JSON)
CHECK_PREFIX = f"{CheckRisk.KIND}:"


def decision_header(decision: RiskDecision | None) -> dict[str, str]:
    """The header carrying ``decision``'s fields a ``RiskChecked`` has no room for."""
    if decision is None:
        return {}
    return {DECISION: json.dumps({"disable_strategy": decision.disable_strategy,
                                  "warning": decision.warning, "notice": decision.notice},
                                 separators=(",", ":"))}


def decision_of(item: Received) -> RiskDecision | None:
    """The decision a received ``RiskChecked`` carries (None: not a valid answer)."""
    message = item.envelope.messages[0]
    passed, check, reason = (getattr(message, k, None) for k in ("passed", "check", "reason"))
    if not isinstance(passed, bool) or not isinstance(check, str) or \
            not isinstance(reason, str):
        return None
    try:
        extra = json.loads(item.headers.get(DECISION, "{}"))
        return RiskDecision(passed, check, reason,
                            disable_strategy=bool(extra.get("disable_strategy", False)),
                            warning=str(extra.get("warning", "")),
                            notice=str(extra.get("notice", "")))
    except (ValueError, AttributeError):
        return None


class _Answers:
    """The risk handler's transport: commands come from :class:`RiskService` (after the fold
    caught up), answers go to the risk answers stream with the decision's header."""

    def __init__(self, bus: JetStreamTransport) -> None:
        self.bus = bus
        self.deliver: Callable[[Envelope], None] | None = None
        self.verdict: Callable[[str], RiskDecision | None] = lambda _: None

    def attach(self, deliver: Callable[[Envelope], None]) -> None:
        self.deliver = deliver

    def publish(self, envelope: Envelope) -> None:
        check_id = envelope.message_id.partition(":")[2]
        self.bus.publish(envelope, kind=RISK,
                         extra_headers=decision_header(self.verdict(check_id)))


class RiskService:
    """One engine answering ``commands`` (the CheckRisk consumer, publishing answers) over
    the state folded from ``events`` (a from-start consumer of the events stream)."""

    def __init__(self, engine: RiskEngine, commands: JetStreamTransport,
                 events: JetStreamTransport) -> None:
        self.commands, self.events = commands, events
        self.state = LiveState()
        self.position = 0  # the events stream's position folded up to
        self.answered = 0
        self.stale = 0  # commands the sender stopped waiting for (see the module)
        self._seen = SeenIds()
        self._pending: list[Received] = []  # fetched past the position a check waits for
        self._entries: set[str] = set()  # traces of entry signals (an intent's direction)
        self._answers = _Answers(commands)
        self.handler = RiskHandler(MessageBus(self._answers, name="risk"), engine, self.state)
        self._answers.verdict = self.handler.verdict
        self.engine = engine
        self._arrived: queue.Queue[Received] = queue.Queue()  # fetched by the prefetch thread
        self._prefetch: threading.Thread | None = None
        self._stop = threading.Event()

    def start_prefetch(self, slice_seconds: float = 0.2) -> None:
        """From now on fetch the events stream in a thread of its own (after
        :meth:`catch_up`); what it fetched is folded by :meth:`poll` and :meth:`reach`."""
        if self._prefetch is not None:
            return

        def fetch_events() -> None:
            while not self._stop.is_set():
                for item in self.events.fetch(256, slice_seconds):
                    self._arrived.put(item)

        self._prefetch = threading.Thread(target=fetch_events, name="risk-events",
                                          daemon=True)
        self._prefetch.start()

    def stop_prefetch(self) -> None:
        """Stop the prefetch thread (what it fetched and nobody folded is redelivered)."""
        if self._prefetch is not None:
            self._stop.set()
            self._prefetch.join(10)
            self._prefetch = None

    def _events(self, timeout_seconds: float) -> list[Received]:
        """The next events: from the prefetch thread when it runs (waiting at most
        ``timeout_seconds`` for the first), else fetched here."""
        if self._prefetch is None:
            return self.events.fetch(64, timeout_seconds)
        items: list[Received] = []
        try:
            items.append(self._arrived.get(timeout=timeout_seconds) if timeout_seconds > 0
                         else self._arrived.get_nowait())
            while True:
                items.append(self._arrived.get_nowait())
        except queue.Empty:
            pass
        return items

    def fold_arrived(self) -> int:
        """Fold every event the prefetch thread fetched (see the module); returns how many
        (0 without the thread)."""
        if self._prefetch is None:
            return 0
        got = sorted(self._pending + self._events(0.0), key=lambda i: i.stream_seq)
        self._pending = []
        for item in got:
            self._fold(item, remember=False)
        return len(got)

    def catch_up(self, idle_seconds: float = 0.3) -> int:
        """Fold every event already on the stream (a start): the intents back into the
        engine's memory; returns the position reached."""
        while True:
            got = self.events.fetch(256, idle_seconds)
            if not got:
                return self.position
            for item in got:
                self._fold(item, remember=True)

    def _fold(self, item: Received, *, remember: bool) -> None:
        for message in item.envelope.messages:
            if not self._seen.first_time(record_id(message)):
                continue  # mirrored again (the execution service's catch-up at start)
            self.state.apply(message)
            if isinstance(message, SignalRaised) and message.side is not SignalSide.FLAT:
                self._entries.add(message.trace_id)
            elif remember and isinstance(message, OrderIntended):
                self.handler.remember(message, reduces_exposure=message.protective or
                                      message.trace_id not in self._entries)
        self.position = max(self.position, item.stream_seq)
        self.events.ack(item)

    def reach(self, through: int, timeout_seconds: float) -> bool:
        """Fold the events up to stream position ``through`` (none past it); False when
        they did not come within ``timeout_seconds`` (the command is nak'ed: asked again)."""
        deadline = time.monotonic() + timeout_seconds
        while self.position < through:
            while self._pending and self._pending[0].stream_seq <= through:
                self._fold(self._pending.pop(0), remember=False)
            if self.position >= through:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            got = self._events(min(left, 0.05))
            self._pending = sorted(self._pending + got, key=lambda i: i.stream_seq)
        return True

    def poll(self, timeout_seconds: float = 0.2) -> int:
        """Answer the commands that came within ``timeout_seconds``; returns how many."""
        handled = 0
        self.fold_arrived()
        for item in self.commands.fetch(16, timeout_seconds):
            if not isinstance(item.envelope.messages[0], CheckRisk) or \
                    not item.envelope.message_id.startswith(CHECK_PREFIX):
                self.commands.park(item.raw, f"not a CheckRisk: {item.envelope.topic}")
                continue
            through = int(item.headers.get(EVENTS_THROUGH, "0") or 0)
            if self.position > through:  # the sender journaled past it: decided without us
                self.stale += 1
                self.commands.ack(item)
                continue
            if not self.reach(through, 1.0):
                log.warning("%s: events up to #%d not folded yet; asked again",
                            item.envelope.message_id, through)
                self.commands.nak(item, f"events #{through} not folded")
                continue
            deliver = self._answers.deliver
            assert deliver is not None  # attached by the MessageBus
            try:
                deliver(item.envelope)
            except Exception as exc:  # the answer not published: delivered again
                log.warning("%s: answer failed (%r): asked again", item.envelope.message_id,
                            exc)
                self.commands.nak(item, repr(exc))
                continue
            self.commands.ack(item)
            handled += 1
        self.answered += handled
        return handled


def serve_risk(service: RiskService, *, idle_exit_seconds: float | None = None,
               idle_slice_seconds: float = 0.2,
               beat: Callable[[], None] | None = None) -> RiskService:
    """Fold the events stream, then answer commands until ``idle_exit_seconds`` pass without
    one after the first (``None``: forever), the events fetched meanwhile by the prefetch
    thread; ``beat`` is called at each poll (heartbeat). The message codecs are built first
    (not by the first check: :func:`~live.events.prepare_codecs`)."""
    prepare_codecs()
    service.catch_up()
    service.start_prefetch(idle_slice_seconds)
    try:
        serve_polls(service.poll, idle_exit_seconds=idle_exit_seconds,
                    idle_slice_seconds=idle_slice_seconds, beat=beat)
    finally:
        service.stop_prefetch()
    return service
