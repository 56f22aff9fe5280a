"""The ONE place the bus's NATS subjects, JetStream streams and durable consumers are
declared (names, retention, de-duplication window, redelivery limits), and
:func:`ensure_streams` that creates or updates them at a service's start.

Every name derives from one ``stream_prefix`` (settings ``live.bus.stream_prefix``), so two
desks (or two tests) on one server never share a stream. Subjects:
``<prefix>.md.<Topic>`` market data (the market-data service's ``BarClosed``),
``<prefix>.cmd.<Topic>`` commands, ``<prefix>.evt.<Topic>`` events (the execution service's
mirror of its journal), ``<prefix>.rsk.<Topic>`` the risk service's answers (``RiskChecked``
to a ``CheckRisk``: kept apart from the mirrored events, which carry the journaled copy),
``<prefix>.sig.<Topic>`` the signal service's ``BarSignals`` (:mod:`live.svc.signal`),
``<prefix>.dead.<kind>.<Topic>`` parked poison.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from live.events import Command, Message
from strategies.errors import BadInputError

PREFIX_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,47}$")
DUPLICATE_WINDOW_SECONDS = 120.0  # JetStream drops a Nats-Msg-Id seen this recently
ACK_WAIT_SECONDS = 5.0  # an unacked delivery (a consumer died) comes again after this
MAX_DELIVER = 20  # deliveries of one message before it is parked as poison
MARKET_DATA, COMMANDS, EVENTS, DEAD, RISK = "md", "cmd", "evt", "dead", "rsk"
SIGNALS = "sig"  # the signal service's BarSignals (stratops svc signal)
STREAM_KINDS = (MARKET_DATA, COMMANDS, EVENTS, DEAD, RISK, SIGNALS)


class BusPrefixError(BadInputError, ValueError):
    """A ``stream_prefix`` that cannot name NATS subjects and streams."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One JetStream stream: file storage (survives a server restart), limits retention."""

    name: str
    subjects: tuple[str, ...]
    duplicate_window_seconds: float = DUPLICATE_WINDOW_SECONDS


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """One durable pull consumer: explicit ack, redelivery after ``ack_wait_seconds``, at
    most ``max_deliver`` deliveries; ``ordered``: delivered in sequence (a restart resumes
    at the first message not acked; a publisher's sequence gap holds it); ``from_start``:
    created afresh at each start, so it delivers the whole stream again (a service that folds
    its state from the stream, like the risk service)."""

    stream: str
    durable: str
    filter_subject: str
    ack_wait_seconds: float = ACK_WAIT_SECONDS
    max_deliver: int = MAX_DELIVER
    ordered: bool = False
    from_start: bool = False


@dataclass(frozen=True, slots=True)
class BusLayout:
    """Every subject, stream and consumer of one ``prefix``."""

    prefix: str

    def __post_init__(self) -> None:
        if not PREFIX_PATTERN.match(self.prefix):
            raise BusPrefixError(f"live.bus.stream_prefix {self.prefix!r}: letters, digits, "
                                 "'_' or '-', starting with a letter, at most 48 characters")

    def stream(self, kind: str) -> StreamSpec:
        """The stream holding subjects ``<prefix>.<kind>.>``."""
        if kind not in STREAM_KINDS:
            raise KeyError(f"stream kind {kind!r}: one of {STREAM_KINDS}")
        name = f"{self.prefix}_{kind}".upper().replace("-", "_")
        return StreamSpec(name, (f"{self.prefix}.{kind}.>",))

    def streams(self) -> tuple[StreamSpec, ...]:
        return tuple(self.stream(kind) for kind in STREAM_KINDS)

    def subject(self, kind: str, topic: str) -> str:
        """Where an envelope of ``topic`` is published on stream ``kind``."""
        if kind not in STREAM_KINDS:
            raise KeyError(f"stream kind {kind!r}: one of {STREAM_KINDS}")
        return f"{self.prefix}.{kind}.{topic}"

    @staticmethod
    def kind_of(first: Message) -> str:
        """The stream a message goes to when its publisher names none: commands or events."""
        return COMMANDS if isinstance(first, Command) else EVENTS

    def dead_subject(self, subject: str) -> str:
        """Where a poison message from ``subject`` is parked."""
        tail = subject[len(self.prefix) + 1:] if subject.startswith(self.prefix + ".") \
            else subject
        return f"{self.prefix}.{DEAD}.{tail}"

    def consumer(self, kind: str, durable: str, *, ordered: bool = False,
                 topic: str | None = None, from_start: bool = False) -> ConsumerSpec:
        """The durable consumer ``durable`` of every subject of stream ``kind`` (``topic``:
        of that topic's subject only)."""
        spec = self.stream(kind)
        subject = spec.subjects[0] if topic is None else self.subject(kind, topic)
        return ConsumerSpec(spec.name, durable, subject, ordered=ordered,
                            from_start=from_start)


async def ensure_streams(js: Any, layout: BusLayout,
                         consumers: tuple[ConsumerSpec, ...] = ()) -> None:
    """Create (or update to this declaration) every stream of ``layout`` and ``consumers``
    on JetStream context ``js``: called at every service start, so it is idempotent."""
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    for spec in layout.streams():
        config = StreamConfig(name=spec.name, subjects=list(spec.subjects),
                              retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                              duplicate_window=spec.duplicate_window_seconds)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
    for c in consumers:
        if c.from_start:
            with contextlib.suppress(NotFoundError):  # none yet: the first start
                await js.delete_consumer(c.stream, c.durable)
        await js.add_consumer(c.stream, ConsumerConfig(
            durable_name=c.durable, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=c.ack_wait_seconds, max_deliver=c.max_deliver,
            filter_subject=c.filter_subject))

