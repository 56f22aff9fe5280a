"""Market data for the runner: bars from a replayed dataset (the same Parquet research uses).

``replay:<dataset>`` yields the dataset's bars in time order (all symbols interleaved), from
``start`` to ``end`` inclusive (exchange-local dates); :func:`paced` replays them at a speed.

**The feed contract** (a replay, the pacer, and the coming Kite live feed alike): a feed is an
iterator of :class:`FeedBar` and :class:`Idle` items. While it waits for the next bar it must
not block for more than :data:`IDLE_SLICE_SECONDS`: it yields an :class:`Idle` marker at least
that often, and the runner polls its control channel (kill commands) on each one and acts at
once. A live feed that blocks on a socket reads with that timeout and yields ``Idle`` when
the read times out. ``Idle.ts`` is the market time now on the bars' own timeline - the last
bar's timestamp plus the time elapsed since that bar arrived (x the speed, in a replay) - so
it is never earlier than the last bar and never later than the next; actions taken between
bars are stamped with it. A feed that yields no markers (a flat-out replay) is polled at each
bar only.
A live feed also yields :class:`FeedAlert` (a problem it saw: journaled as an alert, never a
bar), :class:`FeedHold` (entries in a symbol held while its data is stale, and lifted) and
:class:`WarmBar` (a catch-up bar from before the live edge: it warms the history and is
journaled, but the runner never decides or sends an order on it).
:func:`bar_problem` is the feed boundary's check: the runner refuses (journals an alert,
never a ``BarClosed``) a bar it names a problem for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from live.events import Severity
from strategies.errors import BadInputError
from strategies.files import read_dataset
from strategies.names import NAME
from strategies.venues import Venue, session_schedule

IDLE_SLICE_SECONDS = 0.2  # the longest a feed may wait without yielding to the runner


class FeedSpecError(BadInputError, ValueError):
    """A --feed value that is not ``replay:<dataset>``, or a pacing that is not positive."""


@dataclass(frozen=True, slots=True)
class FeedBar:
    """One closed bar."""

    symbol: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Idle:
    """No bar yet: the market time now (see the module's feed contract). The runner polls
    its controls and acts between bars on it."""

    ts: datetime


@dataclass(frozen=True, slots=True)
class FeedAlert:
    """Something the feed saw that the desk must know (a refused tick, a late tick, a minute
    with no tick, a disconnect): the runner journals it as an alert at ``ts``."""

    ts: datetime
    severity: Severity
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FeedHold:
    """``held``: no new entries in ``symbol`` until a later ``FeedHold(held=False)`` (its
    data is stale or incomplete); exits and protective orders are never held."""

    ts: datetime
    symbol: str
    held: bool
    reason: str


@dataclass(frozen=True, slots=True)
class WarmBar:
    """A closed bar from before the live edge (catch-up at start): history only, no orders."""

    bar: FeedBar


FeedItem = FeedBar | Idle | FeedAlert | FeedHold | WarmBar


def parse_feed(spec: str) -> str:
    """``replay:<dataset>`` -> dataset name."""
    kind, sep, name = spec.partition(":")
    if kind != "replay" or not sep or not NAME.fullmatch(name):
        raise FeedSpecError(f"--feed {spec!r}: use replay:<dataset> (e.g. replay:nse_index_1m; "
                            "a dataset name is [a-z][a-z0-9_]{0,62})")
    return name


def replay_frame(path: Path, symbols: list[str], start: date | None,
                 end: date | None) -> pd.DataFrame:
    """The dataset's bars of ``symbols`` in [start, end], sorted by (ts, symbol)."""
    frame = read_dataset(path)
    frame = frame[frame["symbol"].isin(symbols)]
    local_day = frame["ts"].dt.tz_localize(None).dt.normalize()
    if start is not None:
        frame = frame[local_day >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[local_day.loc[frame.index] <= pd.Timestamp(end)]
    return frame.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)


def replay_bars(frame: pd.DataFrame) -> Iterator[FeedBar]:
    """Each row as a :class:`FeedBar`, in order."""
    columns = [frame[c].to_numpy() for c in ("symbol", "open", "high", "low", "close",
                                             "volume")]
    for ts, symbol, o, h, lo, c, v in zip(frame["ts"], *columns, strict=True):
        yield FeedBar(str(symbol), ts.to_pydatetime(), float(o), float(h), float(lo),
                      float(c), float(v))


def paced(bars: Iterable[FeedItem], *, speed: float, sleep: Callable[[float], None],
          monotonic: Callable[[], float], bar_seconds: float = 60.0,
          slice_seconds: float = IDLE_SLICE_SECONDS) -> Iterator[FeedItem]:
    """``bars`` at ``speed`` x real time: each new timestamp comes ``bar_seconds / speed``
    wall seconds after the previous one arrived (bars of one timestamp together); the wait
    is slept in slices of at most ``slice_seconds``, an :class:`Idle` after each slice.
    Items that are not live bars (a warm-up's :class:`WarmBar`, alerts, holds) pass at once.
    ``sleep`` and ``monotonic`` are injected (``time.sleep``, ``time.monotonic``)."""
    if not (speed > 0 and bar_seconds > 0 and 0 < slice_seconds <= IDLE_SLICE_SECONDS):
        raise FeedSpecError(f"pacing speed={speed!r}, bar_seconds={bar_seconds!r}, "
                            f"slice_seconds={slice_seconds!r}: speed and bar_seconds must be "
                            f"positive, slice_seconds in (0, {IDLE_SLICE_SECONDS}]")
    wait = bar_seconds / speed
    last: datetime | None = None
    arrived = 0.0
    for bar in bars:
        if not isinstance(bar, FeedBar):
            yield bar
            continue
        if last is not None and bar.ts != last:
            yield from _idle_until(last, arrived, wait, speed, sleep, monotonic,
                                   slice_seconds)
        if bar.ts != last:
            last, arrived = bar.ts, monotonic()
        yield bar


def _idle_until(last: datetime, arrived: float, wait: float, speed: float,
                sleep: Callable[[float], None], monotonic: Callable[[], float],
                slice_seconds: float) -> Iterator[Idle]:
    """Sleep until ``arrived + wait`` in slices, an :class:`Idle` after each but the last."""
    while True:
        remaining = arrived + wait - monotonic()
        if remaining <= 0:
            return
        sleep(min(slice_seconds, remaining))
        elapsed = monotonic() - arrived
        if elapsed >= wait:
            return
        yield Idle(last + timedelta(seconds=elapsed * speed))


def bar_problem(bar: FeedBar, venue: Venue) -> str | None:
    """Why ``bar`` must not be traded on (None when it is sound): a price that is not a
    finite positive number, a negative or non-finite volume, high below low, an open or
    close outside [low, high], a naive time, or a time outside the venue's sessions."""
    prices = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close}
    bad = {k: v for k, v in prices.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        return f"prices not finite and positive: {bad}"
    if not (math.isfinite(bar.volume) and bar.volume >= 0):
        return f"volume {bar.volume!r} is not a finite number >= 0"
    if bar.high < bar.low:
        return f"high {bar.high:g} < low {bar.low:g}"
    outside = {k: prices[k] for k in ("open", "close") if not bar.low <= prices[k] <= bar.high}
    if outside:
        return f"{outside} outside [low {bar.low:g}, high {bar.high:g}]"
    if bar.ts.tzinfo is None or bar.ts.utcoffset() is None:
        return f"time {bar.ts.isoformat()} is naive (exchange time must be timezone-aware)"
    if not in_session(venue, bar.ts):
        local = pd.Timestamp(bar.ts).tz_convert(venue.tz)
        return f"time {local.isoformat()} is outside every {venue.name} session"
    return None


def in_session(venue: Venue, ts: datetime) -> bool:
    """Whether ``ts`` falls in one of ``venue``'s sessions (its calendar: holidays, half
    days and special sessions included; an overnight session counts for the day it
    closes)."""
    if venue.round_the_clock:
        return True
    day = ts.astimezone(ZoneInfo(venue.tz)).date()
    stamp = ts.timestamp()
    return any(start <= stamp < end for start, end in _sessions(venue.name, day))


@functools.lru_cache(maxsize=64)
def _sessions(venue_name: str, day: date) -> tuple[tuple[float, float], ...]:
    """(open, close) POSIX seconds of the sessions of ``day`` and the day after."""
    frame = session_schedule(venue_name, day, day + timedelta(days=1))
    return tuple((o.timestamp(), c.timestamp()) for o, c in zip(
        frame["open"], frame["close"], strict=True))
