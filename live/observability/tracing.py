"""OpenTelemetry spans of each trade, derived from the journaled events.

:class:`SpanEmitter` subscribes to the runner's bus after the journal (like the metrics), so
a span describes exactly what the journal says: every journaled event of a trace is one
span named after its step (:func:`~live.observability.timeline.step_name`: ``signal``,
``governance``, ``risk``, ``order.intent``, ``order.submit``, ``fill``, ``exit``, ...),
starting at the previous step's ``ts_event`` and ending at its own, the child of the
previous step - a chain signal -> risk -> order -> fill -> exit. Ids are derived, never
random: the OTel trace id from the journal's trace id (:func:`otel_trace_id`), a span id
from the trace id and the entry's journal seq, so a replay or a second exporter gives the
same ids. On the bar's path an event is only noted; its span is built between bars (the
loop's ``Idle`` turns, :meth:`SpanEmitter.tick`), so tracing adds next to nothing to the
decision latency (``benchmarks/observability.py``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags

from live.bus import Envelope, SeenIds
from live.events import Message
from live.observability.timeline import step_detail, step_name

TRACES_KEPT = 10_000  # open traces whose last step is remembered (oldest dropped)
PENDING_MAX = 4_096  # traced events noted before spans are built without waiting for idle
SCOPE = InstrumentationScope("stratops.live")


def _digest_int(text: str, hex_chars: int) -> int:
    value = int(hashlib.sha256(text.encode()).hexdigest()[:hex_chars], 16)
    return value or 1  # zero is OTel's invalid id


def otel_trace_id(trace_id: str) -> int:
    """The 128-bit OTel trace id of a journal trace id (deterministic)."""
    return _digest_int(f"stratops-trace:{trace_id}", 32)


def otel_span_id(trace_id: str, seq: int) -> int:
    """The 64-bit span id of the journal entry ``seq`` of ``trace_id`` (deterministic)."""
    return _digest_int(f"stratops-span:{trace_id}:{seq}", 16)


def _ns(ts: datetime) -> int:
    return int(ts.timestamp() * 1e9)


class SpanEmitter:
    """The bus sink that turns journaled events into finished spans, handed to
    ``processor`` (a batch processor around the configured exporter)."""

    def __init__(self, processor: SpanProcessor, *, service_name: str,
                 attributes: dict[str, str] | None = None) -> None:
        self.processor = processor
        self.resource = Resource.create({"service.name": service_name, **(attributes or {})})
        self._seq = 0
        self._seen = SeenIds()
        self._pending: list[tuple[Message, int]] = []
        self._last: OrderedDict[str, tuple[SpanContext, int]] = OrderedDict()

    def attach(self, head_seq: int) -> None:
        """Count journal seqs from the runner's recovered head."""
        self._seq = head_seq
        self._seen = SeenIds()

    def __call__(self, envelope: Envelope) -> None:
        """Note the envelope's traced events (an append: the spans are built by
        :meth:`flush`, off the bar's path)."""
        if not self._seen.first_time(envelope.message_id):
            return  # redelivered: the journal skipped it too
        for message in envelope.messages:
            self._seq += 1
            if message.trace_id:
                self._pending.append((message, self._seq))
        if len(self._pending) >= PENDING_MAX:  # a feed that never idles: memory stays flat
            self.flush()

    def tick(self, *, bar: bool) -> None:
        """The runner loop's turn: between bars (an ``Idle`` marker: the loop waits for the
        next bar anyway) the noted events become spans."""
        if not bar:
            self.flush()

    def flush(self) -> None:
        """Build the spans of the noted events and hand them to the processor."""
        pending, self._pending = self._pending, []
        for message, seq in pending:
            self.processor.on_end(self.span(message, seq))

    def span(self, message: Message, seq: int) -> ReadableSpan:
        """The span of journal entry ``seq`` (its trace's previous step is its parent)."""
        trace = message.trace_id
        context = SpanContext(otel_trace_id(trace), otel_span_id(trace, seq), is_remote=False,
                              trace_flags=TraceFlags(TraceFlags.SAMPLED))
        end = _ns(message.ts_event)
        parent, start = self._last.pop(trace, (None, end))
        self._last[trace] = (context, end)
        if len(self._last) > TRACES_KEPT:
            self._last.popitem(last=False)
        attributes: dict[str, str | int] = {
            "stratops.trace_id": trace, "stratops.kind": message.KIND, "stratops.seq": seq,
            "stratops.detail": step_detail(message)}
        for name in ("strategy", "symbol", "client_key"):
            value = getattr(message, name, None)
            if isinstance(value, str):
                attributes[f"stratops.{name}"] = value
        return ReadableSpan(step_name(message), context=context, parent=parent,
                            resource=self.resource, attributes=attributes,
                            start_time=min(start, end), end_time=end,
                            instrumentation_scope=SCOPE)

