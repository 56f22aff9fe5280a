"""The order flow one trading day of the journal holds, per symbol: our orders (placed,
cancelled, filled), the bars (the touch and the market's volume), positions (the fold of
the fills, as :mod:`live.state` folds them) and realised P&L - what every detector reads.
Built by folding journal messages in order, so the batch scan and the online monitor see
the same flow."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from live.broker import Side
from live.events import (
    BarClosed,
    InternalCrossed,
    InternalCrossStarted,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    TradeExited,
)


@dataclass(slots=True)
class FlowOrder:
    """One order of ours: when and at what it was placed, the touch then, its end."""

    key: str
    strategy: str
    symbol: str
    side: Side
    qty: int
    limit_price: float | None
    placed: datetime
    touch: float | None  # the last bar's close before it was placed
    protective: bool = False  # a stop/target of a position (cancelled by design: OCO)
    cancelled: datetime | None = None
    filled_qty: int = 0


@dataclass(frozen=True, slots=True)
class FlowFill:
    trade_id: str
    key: str
    strategy: str
    symbol: str
    side: Side
    qty: int
    price: float
    ts: datetime


@dataclass(slots=True)
class SymbolFlow:
    """One symbol's day."""

    orders: dict[str, FlowOrder] = field(default_factory=dict)
    fills: list[FlowFill] = field(default_factory=list)
    bars: list[BarClosed] = field(default_factory=list)
    # strategy -> net quantity (carried in from earlier days, moved by each fill)
    net: dict[str, int] = field(default_factory=dict)
    max_abs_net: dict[str, int] = field(default_factory=dict)

    # the orders by the time they were placed, and the fills' times (both kept sorted: the
    # detectors look at a window around one time, not the whole day)
    placed_index: list[tuple[datetime, str]] = field(default_factory=list)
    fill_times: list[datetime] = field(default_factory=list)

    def touch(self) -> float | None:
        return self.bars[-1].close if self.bars else None

    def add_order(self, order: FlowOrder) -> None:
        self.orders[order.key] = order
        bisect.insort(self.placed_index, (order.placed, order.key))

    def add_fill(self, fill: FlowFill) -> None:
        at = bisect.bisect_right(self.fill_times, fill.ts)
        self.fill_times.insert(at, fill.ts)
        self.fills.insert(at, fill)

    def orders_placed_between(self, start: datetime, end: datetime) -> list[FlowOrder]:
        lo = bisect.bisect_left(self.placed_index, (start, ""))
        hi = bisect.bisect_right(self.placed_index, (end, "\uffff"))
        return [self.orders[key] for _, key in self.placed_index[lo:hi]]

    def fills_between(self, start: datetime, end: datetime) -> list[FlowFill]:
        lo = bisect.bisect_left(self.fill_times, start)
        return self.fills[lo:bisect.bisect_right(self.fill_times, end)]


@dataclass(slots=True)
class DayFlow:
    """A day's flow by symbol, and each strategy's realised P&L of the day."""

    day: date
    symbols: dict[str, SymbolFlow] = field(default_factory=lambda: defaultdict(SymbolFlow))
    pnl_inr: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class FlowBook:
    """Folds journal messages into :class:`DayFlow` s by exchange day (``tz``)."""

    def __init__(self, tz: str) -> None:
        self.tz = ZoneInfo(tz)
        self.days: dict[date, DayFlow] = {}
        self._orders: dict[str, FlowOrder] = {}  # every order by key (fills name the key)
        self._net: dict[tuple[str, str], int] = {}  # (strategy, symbol) -> net, all days
        self._crossing: dict[str, InternalCrossStarted] = {}  # internal crosses' markers

    def day_of(self, ts: datetime) -> date:
        return ts.astimezone(self.tz).date()

    def flow(self, day: date) -> DayFlow:
        found = self.days.get(day)
        if found is None:
            found = self.days[day] = DayFlow(day)
        return found

    def observe(self, message: Message) -> tuple[date, str] | None:
        """Fold one message; the (day, symbol) it touched, or None."""
        day = self.day_of(message.ts_event)
        if isinstance(message, BarClosed):
            flow = self.flow(day).symbols[message.symbol]
            if not flow.bars:  # the day's first bar: positions carried in from before
                for (strategy, symbol), net in self._net.items():
                    if symbol == message.symbol and net:
                        flow.net.setdefault(strategy, net)
            flow.bars.append(message)
            return day, message.symbol
        if isinstance(message, OrderIntended):
            return self._placed(day, message)
        if isinstance(message, OrderCancelled):
            order = self._orders.get(message.client_key)
            if order is None:
                return None
            order.cancelled = message.ts_event
            return day, order.symbol
        if isinstance(message, OrderFilled):
            return self._filled(day, message)
        if isinstance(message, InternalCrossStarted):
            self._crossing[message.cross_id] = message
            return None
        if isinstance(message, InternalCrossed):
            return self._crossed(day, message)
        if isinstance(message, TradeExited):
            self.flow(day).pnl_inr[message.strategy] += message.pnl_inr
            return day, message.symbol
        return None

    def _placed(self, day: date, intent: OrderIntended) -> tuple[date, str]:
        flow = self.flow(day).symbols[intent.symbol]
        order = FlowOrder(key=intent.client_key, strategy=intent.strategy,
                          symbol=intent.symbol, side=intent.side, qty=intent.qty,
                          limit_price=intent.limit_price, placed=intent.ts_event,
                          touch=flow.touch(), protective=intent.protective)
        flow.add_order(order)
        self._orders[intent.client_key] = order
        return day, intent.symbol

    def _filled(self, day: date, fill: OrderFilled) -> tuple[date, str]:
        order = self._orders.get(fill.client_key)
        if order is not None:
            order.filled_qty += fill.qty
        symbol = order.symbol if order is not None else fill.symbol
        flow = self.flow(day).symbols[symbol]
        flow.add_fill(FlowFill(trade_id=fill.trade_id, key=fill.client_key,
                               strategy=order.strategy if order else "?",
                               symbol=symbol, side=fill.side, qty=fill.qty,
                               price=fill.price, ts=fill.ts_event))
        strategy = order.strategy if order is not None else "?"
        net = self._net.get((strategy, symbol), 0) + (fill.qty if fill.side is Side.BUY
                                                      else -fill.qty)
        self._net[(strategy, symbol)] = flow.net[strategy] = net
        flow.max_abs_net[strategy] = max(flow.max_abs_net.get(strategy, 0), abs(net))
        return day, symbol

    def _crossed(self, day: date, crossed: InternalCrossed) -> tuple[date, str] | None:
        """An internal cross moves both strategies' positions (the position build-up
        detector sees it) and is no fill: no trade at the exchange to call a wash."""
        started = self._crossing.pop(crossed.cross_id, None)
        if started is None or crossed.crossed_qty == 0:
            return None
        flow = self.flow(day).symbols[started.symbol]
        signed = crossed.crossed_qty if started.side is Side.BUY else -crossed.crossed_qty
        for strategy, qty in ((started.strategy, signed), (started.resting_strategy, -signed)):
            net = self._net.get((strategy, started.symbol), 0) + qty
            self._net[(strategy, started.symbol)] = flow.net[strategy] = net
            flow.max_abs_net[strategy] = max(flow.max_abs_net.get(strategy, 0), abs(net))
        return day, started.symbol

    def forget_before(self, day: date) -> None:
        """Drop the flow of days before ``day`` (the online monitor's memory bound)."""
        for old in [d for d in self.days if d < day]:
            flow = self.days.pop(old)
            for symbol in flow.symbols.values():
                for key in symbol.orders:
                    self._orders.pop(key, None)


def compact_day(flow: DayFlow) -> DayFlow:
    """A past day reduced to what the history needs (P&L and peak positions)."""
    out = DayFlow(flow.day)
    out.pnl_inr.update(flow.pnl_inr)
    for name, sym in flow.symbols.items():
        out.symbols[name] = SymbolFlow(max_abs_net=dict(sym.max_abs_net))
    return out
