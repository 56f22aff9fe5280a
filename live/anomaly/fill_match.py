"""Fills that do not match their intents: a fill whose client key was never intended, fills
of an order adding up to more than its quantity, a fill on the other side, or a limit
order's fill through its limit price (more than ``anomaly.fill_limit_tolerance_points``;
a buy above, a sell below). A fill counts once per broker trade id. (A fill far from its
order's reference price is the runner's own ``insane_fill`` check, not repeated here.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from live.anomaly.base import (
    FILL_OUTSIDE_LIMIT,
    FILL_OVER_INTENT,
    FILL_SIDE_MISMATCH,
    FILL_UNKNOWN_ORDER,
    Finding,
)
from live.broker import Side
from live.events import Message, OrderFilled, OrderIntended, OrderModified


@dataclass(slots=True)
class _Order:
    intent: OrderIntended
    qty: int
    limit_price: float | None
    filled: int = 0


class FillMatch:
    """Every intent by client key (rebuilt from the journal on restart) and its fills."""

    def __init__(self, tolerance_points: float) -> None:
        self.tolerance = tolerance_points
        self.orders: dict[str, _Order] = {}
        self.trades: set[str] = set()

    def observe(self, message: Message, wall: datetime) -> list[Finding]:
        if isinstance(message, OrderIntended):
            self.orders.setdefault(message.client_key, _Order(message, message.qty,
                                                              message.limit_price))
        elif isinstance(message, OrderModified):
            order = self.orders.get(message.client_key)
            if order is not None:
                order.qty = message.qty if message.qty is not None else order.qty
                if message.limit_price is not None:
                    order.limit_price = message.limit_price
        elif isinstance(message, OrderFilled) and message.trade_id not in self.trades:
            self.trades.add(message.trade_id)
            return self._check(message)
        return []

    def _check(self, fill: OrderFilled) -> list[Finding]:
        what = f"fill {fill.trade_id} ({fill.symbol} {fill.side} {fill.qty} @ {fill.price:g})"
        order = self.orders.get(fill.client_key)
        if order is None:
            return [Finding(fill.ts_event, FILL_UNKNOWN_ORDER,
                            f"{what} for client key {fill.client_key}, never intended",
                            fill.trace_id)]
        i, out = order.intent, []
        order.filled += fill.qty
        if order.filled > order.qty:
            out.append(Finding(fill.ts_event, FILL_OVER_INTENT, (
                f"{what}: {order.filled} filled of order {fill.client_key} for {order.qty} "
                f"({i.strategy}/{i.symbol} {i.side})"), i.trace_id))
        if fill.side is not i.side:
            out.append(Finding(fill.ts_event, FILL_SIDE_MISMATCH, (
                f"{what}: order {fill.client_key} ({i.strategy}/{i.symbol}) is a "
                f"{i.side}"), i.trace_id))
        limit = order.limit_price
        if limit is not None:
            through = fill.price - limit if i.side is Side.BUY else limit - fill.price
            if through > self.tolerance:
                out.append(Finding(fill.ts_event, FILL_OUTSIDE_LIMIT, (
                    f"{what}: {through:g} through the {i.side} limit {limit:g} of order "
                    f"{fill.client_key} ({i.strategy}/{i.symbol}); tolerance "
                    f"anomaly.fill_limit_tolerance_points={self.tolerance:g}"), i.trace_id))
        return out

    def tick(self, ts: datetime) -> list[Finding]:
        return []
