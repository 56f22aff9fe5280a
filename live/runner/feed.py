"""Market data for the runner: bars from a replayed dataset (the same Parquet research uses).

``replay:<dataset>`` yields the dataset's bars in time order (all symbols interleaved), from
``start`` to ``end`` inclusive (exchange-local dates). A live broker stream implements the
same iterator of :class:`FeedBar`. :func:`bar_problem` is the feed boundary's check: the
runner refuses (journals an alert, never a ``BarClosed``) a bar it names a problem for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from pipelines.datasets.schema import read_dataset
from strategies.venues import Venue, session_schedule


class FeedSpecError(ValueError):
    """A --feed value that is not ``replay:<dataset>``."""


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


def parse_feed(spec: str) -> str:
    """``replay:<dataset>`` -> dataset name."""
    kind, sep, name = spec.partition(":")
    if kind != "replay" or not sep or not name:
        raise FeedSpecError(f"--feed {spec!r}: use replay:<dataset> (e.g. replay:nse_index_1m)")
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
