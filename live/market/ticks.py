"""One market tick (Kite full mode) and the tick boundary's check.

:func:`tick_from_kite` builds a :class:`Tick` from a tick dict of ``kiteconnect.KiteTicker``
(its ``_parse_binary``: ``instrument_token``, ``last_price``, ``last_traded_quantity``,
``volume_traded``, ``oi``, ``exchange_timestamp``, ``depth`` with five ``buy`` and five
``sell`` levels of ``price``/``quantity``/``orders``). KiteTicker stamps
``exchange_timestamp`` with ``datetime.fromtimestamp(epoch)``: a *naive* time in the
process's local zone; :func:`tick_from_kite` turns it back into an aware exchange time
(exact wherever the local zone has no DST fold, e.g. ``TZ=Asia/Kolkata``). Anything else
handing the aggregator a naive time is refused by :func:`tick_problem`, which also refuses a
price that is not a finite positive number, a token nobody subscribed to, a missing exchange
time and negative quantities: such a tick is journaled as an alert, never part of a bar.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from live.events import Severity
from live.runner.feed import FeedAlert

DEPTH_LEVELS = 5  # Kite full mode: five bid and five ask levels


DepthLevel = tuple[float, int, int]  # one book level: (price, quantity, orders)


class Tick(NamedTuple):
    """A full-mode tick. ``ts`` is the exchange timestamp (aware; ``None`` when the packet
    had none); ``volume`` is the day's cumulative traded quantity and ``oi`` the open
    interest (``None`` for an index, which trades no volume). Immutable (a named tuple:
    cheap to build at tens of thousands a second)."""

    token: int
    symbol: str
    ts: datetime | None
    price: float
    last_qty: int
    volume: int | None
    oi: int | None
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()


def _levels(side: object) -> tuple[DepthLevel, ...]:
    """KiteTicker's depth levels (numbers from its binary unpacking); malformed -> none."""
    if not isinstance(side, list):
        return ()
    try:
        return tuple([(lv["price"], lv["quantity"], lv["orders"]) for lv in side])
    except (KeyError, TypeError):
        return ()


_AWARE: dict[datetime, datetime] = {}  # naive local second -> aware (ticks share seconds)


def _exchange_time(value: object) -> datetime | None:
    """KiteTicker's naive local ``exchange_timestamp`` as an aware time (None if missing)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None:
        return value
    found = _AWARE.get(value)
    if found is None:
        if len(_AWARE) > 4096:
            _AWARE.clear()
        found = _AWARE[value] = value.astimezone()  # naive = process-local (fromtimestamp)
    return found


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]  # numbers


def tick_from_kite(raw: Mapping[str, Any], symbols: Mapping[int, str]) -> Tick:
    """A :class:`Tick` from one KiteTicker tick dict; ``symbols`` maps the subscribed
    instrument tokens to the runner's symbols (an unknown token gets symbol ``""`` and is
    refused by :func:`tick_problem`). A missing price is NaN (refused there too)."""
    token = int(raw.get("instrument_token", -1))
    depth = raw.get("depth")
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()
    if isinstance(depth, dict):
        bids, asks = _levels(depth.get("buy")), _levels(depth.get("sell"))
    price = raw.get("last_price")
    return Tick(token=token, symbol=symbols.get(token, ""),
                ts=_exchange_time(raw.get("exchange_timestamp")),
                price=math.nan if price is None else float(price),
                last_qty=int(raw.get("last_traded_quantity") or 0),
                volume=_optional_int(raw.get("volume_traded")),
                oi=_optional_int(raw.get("oi")), bids=bids, asks=asks)


def tick_problem(tick: Tick, subscribed: Container[int]) -> str | None:
    """Why ``tick`` must not enter a bar (None when it is sound)."""
    if tick.token not in subscribed:
        return f"token {tick.token} is not subscribed (symbol {tick.symbol!r})"
    price = tick.price
    if not (price > 0 and math.isfinite(price)):  # NaN fails the comparison
        return f"{tick.symbol} (token {tick.token}): last price {price!r} is not a finite " \
               "positive number"
    ts = tick.ts
    if ts is None:
        return f"{tick.symbol} (token {tick.token}): no exchange timestamp (not a full-mode " \
               "tick?)"
    if ts.tzinfo is None or ts.utcoffset() is None:
        return f"{tick.symbol} (token {tick.token}): exchange timestamp {ts.isoformat()} is " \
               "naive (exchange time must be timezone-aware)"
    if tick.last_qty < 0 or (tick.volume is not None and tick.volume < 0):
        return f"{tick.symbol} (token {tick.token}): negative quantity (last qty " \
               f"{tick.last_qty}, cumulative volume {tick.volume})"
    return None


class TickGate:
    """The feed's tick boundary: :func:`tick_problem` for each tick, a refused tick journaled
    as one ``bad_tick`` alert per instrument, problem and minute (a burst of one bad price
    is one alert, not thousands; never the same alert twice), and counted."""

    def __init__(self, subscribed: Container[int]) -> None:
        self.subscribed = subscribed
        self.refused = 0
        self.alerts: list[FeedAlert] = []
        self._said: set[tuple[int, str, int]] = set()

    def admit(self, tick: Tick, now: datetime) -> bool:
        """True when ``tick`` is sound; else its alert (if new) goes to :attr:`alerts`."""
        problem = tick_problem(tick, self.subscribed)
        if problem is None:
            return True
        self.refused += 1
        key = (tick.token, problem, int(now.timestamp() // 60))
        if key not in self._said:
            if len(self._said) > 10_000:
                self._said.clear()
            self._said.add(key)
            self.alerts.append(FeedAlert(now, Severity.ERROR, "bad_tick",
                                         f"tick refused: {problem}; not part of any bar"))
        return False
