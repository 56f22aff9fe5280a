"""Impact prints from what we recorded: our own fills in the journal, and market ticks with
depth from the recorder (:mod:`live.market.recorder`).

Journal: every MARKET ``OrderIntended`` with fills gives one print: its reference is the
close of the last ``BarClosed`` of its symbol at or before the intent (the price it was
decided at), its cost the side-signed gap of its fills' VWAP to that reference, its minute
the next ``BarClosed`` (the bar it executed in: volume and Parkinson volatility) and its
post-trade move the close ``post_bars`` bars later. Ticks: every tick with a traded
quantity after a tick with both sides of the book gives one print, signed by the quote rule
(at or above the previous mid: a buy), costed against that mid, its minute the tick's
exchange minute (volume traded in it, Parkinson volatility of its prices).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from live.broker import OrderType, Side
from live.events import BarClosed, Message, OrderFilled, OrderIntended
from live.impact.calibration import ImpactPrint
from strategies.impact import BPS, parkinson_sigma_bps

DEFAULT_POST_BARS = 5


class Tick(Protocol):
    """What a print needs of a recorded tick (:class:`live.market.ticks.Tick`)."""

    @property
    def symbol(self) -> str: ...
    @property
    def ts(self) -> datetime | None: ...
    @property
    def price(self) -> float: ...
    @property
    def last_qty(self) -> int: ...
    @property
    def volume(self) -> int | None: ...
    @property
    def bids(self) -> tuple[tuple[float, int, int], ...]: ...
    @property
    def asks(self) -> tuple[tuple[float, int, int], ...]: ...
_SIGN = {Side.BUY: 1.0, Side.SELL: -1.0}


@dataclass
class _Intent:
    symbol: str
    side: Side
    ts: datetime
    qty: float = 0.0
    notional: float = 0.0


def _bars_by_symbol(messages: Iterable[Message]
                    ) -> tuple[dict[str, list[BarClosed]], dict[str, _Intent]]:
    bars: dict[str, list[BarClosed]] = defaultdict(list)
    intents: dict[str, _Intent] = {}
    for msg in messages:
        if isinstance(msg, BarClosed):
            bars[msg.symbol].append(msg)
        elif isinstance(msg, OrderIntended) and msg.order_type is OrderType.MARKET:
            intents[msg.client_key] = _Intent(msg.symbol, msg.side, msg.ts_event)
        elif isinstance(msg, OrderFilled) and msg.client_key in intents:
            intent = intents[msg.client_key]
            intent.qty += msg.qty
            intent.notional += msg.qty * msg.price
    for series in bars.values():
        series.sort(key=lambda b: b.ts_event)
    return bars, intents


def prints_from_journal(messages: Iterable[Message], *, post_bars: int = DEFAULT_POST_BARS
                        ) -> list[ImpactPrint]:
    """One print per filled MARKET intent in the journal's ``messages`` (see the module)."""
    bars, intents = _bars_by_symbol(messages)
    prints = []
    for intent in intents.values():
        series = bars.get(intent.symbol, [])
        at = bisect.bisect_right([b.ts_event for b in series], intent.ts)
        if intent.qty <= 0 or at == 0 or at >= len(series):
            continue
        ref, minute = series[at - 1].close, series[at]
        sign = _SIGN[intent.side]
        vwap = intent.notional / intent.qty
        later = series[min(at + post_bars, len(series) - 1)].close
        prints.append(ImpactPrint(
            qty=intent.qty, minute_volume=minute.volume,
            sigma_bps=parkinson_sigma_bps(minute.high, minute.low),
            cost_bps=sign * (vwap - ref) / ref * BPS,
            post_move_bps=sign * (later - ref) / ref * BPS))
    return prints


@dataclass
class _Minute:
    high: float = 0.0
    low: float = math.inf
    first_volume: int | None = None
    last_volume: int = 0
    traded: int = field(default=0)

    def add(self, tick: Tick) -> None:
        self.high, self.low = max(self.high, tick.price), min(self.low, tick.price)
        self.traded += max(tick.last_qty, 0)
        if tick.volume is not None:
            self.first_volume = tick.volume if self.first_volume is None else self.first_volume
            self.last_volume = tick.volume

    @property
    def volume(self) -> float:
        cumulative = 0 if self.first_volume is None else self.last_volume - self.first_volume
        return float(max(cumulative, self.traded))


def _mid(tick: Tick) -> float | None:
    if not tick.bids or not tick.asks:
        return None
    bid, ask = tick.bids[0][0], tick.asks[0][0]
    return (bid + ask) / 2.0 if 0 < bid <= ask else None


def _minute_key(tick: Tick) -> tuple[str, datetime] | None:
    if tick.ts is None or not (math.isfinite(tick.price) and tick.price > 0):
        return None
    return tick.symbol, tick.ts.replace(second=0, microsecond=0)


def prints_from_ticks(ticks: Iterable[tuple[int, Tick]]) -> list[ImpactPrint]:
    """One print per traded tick that follows a two-sided book (see the module)."""
    rows = [t for _, t in ticks]
    minutes: dict[tuple[str, datetime], _Minute] = defaultdict(_Minute)
    for tick in rows:
        key = _minute_key(tick)
        if key is not None:
            minutes[key].add(tick)
    prints: list[ImpactPrint] = []
    mids: dict[str, float] = {}
    for tick in rows:
        key = _minute_key(tick)
        if key is None:
            continue
        mid = mids.get(tick.symbol)
        if mid is not None and tick.last_qty > 0:
            sign = 1.0 if tick.price >= mid else -1.0
            minute = minutes[key]
            prints.append(ImpactPrint(qty=float(tick.last_qty), minute_volume=minute.volume,
                                      sigma_bps=parkinson_sigma_bps(minute.high, minute.low),
                                      cost_bps=sign * (tick.price - mid) / mid * BPS))
        now_mid = _mid(tick)
        if now_mid is not None:
            mids[tick.symbol] = now_mid
    return prints
