"""Net positions and realised P&L as a fold over fills (average-cost convention)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from live.broker import FillReport, Side


@dataclass(frozen=True, slots=True)
class Book:
    """One symbol's position: signed quantity, average entry price, realised P&L (points x
    qty, before costs)."""

    net_qty: int = 0
    avg_price: float = 0.0
    realised_pnl: float = 0.0

    def apply(self, side: Side, qty: int, price: float) -> Book:
        """The book after one fill: reduce (realising P&L) first, then open or add."""
        signed = qty if side is Side.BUY else -qty
        if self.net_qty == 0 or (self.net_qty > 0) == (signed > 0):
            total = self.net_qty + signed
            avg = (self.avg_price * abs(self.net_qty) + price * qty) / abs(total)
            return Book(total, avg, self.realised_pnl)
        closed = min(qty, abs(self.net_qty))
        direction = 1 if self.net_qty > 0 else -1
        realised = self.realised_pnl + (price - self.avg_price) * closed * direction
        total = self.net_qty + signed
        if total == 0:
            return Book(0, 0.0, realised)
        avg = self.avg_price if (total > 0) == (self.net_qty > 0) else price
        return Book(total, avg, realised)


def fold_fills(fills: Iterable[FillReport]) -> dict[str, Book]:
    """Books per symbol from fills in execution order; a repeated ``trade_id`` counts once."""
    books: dict[str, Book] = {}
    seen: set[str] = set()
    for fill in fills:
        if fill.trade_id in seen:
            continue
        seen.add(fill.trade_id)
        books[fill.symbol] = books.get(fill.symbol, Book()).apply(fill.side, fill.qty, fill.price)
    return books
