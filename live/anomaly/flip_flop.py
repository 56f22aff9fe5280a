"""Flip-flopping: a strategy whose entry signals in one symbol change direction (long to
short or back) more than ``anomaly.max_direction_changes`` times within
``anomaly.flip_window_seconds`` of market time. Alerted once, then again only after the
changes fell back under the limit."""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

from live.anomaly.base import SIGNAL_FLIP_FLOP, Finding
from live.events import Message, SignalRaised, SignalSide


class FlipFlop:
    """Per (strategy, symbol): its last entry direction and the times it changed."""

    def __init__(self, window_seconds: float, max_changes: int) -> None:
        self.window = timedelta(seconds=window_seconds)
        self.max_changes = max_changes
        self.last: dict[tuple[str, str], tuple[SignalSide, str]] = {}
        self.changes: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self.alerted: set[tuple[str, str]] = set()

    def observe(self, message: Message, wall: datetime) -> list[Finding]:
        if not isinstance(message, SignalRaised) or message.side is SignalSide.FLAT:
            return []
        key = (message.strategy, message.symbol)
        before = self.last.get(key)
        self.last[key] = (message.side, message.trace_id)
        if before is None or before[0] is message.side or before[1] == message.trace_id:
            return []
        changes = self.changes[key]
        changes.append(message.ts_event)
        while changes and changes[0] <= message.ts_event - self.window:
            changes.popleft()
        if len(changes) <= self.max_changes:
            self.alerted.discard(key)
            return []
        if key in self.alerted:
            return []
        self.alerted.add(key)
        return [Finding(message.ts_event, SIGNAL_FLIP_FLOP, (
            f"{message.strategy}/{message.symbol}: entry direction changed {len(changes)} "
            f"times in {self.window.total_seconds():g} s (anomaly.max_direction_changes="
            f"{self.max_changes}); now {message.side}"), message.trace_id)]

    def tick(self, ts: datetime) -> list[Finding]:
        return []
