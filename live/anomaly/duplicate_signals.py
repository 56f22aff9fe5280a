"""Duplicate signals: one strategy, symbol, entry side (long / short) and bar signalled on
two different traces (a second entry decided for one bar: two positions where research
opens one). The same trace journaled again - its bar re-processed after a restart - is the
idempotent replay, not a duplicate. Exits are left out: one bar may carry several exit
decisions by design (a flatten's leg, a signal's, a retry), each sized by what no exit
already works, so they cannot double a position."""

from __future__ import annotations

from datetime import datetime

from live.anomaly.base import DUPLICATE_SIGNAL, Finding
from live.events import Message, SignalRaised, SignalSide

KEPT_BARS = 10_000  # keys remembered (the oldest dropped): a duplicate comes within a bar


class DuplicateSignals:
    """The first trace of each (strategy, symbol, side, bar time)."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str, str, datetime], str] = {}

    def observe(self, message: Message, wall: datetime) -> list[Finding]:
        if not isinstance(message, SignalRaised) or message.side is SignalSide.FLAT:
            return []
        key = (message.strategy, message.symbol, str(message.side), message.ts_event)
        first = self.first.setdefault(key, message.trace_id)
        if len(self.first) > KEPT_BARS:
            del self.first[next(iter(self.first))]
        if first == message.trace_id:
            return []
        return [Finding(message.ts_event, DUPLICATE_SIGNAL, (
            f"{message.strategy}/{message.symbol} {message.side} ({message.reason}) signalled "
            f"again for the bar at {message.ts_event.isoformat()} on trace "
            f"{message.trace_id}; first on {first}"), message.trace_id)]

    def tick(self, ts: datetime) -> list[Finding]:
        return []
