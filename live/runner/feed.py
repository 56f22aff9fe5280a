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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines.datasets.schema import read_dataset
from strategies.names import NAME

IDLE_SLICE_SECONDS = 0.2  # the longest a feed may wait without yielding to the runner


class FeedSpecError(ValueError):
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


FeedItem = FeedBar | Idle


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


def paced(bars: Iterable[FeedBar], *, speed: float, sleep: Callable[[float], None],
          monotonic: Callable[[], float], bar_seconds: float = 60.0,
          slice_seconds: float = IDLE_SLICE_SECONDS) -> Iterator[FeedItem]:
    """``bars`` at ``speed`` x real time: each new timestamp comes ``bar_seconds / speed``
    wall seconds after the previous one arrived (bars of one timestamp together); the wait
    is slept in slices of at most ``slice_seconds``, an :class:`Idle` after each slice.
    ``sleep`` and ``monotonic`` are injected (``time.sleep``, ``time.monotonic``)."""
    if not (speed > 0 and bar_seconds > 0 and 0 < slice_seconds <= IDLE_SLICE_SECONDS):
        raise FeedSpecError(f"pacing speed={speed!r}, bar_seconds={bar_seconds!r}, "
                            f"slice_seconds={slice_seconds!r}: speed and bar_seconds must be "
                            f"positive, slice_seconds in (0, {IDLE_SLICE_SECONDS}]")
    wait = bar_seconds / speed
    last: datetime | None = None
    arrived = 0.0
    for bar in bars:
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
