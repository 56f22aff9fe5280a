"""Synthetic journal flows for the surveillance tests: our orders, cancels, fills, bars and
positions as the runner journals them, in exchange time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from live.broker import OrderType, Side
from live.events import (
    BarClosed,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    TradeExited,
    TradingMode,
)

IST = timezone(timedelta(hours=5, minutes=30))
SYMBOL = "NIFTY"


def at(hour: int, minute: int, second: int = 0, *, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=IST)


class Flow:
    """Builds a list of journal messages in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._n = 0

    def bar(self, ts: datetime, close: float, volume: float = 10_000.0,
            symbol: str = SYMBOL) -> Flow:
        self.messages.append(BarClosed(trace_id="", ts_event=ts, symbol=symbol, open=close,
                                       high=close + 1, low=close - 1, close=close,
                                       volume=volume))
        return self

    def order(self, ts: datetime, side: Side, qty: int, limit: float | None,
              strategy: str = "ema", symbol: str = SYMBOL,
              after_trade: str | None = None) -> str:
        self._n += 1
        key = f"so{self._n:016d}"
        self.messages.append(OrderIntended(
            trace_id=f"tr{self._n}", ts_event=ts, client_key=key, strategy=strategy,
            version="1", symbol=symbol, exchange="NFO", side=side, qty=qty,
            order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
            limit_price=limit, mode=TradingMode.LIVE, after_trade=after_trade))
        return key

    def cancel(self, ts: datetime, key: str) -> Flow:
        self.messages.append(OrderCancelled(trace_id="tr", ts_event=ts, client_key=key,
                                            broker_order_id="B" + key, reason="test"))
        return self

    def fill(self, ts: datetime, key: str, side: Side, qty: int, price: float,
             symbol: str = SYMBOL) -> Flow:
        self._n += 1
        self.messages.append(OrderFilled(trace_id="tr", ts_event=ts, client_key=key,
                                         broker_order_id="B" + key, trade_id=f"T{self._n}",
                                         symbol=symbol, side=side, qty=qty, price=price))
        return self

    def trade(self, ts: datetime, side: Side, qty: int, price: float,
              strategy: str = "ema", symbol: str = SYMBOL) -> str:
        """A market order filled at once."""
        key = self.order(ts, side, qty, None, strategy, symbol)
        self.fill(ts, key, side, qty, price, symbol)
        return key

    def pnl(self, ts: datetime, pnl_inr: float, strategy: str = "ema",
            symbol: str = SYMBOL) -> Flow:
        self.messages.append(TradeExited(trace_id="tr", ts_event=ts, strategy=strategy,
                                         symbol=symbol, reason="exit", pnl_inr=pnl_inr))
        return self


def utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC)
