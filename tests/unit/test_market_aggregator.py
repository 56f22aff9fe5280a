"""Ticks -> 1-minute bars by exchange time: order, duplicates, late ticks, gaps, the session."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from live.market.aggregator import MinuteBars
from live.market.ticks import Tick
from live.runner.feed import FeedAlert, FeedBar
from strategies.venues import get_venue

IST = ZoneInfo("Asia/Kolkata")
NSE = get_venue("NSE")
OPEN = datetime(2025, 3, 3, 9, 15, tzinfo=IST)  # a Monday session


def tick(seconds: float, price: float, volume: int, *, token: int = 1, qty: int = 1,
         symbol: str = "NIFTY") -> Tick:
    return Tick(token=token, symbol=symbol, ts=OPEN + timedelta(seconds=seconds), price=price,
                last_qty=qty, volume=volume, oi=None)


def run(ticks: list[Tick], *, clock: datetime | None = None) -> MinuteBars:
    bars = MinuteBars(NSE, grace_seconds=2.0)
    for t in ticks:
        bars.add(t)
    if clock is not None:
        bars.on_clock(clock)
    return bars


def only_bars(items: list[object]) -> list[FeedBar]:
    return [i for i in items if isinstance(i, FeedBar)]


def alerts(items: list[object]) -> list[FeedAlert]:
    return [i for i in items if isinstance(i, FeedAlert)]


def test_a_tick_of_the_next_minute_closes_the_bar_with_its_ohlcv() -> None:
    bars = run([tick(1, 100, 10, qty=10), tick(20, 103, 15), tick(40, 99, 17),
                tick(59, 101, 20), tick(61, 102, 21)])
    assert only_bars(bars.drain()) == [FeedBar("NIFTY", OPEN, 100, 103, 99, 101, 20.0)]


def test_the_close_is_the_tick_with_the_latest_exchange_time_not_the_last_to_arrive() -> None:
    bars = run([tick(1, 100, 1), tick(50, 105, 9), tick(30, 97, 5), tick(61, 100, 10)])
    (bar,) = only_bars(bars.drain())
    assert (bar.open, bar.high, bar.low, bar.close) == (100, 105, 97, 105)


def test_a_duplicate_tick_is_ignored_and_counted() -> None:
    bars = run([tick(1, 100, 1), tick(5, 101, 2), tick(5, 101, 2), tick(61, 100, 3)])
    (bar,) = only_bars(bars.drain())
    assert bar.volume == 2.0 and bars.counts["duplicate"] == 1


def test_a_late_tick_is_dropped_alerted_once_and_never_reopens_the_bar() -> None:
    bars = run([tick(1, 100, 1), tick(61, 101, 2)])
    first = bars.drain()
    for _ in range(3):
        bars.add(tick(30, 90, 2))
    items = bars.drain()
    assert only_bars(first)[0].low == 100 and only_bars(items) == []
    late = alerts(items)
    assert [a.code for a in late] == ["late_tick"] and bars.counts["late"] == 3
    assert "09:15" in late[0].message and "dropped" in late[0].message


def test_the_wall_clock_closes_a_minute_after_its_end_plus_the_grace() -> None:
    bars = run([tick(1, 100, 1)], clock=OPEN + timedelta(seconds=61))
    assert only_bars(bars.drain()) == []
    bars.on_clock(OPEN + timedelta(seconds=62))
    assert len(only_bars(bars.drain())) == 1


def test_a_minute_closed_by_the_clock_is_not_emitted_again() -> None:
    bars = run([tick(1, 100, 1)], clock=OPEN + timedelta(seconds=70))
    bars.add(tick(75, 101, 2))
    bars.on_clock(OPEN + timedelta(seconds=200))
    assert [b.ts for b in only_bars(bars.drain())] == [OPEN, OPEN + timedelta(minutes=1)]


def test_minutes_without_a_tick_get_no_bar_and_the_gap_is_reported() -> None:
    bars = run([tick(1, 100, 1), tick(3 * 60 + 1, 101, 2), tick(4 * 60 + 1, 101, 3)])
    items = bars.drain()
    assert [b.ts.minute for b in only_bars(items)] == [15, 18]
    (gap,) = alerts(items)
    assert gap.code == "no_tick_minutes" and "2 session minute(s)" in gap.message
    assert "09:16-09:17" in gap.message


def test_pre_open_ticks_make_no_bar_and_their_volume_is_not_counted() -> None:
    bars = run([tick(-8 * 60, 99, 500), tick(1, 100, 510), tick(61, 100, 511)])
    (bar,) = only_bars(bars.drain())
    assert bar.ts == OPEN and bar.open == 100 and bar.volume == 10.0
    assert bars.counts["outside_session"] == 1


def test_the_last_bar_of_the_session_is_flushed_by_the_clock_at_the_close() -> None:
    last = 6 * 3600 + 14 * 60  # 15:29
    bars = run([tick(last + 5, 100, 1), tick(last + 65, 100, 2)],
               clock=OPEN + timedelta(seconds=last + 62))
    (bar,) = only_bars(bars.drain())
    assert bar.ts.astimezone(IST).strftime("%H:%M") == "15:29"
    assert bars.counts["outside_session"] == 1  # the 15:30 tick


def test_instruments_are_aggregated_apart() -> None:
    bars = run([tick(1, 100, 1, token=1), tick(2, 50, 7, token=2, symbol="BANKNIFTY"),
                tick(61, 100, 2, token=1)])
    assert [b.symbol for b in only_bars(bars.drain())] == ["NIFTY"]


def test_ticks_before_the_live_edge_are_dropped_silently_and_set_the_volume_base() -> None:
    bars = MinuteBars(NSE)
    bars.start_live(1, "NIFTY", int((OPEN + timedelta(minutes=1)).timestamp()) // 60)
    for t in (tick(10, 100, 5), tick(50, 101, 8), tick(61, 102, 9), tick(121, 103, 12)):
        bars.add(t)
    items = bars.drain()
    assert alerts(items) == []
    (bar,) = only_bars(items)
    assert bar.ts == OPEN + timedelta(minutes=1) and bar.volume == 1.0
    assert bars.counts["before_live_edge"] == 2


def _minute_ticks(draw: st.DrawFn) -> list[Tick]:
    n = draw(st.integers(1, 25))
    seconds = sorted(draw(st.lists(st.integers(0, 59), min_size=n, max_size=n)))
    prices = draw(st.lists(st.integers(1, 400).map(lambda p: 100 + p * 0.05), min_size=n,
                           max_size=n))
    volumes, total = [], 1000
    for _ in range(n):
        total += draw(st.integers(0, 50))
        volumes.append(total)
    return [tick(s, p, v) for s, p, v in zip(seconds, prices, volumes, strict=True)]


@st.composite
def shuffled_minute(draw: st.DrawFn) -> tuple[list[Tick], list[Tick]]:
    ticks = _minute_ticks(draw)
    extra = draw(st.lists(st.sampled_from(ticks), max_size=10))  # duplicates
    mixed = draw(st.permutations(ticks + extra))
    return ticks, list(mixed)


@settings(max_examples=200, deadline=None)
@given(shuffled_minute())
def test_any_shuffle_or_duplication_of_a_minutes_ticks_gives_the_sorted_bar(
        case: tuple[list[Tick], list[Tick]]) -> None:
    ordered, mixed = case
    closer = tick(61, 100, 10**6)
    sorted_bar = only_bars(run([*ordered, closer]).drain())
    mixed_bar = only_bars(run([*mixed, closer]).drain())
    assert sorted_bar == mixed_bar and len(sorted_bar) == 1
