"""The daily compliance report's order-to-trade ratio rows, per strategy and symbol for one
day. The counting is the pre-trade control's own (:func:`live.order_flow.count_order_flow`:
NSE's convention, orders + modifications + cancellations over trades, a day without trades
dividing by one), so the report and the throttle can never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from live.events import Message, OrderFilled, OrderIntended
from live.order_flow import FlowCount, FlowKey, count_order_flow


@dataclass(frozen=True, slots=True)
class OtrCount:
    strategy: str
    symbol: str
    orders: int = 0
    modifications: int = 0
    cancellations: int = 0
    trades: int = 0

    @property
    def ratio(self) -> float:
        """(orders + modifications + cancellations) / trades, trades at least one."""
        return FlowCount(self.orders, self.modifications, self.cancellations,
                         self.trades).ratio()

    def to_json(self) -> dict[str, object]:
        return {"strategy": self.strategy, "symbol": self.symbol, "orders": self.orders,
                "modifications": self.modifications, "cancellations": self.cancellations,
                "trades": self.trades, "otr": round(self.ratio, 6)}


class OtrCounter:
    """Counts of one exchange ``day`` (NSE's, Asia/Kolkata) fed the journal in one pass."""

    def __init__(self, day: date) -> None:
        self.day = day
        self._flow: dict[FlowKey, FlowCount] = {}
        self._orders: dict[str, OrderIntended] = {}
        self._trades: set[str] = set()

    def observe(self, message: Message) -> None:
        count_order_flow(self._flow, self._orders, self._trades, message)
        if isinstance(message, OrderIntended):
            self._orders.setdefault(message.client_key, message)
        elif isinstance(message, OrderFilled):
            self._trades.add(message.trade_id)

    def rows(self) -> list[OtrCount]:
        return [OtrCount(strategy, symbol, c.orders, c.modifications, c.cancellations,
                         c.trades)
                for (strategy, symbol, day), c in sorted(self._flow.items()) if day == self.day]
