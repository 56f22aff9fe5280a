"""Order messages and trades per strategy, symbol and exchange day: the order-to-trade
ratio's numerator and denominator, folded from the journal like the rest of the state.

Convention (NSE's OTR circulars, applied per strategy and symbol as well as the exchange's
per-member view): the numerator counts every order *message* - new orders, modifications
and cancellations - and the denominator the trades executed; a day with no trades divides
by one. We count an order when it is intended (journaled before it is sent), so an order the
broker rejects still counts: our ratio is never below what the exchange would compute (NSE
also exempts orders priced near the last trade; we do not, which errs on the safe side).
The day is the NSE trading day of the event (Asia/Kolkata).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from live.events import Message, OrderCancelled, OrderFilled, OrderIntended, OrderModified

EXCHANGE_TZ = ZoneInfo("Asia/Kolkata")  # every segment we trade (NSE, NFO, CDS) is NSE's

FlowKey = tuple[str, str, date]  # strategy, symbol, exchange day


class _Owned(Protocol):
    @property
    def strategy(self) -> str: ...

    @property
    def symbol(self) -> str: ...


@dataclass(slots=True)
class FlowCount:
    """One strategy/symbol/day's order messages and trades."""

    orders: int = 0
    modifications: int = 0
    cancellations: int = 0
    trades: int = 0

    @property
    def messages(self) -> int:
        return self.orders + self.modifications + self.cancellations

    def ratio(self, extra_messages: int = 0) -> float:
        """(messages + ``extra_messages``) / trades, trades at least one."""
        return (self.messages + extra_messages) / max(self.trades, 1)


def exchange_day(ts: datetime) -> date:
    return ts.astimezone(EXCHANGE_TZ).date()


def count_order_flow(flow: dict[FlowKey, FlowCount], orders: Mapping[str, _Owned],
                     trade_ids: Container[str], message: Message) -> None:
    """Fold ``message`` into ``flow``; call it *before* the state's own handler (a repeated
    intent or execution - already in ``orders`` / ``trade_ids`` - counts once)."""
    kind = type(message)
    if kind is OrderIntended:
        assert isinstance(message, OrderIntended)
        if message.client_key not in orders:
            _count(flow, message.strategy, message.symbol, message.ts_event).orders += 1
        return
    if kind is OrderFilled:
        assert isinstance(message, OrderFilled)
        if message.trade_id in trade_ids:
            return
    elif kind is not OrderModified and kind is not OrderCancelled:
        return
    key = getattr(message, "client_key")  # noqa: B009 - all three kinds carry one
    order = orders.get(key)
    if order is None:
        return  # the state records the discrepancy; nothing to attribute it to
    count = _count(flow, order.strategy, order.symbol, message.ts_event)
    if kind is OrderFilled:
        count.trades += 1
    elif kind is OrderModified:
        count.modifications += 1
    else:
        count.cancellations += 1


def _count(flow: dict[FlowKey, FlowCount], strategy: str, symbol: str,
           ts: datetime) -> FlowCount:
    key = (strategy, symbol, exchange_day(ts))
    found = flow.get(key)
    if found is None:
        found = flow[key] = FlowCount()
    return found
