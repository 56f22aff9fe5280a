"""Order-to-trade ratio counted from the journal, per strategy and symbol for one day, for
the compliance report: orders entered + modified + cancelled over trades executed (NSE's
definition counts modifications and cancellations as orders). No pre-trade throttle here:
this is the report's after-the-fact count."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from live.events import (
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderModified,
)


@dataclass(slots=True)
class OtrCount:
    strategy: str
    symbol: str
    orders: int = 0
    modifications: int = 0
    cancellations: int = 0
    trades: int = 0

    @property
    def ratio(self) -> float | None:
        """(orders + modifications + cancellations) / trades; None with no trade."""
        messages = self.orders + self.modifications + self.cancellations
        return messages / self.trades if self.trades else None

    def to_json(self) -> dict[str, object]:
        ratio = self.ratio
        return {"strategy": self.strategy, "symbol": self.symbol, "orders": self.orders,
                "modifications": self.modifications, "cancellations": self.cancellations,
                "trades": self.trades, "otr": None if ratio is None else round(ratio, 6)}


class OtrCounter:
    """Counts of one ``day`` (exchange time ``tz``) fed the journal in one pass."""

    def __init__(self, day: date, tz: str) -> None:
        self.day, self.zone = day, ZoneInfo(tz)
        self._owner: dict[str, tuple[str, str]] = {}  # client key -> (strategy, symbol)
        self._counts: dict[tuple[str, str], OtrCount] = {}
        self._trades: dict[tuple[str, str], set[str]] = defaultdict(set)

    def _count(self, key: tuple[str, str]) -> OtrCount:
        found = self._counts.get(key)
        if found is None:
            found = self._counts[key] = OtrCount(*key)
        return found

    def observe(self, message: Message) -> None:
        seen = message.ts_event.astimezone(self.zone).date()
        if seen > self.day:
            return
        if isinstance(message, OrderIntended):
            self._owner[message.client_key] = (message.strategy, message.symbol)
        if seen != self.day:
            return
        if isinstance(message, OrderIntended):
            self._count(self._owner[message.client_key]).orders += 1
            return
        key = self._owner.get(getattr(message, "client_key", ""))
        if key is None:
            return
        if isinstance(message, OrderModified):
            self._count(key).modifications += 1
        elif isinstance(message, OrderCancelled):
            self._count(key).cancellations += 1
        elif isinstance(message, OrderFilled) and message.trade_id not in self._trades[key]:
            self._trades[key].add(message.trade_id)
            self._count(key).trades += 1

    def rows(self) -> list[OtrCount]:
        return [self._counts[k] for k in sorted(self._counts)]

