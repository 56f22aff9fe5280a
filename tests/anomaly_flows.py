"""Small journal-message factories for the anomaly detector tests: one strategy's orders,
fills, bars and signals on NIFTY, in exchange time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from live.broker import OrderType, Outcome, Side
from live.events import (
    BarClosed,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    SignalRaised,
    SignalSide,
    TradingMode,
    client_key,
)

IST = timezone(timedelta(hours=5, minutes=30))
T0 = datetime(2025, 1, 6, 9, 30, tzinfo=IST)
STRATEGY = "ema_cross"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def bar(ts: datetime, close: float, symbol: str = "NIFTY") -> BarClosed:
    return BarClosed(trace_id="", ts_event=ts, symbol=symbol, open=close, high=close + 1,
                     low=close - 1, close=close, volume=1000.0)


def signal(ts: datetime, side: SignalSide, trace: str, strategy: str = STRATEGY
           ) -> SignalRaised:
    return SignalRaised(trace_id=trace, ts_event=ts, strategy=strategy, version="1",
                        symbol="NIFTY", side=side, reason="entry")


def intent(ts: datetime, trace: str, *, side: Side = Side.BUY, qty: int = 75,
           limit: float | None = None, after_trade: str | None = None,
           strategy: str = STRATEGY, leg: int = 0) -> OrderIntended:
    return OrderIntended(trace_id=trace, ts_event=ts, client_key=client_key(trace, leg),
                         strategy=strategy, version="1", symbol="NIFTY", exchange="NFO",
                         side=side, qty=qty,
                         order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
                         limit_price=limit, mode=TradingMode.LIVE, after_trade=after_trade)


def confirmed(order: OrderIntended, ts: datetime | None = None) -> OrderSubmitted:
    return OrderSubmitted(trace_id=order.trace_id, ts_event=ts or order.ts_event,
                          client_key=order.client_key, broker_order_id="b-" + order.client_key,
                          outcome=Outcome.CONFIRMED)


def fill(order: OrderIntended, ts: datetime, price: float, *, qty: int | None = None,
         trade: str = "t1", side: Side | None = None, key: str | None = None) -> OrderFilled:
    return OrderFilled(trace_id=order.trace_id, ts_event=ts,
                       client_key=key or order.client_key,
                       broker_order_id="b-" + order.client_key, trade_id=trade,
                       symbol="NIFTY", side=side or order.side,
                       qty=qty if qty is not None else order.qty, price=price)
