"""The paced replay feed: bars at a speed, the wait cut into slices with an ``Idle`` marker
after each, so the runner can act on a kill command between bars."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from live.runner.feed import IDLE_SLICE_SECONDS, FeedBar, FeedSpecError, Idle, paced

T0 = datetime(2025, 3, 3, 3, 45, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that advances only when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []  # type: ignore[var-annotated]

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bar(minute: int, symbol: str = "NIFTY") -> FeedBar:
    return FeedBar(symbol, T0 + timedelta(minutes=minute), 1.0, 1.0, 1.0, 1.0, 1.0)


def _paced(bars: list[FeedBar], speed: float = 60.0) -> tuple[list[object], FakeTime]:
    clock = FakeTime()
    return list(paced(bars, speed=speed, sleep=clock.sleep, monotonic=clock.monotonic)), clock


def test_paced_feed_sleeps_in_slices_of_at_most_200_ms() -> None:
    _, clock = _paced([bar(0), bar(1), bar(2)], speed=6.0)  # 10 s between bars
    assert max(clock.sleeps) <= IDLE_SLICE_SECONDS
    assert sum(clock.sleeps) == pytest.approx(20.0)


def test_paced_feed_yields_an_idle_marker_after_each_slice_but_the_last() -> None:
    items, _ = _paced([bar(0), bar(1)], speed=60.0)  # 1 s: five slices of 0.2 s
    assert [type(i).__name__ for i in items] == ["FeedBar"] + ["Idle"] * 4 + ["FeedBar"]


def test_paced_feed_idle_markers_carry_market_time_between_the_bars() -> None:
    items, _ = _paced([bar(0), bar(1)], speed=60.0)
    stamps = [i.ts for i in items if isinstance(i, Idle)]
    assert stamps == [T0 + timedelta(seconds=s) for s in (12, 24, 36, 48)]


def test_paced_feed_bars_of_one_timestamp_come_together() -> None:
    items, clock = _paced([bar(0, "BANKNIFTY"), bar(0, "NIFTY")])
    assert items == [bar(0, "BANKNIFTY"), bar(0, "NIFTY")] and clock.sleeps == []


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_paced_feed_non_positive_speed_is_refused_naming_it(speed: float) -> None:
    with pytest.raises(FeedSpecError, match=re.escape(f"speed={speed!r}")):
        list(paced([bar(0)], speed=speed, sleep=lambda s: None, monotonic=lambda: 0.0))


def test_paced_feed_slice_longer_than_200_ms_is_refused() -> None:
    with pytest.raises(FeedSpecError, match=re.escape("slice_seconds=0.5")):
        list(paced([bar(0)], speed=1.0, sleep=lambda s: None, monotonic=lambda: 0.0,
                   slice_seconds=0.5))
