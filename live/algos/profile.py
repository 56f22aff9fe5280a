"""An intraday volume profile learned from history bars: per minute of the (venue-local)
day, the mean share of the session's volume and the mean volume traded in that minute.

VWAP weights its children by the share; POV caps each child at a participation of the
expected volume. Pure: bar times and volumes in, no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from strategies.errors import BadInputError


class VolumeProfileError(BadInputError, ValueError):
    """A volume profile with no history (no bars, no volume, or none in the window)."""


def _minute_of_day(t: datetime) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True, slots=True)
class VolumeProfile:
    """Mean session-volume share and mean volume per minute of the day (0..1439)."""

    share_by_minute: Mapping[int, float]
    volume_by_minute: Mapping[int, float]
    days: int

    @classmethod
    def from_bars(cls, times: Sequence[datetime], volumes: Sequence[float]) -> VolumeProfile:
        """Learn the profile from bars (venue-local times, one volume each)."""
        if len(times) != len(volumes):
            raise VolumeProfileError(f"{len(times)} bar times but {len(volumes)} volumes")
        by_day: dict[date, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for t, v in zip(times, volumes, strict=True):
            if v == v and v > 0:  # NaN and zero volume carry no information
                by_day[t.date()][_minute_of_day(t)] += float(v)
        if not by_day:
            raise VolumeProfileError(f"no volume history: {len(times)} bars, none with "
                                     "volume > 0")
        shares: dict[int, float] = defaultdict(float)
        volume: dict[int, float] = defaultdict(float)
        for minutes in by_day.values():
            day_total = sum(minutes.values())
            for minute, v in minutes.items():
                shares[minute] += v / day_total
                volume[minute] += v
        days = len(by_day)
        return cls({m: s / days for m, s in shares.items()},
                   {m: v / days for m, v in volume.items()}, days)

    def share(self, start: datetime, end: datetime) -> float:
        """The mean share of a session's volume traded in ``[start, end)``."""
        return sum(self.share_by_minute.get(m, 0.0) for m in _minutes(start, end))

    def expected_volume(self, start: datetime, end: datetime) -> float:
        """The mean volume traded in ``[start, end)``."""
        return sum(self.volume_by_minute.get(m, 0.0) for m in _minutes(start, end))


def _minutes(start: datetime, end: datetime) -> list[int]:
    out: list[int] = []
    t = start.replace(second=0, microsecond=0)
    while t < end:
        out.append(_minute_of_day(t))
        t += timedelta(minutes=1)
    return out


__all__ = ["VolumeProfile", "VolumeProfileError"]
