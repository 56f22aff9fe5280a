"""Order-to-trade ratio counted from the journal, per strategy and symbol for one day, for
the compliance report: orders entered + modified + cancelled over trades executed (NSE's
definition counts modifications and cancellations as orders). No pre-trade throttle here:
this is the report's after-the-fact count."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
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


def otr_counts(messages: Iterable[Message], day: date, tz: str) -> list[OtrCount]:
    """Counts of ``day`` (exchange time ``tz``) by strategy and symbol, sorted."""
    zone = ZoneInfo(tz)
    owner: dict[str, tuple[str, str]] = {}  # client key -> (strategy, symbol), every day
    counts: dict[tuple[str, str], OtrCount] = {}
    trades: dict[tuple[str, str], set[str]] = defaultdict(set)

    def count(key: tuple[str, str]) -> OtrCount:
        found = counts.get(key)
        if found is None:
            found = counts[key] = OtrCount(*key)
        return found

    for message in messages:
        if isinstance(message, OrderIntended):
            owner[message.client_key] = (message.strategy, message.symbol)
        if message.ts_event.astimezone(zone).date() != day:
            continue
        if isinstance(message, OrderIntended):
            count(owner[message.client_key]).orders += 1
            continue
        key = owner.get(getattr(message, "client_key", ""))
        if key is None:
            continue
        if isinstance(message, OrderModified):
            count(key).modifications += 1
        elif isinstance(message, OrderCancelled):
            count(key).cancellations += 1
        elif isinstance(message, OrderFilled) and message.trade_id not in trades[key]:
            trades[key].add(message.trade_id)
            count(key).trades += 1
    return [counts[k] for k in sorted(counts)]
