"""The start-up catch-up from historical candles and the stale-feed watch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from live.market.catchup import CatchUpError, catch_up, warmup_start
from live.market.staleness import StaleWatch
from live.runner.feed import FeedAlert, FeedHold
from strategies.venues import get_venue

IST = ZoneInfo("Asia/Kolkata")
NSE = get_venue("NSE")
EDGE = datetime(2025, 3, 4, 9, 20, tzinfo=IST)  # Tuesday; Monday 2025-03-03 is a session


def candle(ts: datetime, price: float = 100.0, **over: object) -> dict[str, Any]:
    row: dict[str, Any] = {"date": ts, "open": price, "high": price + 1, "low": price - 1,
                           "close": price, "volume": 10}
    row.update(over)
    return row


class Historical:
    """KiteConnect.historical_data's shape: candles of each token; counts the calls."""

    def __init__(self, candles: Mapping[int, list[dict[str, Any]]], fail: int = 0) -> None:
        self.candles, self.fail, self.calls = candles, fail, []  # type: ignore[var-annotated]

    def historical_data(self, instrument_token: int, from_date: Any, to_date: Any,
                        interval: str) -> Sequence[Mapping[str, Any]]:
        self.calls.append((instrument_token, from_date, to_date, interval))
        if self.fail:
            self.fail -= 1
            raise OSError("connection reset")
        return self.candles[instrument_token]


def minutes(n: int, start: datetime = EDGE - timedelta(minutes=5)) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(n)]


def test_the_warmup_window_starts_at_the_open_of_the_earliest_session_kept() -> None:
    assert warmup_start(NSE, EDGE, 2) == datetime(2025, 3, 3, 9, 15, tzinfo=IST)
    assert warmup_start(NSE, EDGE, 1) == datetime(2025, 3, 4, 9, 15, tzinfo=IST)


def test_catch_up_asks_for_minute_candles_up_to_the_second_before_the_edge() -> None:
    source = Historical({1: [candle(t) for t in minutes(5)]})
    result = catch_up(source, {1: "NIFTY"}, venue=NSE, edge=EDGE, sessions=2, pause=lambda s: None)
    ((token, start, end, interval),) = source.calls
    assert (token, interval) == (1, "minute")
    assert (start, end) == (datetime(2025, 3, 3, 9, 15), datetime(2025, 3, 4, 9, 19, 59))
    assert [b.ts for b in result.bars] == minutes(5)


def test_catch_up_never_emits_the_still_open_edge_minute_or_later() -> None:
    source = Historical({1: [candle(t) for t in minutes(7)]})  # 09:15 .. 09:21
    result = catch_up(source, {1: "NIFTY"}, venue=NSE, edge=EDGE, sessions=1, pause=lambda s: None)
    assert result.bars[-1].ts == EDGE - timedelta(minutes=1) and result.dropped_at_edge == 2


def test_catch_up_refuses_a_bad_or_repeated_candle_with_its_reason() -> None:
    ts = minutes(3)
    source = Historical({1: [candle(ts[0]), candle(ts[1], close=float("nan")),
                             candle(ts[0]), candle(ts[2])]})
    result = catch_up(source, {1: "NIFTY"}, venue=NSE, edge=EDGE, sessions=1, pause=lambda s: None)
    assert [b.ts for b in result.bars] == [ts[0], ts[2]]
    assert len(result.problems) == 2 and "not after the previous candle" in result.problems[1]


def test_catch_up_retries_then_fails_closed_naming_the_instrument() -> None:
    with pytest.raises(CatchUpError, match=r"NIFTY \(token 1\).*failed 3 times.*OSError"):
        catch_up(Historical({1: []}, fail=5), {1: "NIFTY"}, venue=NSE, edge=EDGE, sessions=1,
                 pause=lambda s: None)
    assert catch_up(Historical({1: []}, fail=2), {1: "NIFTY"}, venue=NSE, edge=EDGE,
                    sessions=1, pause=lambda s: None).bars == []


IN_SESSION = datetime(2025, 3, 4, 10, 0, tzinfo=IST)


def test_a_symbol_silent_for_the_limit_in_session_is_held_once() -> None:
    watch = StaleWatch(["NIFTY", "BANKNIFTY"], NSE, after_seconds=30, started=0.0)
    watch.saw("BANKNIFTY", 25.0)
    assert watch.check(IN_SESSION, 29.0) == []
    (hold,) = watch.check(IN_SESSION, 30.0)
    assert isinstance(hold, FeedHold) and hold.held and hold.symbol == "NIFTY"
    assert "no tick for 30.0 s" in hold.reason
    assert watch.check(IN_SESSION, 31.0) == []  # held already: not said twice


def test_a_held_symbol_is_lifted_when_its_ticks_resume() -> None:
    watch = StaleWatch(["NIFTY"], NSE, after_seconds=30, started=0.0)
    watch.check(IN_SESSION, 31.0)
    watch.saw("NIFTY", 40.0)
    (lift,) = watch.check(IN_SESSION, 40.1)
    assert isinstance(lift, FeedHold) and not lift.held


def test_nothing_goes_stale_outside_the_session_and_the_clock_restarts_at_open() -> None:
    watch = StaleWatch(["NIFTY"], NSE, after_seconds=30, started=0.0)
    assert watch.check(datetime(2025, 3, 4, 8, 0, tzinfo=IST), 1000.0) == []
    assert watch.check(IN_SESSION, 1020.0) == []
    assert len(watch.check(IN_SESSION, 1030.0)) == 1


def test_a_ticker_that_gave_up_holds_everything_for_good() -> None:
    watch = StaleWatch(["NIFTY"], NSE, after_seconds=30, started=0.0)
    items = watch.hold_all(IN_SESSION, 5.0, "gave up")
    assert isinstance(items[0], FeedAlert) and items[0].code == "feed_lost"
    watch.saw("NIFTY", 6.0)
    assert watch.check(IN_SESSION, 7.0) == []  # no tick lifts it
