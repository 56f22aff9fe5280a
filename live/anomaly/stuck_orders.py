"""Stuck orders: an order still working (intended, in doubt or open, and not a resting
protective stop / target) longer than ``anomaly.stuck_order_seconds`` of market time.
Age is measured at each bar (its label) and between bars (the feed's idle markers). Alerted
once per order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from live.anomaly.base import ORDER_STUCK, Finding
from live.broker import Outcome
from live.events import (
    BarClosed,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderModified,
    OrderRejected,
    OrderSubmitted,
)


@dataclass(slots=True)
class _Working:
    intent: OrderIntended
    qty: int
    filled: int = 0


class StuckOrders:
    """Working orders by client key, their age measured on the journal's market time."""

    def __init__(self, budget_seconds: float) -> None:
        self.budget = timedelta(seconds=budget_seconds)
        self.working: dict[str, _Working] = {}

    def observe(self, message: Message, wall: datetime) -> list[Finding]:
        self._track(message)
        if not isinstance(message, BarClosed):
            return []
        return self.tick(message.ts_event)  # market time: the bars' (not the process clock)

    def _track(self, message: Message) -> None:
        if isinstance(message, OrderIntended):
            if not message.protective:  # a stop / target rests by design
                self.working.setdefault(message.client_key, _Working(message, message.qty))
        elif isinstance(message, OrderFilled):
            order = self.working.get(message.client_key)
            if order is not None:
                order.filled += message.qty
                if order.filled >= order.qty:
                    del self.working[message.client_key]
        elif isinstance(message, OrderModified) and message.qty is not None:
            order = self.working.get(message.client_key)
            if order is not None:
                order.qty = message.qty
        elif isinstance(message, OrderCancelled | OrderRejected) or (
                isinstance(message, OrderSubmitted) and message.outcome is Outcome.REJECTED):
            self.working.pop(message.client_key, None)

    def tick(self, ts: datetime) -> list[Finding]:
        out = []
        for key, order in list(self.working.items()):
            age = ts - order.intent.ts_event
            if age > self.budget:
                del self.working[key]  # once per order
                i = order.intent
                out.append(Finding(ts, ORDER_STUCK, (
                    f"{i.strategy}/{i.symbol} {i.side} {i.qty} {i.order_type} order {key} "
                    f"still working after {age.total_seconds():g} s ({order.filled} filled); "
                    f"budget anomaly.stuck_order_seconds={self.budget.total_seconds():g}"),
                    i.trace_id))
        return out
