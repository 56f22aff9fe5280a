"""Runaway order loop: a strategy intending more than ``anomaly.max_orders_per_window``
orders (every slice, child and protective order counts: each is a message to the broker)
within ``anomaly.order_rate_window_seconds`` of market time. Alerted once, then again only
after its rate fell back under the limit."""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

from live.anomaly.base import ORDER_RATE_RUNAWAY, Finding
from live.events import Message, OrderIntended


class OrderRate:
    """Per strategy: the times of its intents inside the window, and whether it is alerted."""

    def __init__(self, window_seconds: float, max_orders: int) -> None:
        self.window = timedelta(seconds=window_seconds)
        self.max_orders = max_orders
        self.times: dict[str, deque[datetime]] = defaultdict(deque)
        self.alerted: set[str] = set()

    def observe(self, message: Message, wall: datetime) -> list[Finding]:
        if not isinstance(message, OrderIntended):
            return []
        times = self.times[message.strategy]
        times.append(message.ts_event)
        while times and times[0] <= message.ts_event - self.window:
            times.popleft()
        if len(times) <= self.max_orders:
            self.alerted.discard(message.strategy)
            return []
        if message.strategy in self.alerted:
            return []
        self.alerted.add(message.strategy)
        return [Finding(message.ts_event, ORDER_RATE_RUNAWAY, (
            f"{message.strategy}: {len(times)} orders intended in "
            f"{self.window.total_seconds():g} s (anomaly.max_orders_per_window="
            f"{self.max_orders}); last {message.symbol} {message.side} {message.qty} "
            f"({message.client_key})"), message.trace_id)]

    def tick(self, ts: datetime) -> list[Finding]:
        return []
