"""The start-up catch-up: minute candles from Kite's historical-data API for the warm-up
window, so the strategies' indicators are warm when live bars begin.

The live edge is the first minute the ticker saw from its start; the catch-up covers the
warm-up window up to the minute before it - never the edge minute or a later one (a candle of
a minute still open would be a guess) - and the aggregator drops ticks before the edge, so
there is no gap and no overlap. Catch-up bars reach the runner as
:class:`~live.runner.feed.WarmBar` items: journaled and added to the history like any bar,
never decided or traded on. A candle that is not sound (``bar_problem``), naive or repeated
is refused and reported; a fetch that fails after its retries raises
:class:`CatchUpError` (the feed then holds entries: indicators would be cold).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from live.runner.feed import FeedBar, bar_problem
from strategies.errors import StratopsError
from strategies.venues import Venue, session_schedule

KITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S"  # the historical API reads times as exchange-local
ATTEMPTS = 3


class CatchUpError(StratopsError, RuntimeError):
    """The historical-data API did not answer for an instrument after every retry."""


class HistoricalSource(Protocol):
    """What the catch-up needs of ``kiteconnect.KiteConnect``."""

    def historical_data(self, instrument_token: int, from_date: Any, to_date: Any,
                        interval: str) -> Sequence[Mapping[str, Any]]: ...


@dataclass
class CatchUp:
    """The warm-up bars (in time order, symbols interleaved) and the candles refused."""

    bars: list[FeedBar] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dropped_at_edge: int = 0  # candles of the edge minute or later (not closed at start)


def warmup_start(venue: Venue, edge: datetime, sessions: int) -> datetime:
    """The open of the session ``sessions - 1`` sessions before the edge's (so the window
    holds ``sessions`` sessions, today's included)."""
    tz = ZoneInfo(venue.tz)
    day = edge.astimezone(tz).date()
    frame = session_schedule(venue.name, day - timedelta(days=7 * sessions + 14), day)
    opens: list[datetime] = [o.to_pydatetime() for o in frame["open"]
                             if o.to_pydatetime() <= edge]
    if not opens:
        return edge
    return opens[max(0, len(opens) - sessions)]


def catch_up(source: HistoricalSource, tokens: Mapping[int, str], *, venue: Venue,
             edge: datetime, sessions: int, pause: Callable[[float], None],
             pause_seconds: float = 0.35) -> CatchUp:
    """Fetch each token's minute candles from the warm-up start to the minute before
    ``edge`` (``pause_seconds`` between requests: the API allows 3 per second)."""
    tz = ZoneInfo(venue.tz)
    start = warmup_start(venue, edge, sessions).astimezone(tz).replace(tzinfo=None)
    end = (edge - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None)
    result = CatchUp()
    for i, (token, symbol) in enumerate(sorted(tokens.items(), key=lambda kv: kv[1])):
        if i:
            pause(pause_seconds)
        candles = _fetch(source, token, symbol, start, end, pause, pause_seconds)
        _take(candles, symbol, venue, edge, result)
    result.bars.sort(key=lambda b: (b.ts, b.symbol))
    return result


def _fetch(source: HistoricalSource, token: int, symbol: str, start: datetime,
           end: datetime, pause: Callable[[float], None], pause_seconds: float
           ) -> Sequence[Mapping[str, Any]]:
    last: Exception | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            pause(pause_seconds * 2**attempt)
        try:
            return source.historical_data(token, start, end, "minute")
        except Exception as exc:  # a network boundary: any failure is retried, then refused
            last = exc
    raise CatchUpError(f"historical minute candles of {symbol} (token {token}) from "
                       f"{start:{KITE_TS_FORMAT}} to {end:{KITE_TS_FORMAT}} failed "
                       f"{ATTEMPTS} times: {type(last).__name__}: {last}")


def _take(candles: Sequence[Mapping[str, Any]], symbol: str, venue: Venue, edge: datetime,
          result: CatchUp) -> None:
    """The sound candles of one instrument before the edge, as bars."""
    last: datetime | None = None
    for i, candle in enumerate(candles):
        try:
            ts = candle["date"]
            bar = FeedBar(symbol, ts, float(candle["open"]), float(candle["high"]),
                          float(candle["low"]), float(candle["close"]),
                          float(candle["volume"]))
        except (KeyError, TypeError, ValueError) as exc:
            result.problems.append(f"{symbol} candle {i}: unreadable ({exc!r}): {candle!r}")
            continue
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            result.problems.append(f"{symbol} candle {i}: time {ts!r} is not an aware "
                                   "datetime")
            continue
        if ts >= edge:
            result.dropped_at_edge += 1
            continue
        problem = bar_problem(bar, venue)
        if problem is None and last is not None and ts <= last:
            problem = f"time {ts.isoformat()} is not after the previous candle {last}"
        if problem is not None:
            result.problems.append(f"{symbol} candle at {ts}: {problem}; refused")
            continue
        result.bars.append(bar)
        last = ts
