"""The Kite feed's logic over a ticker double with KiteTicker's callback attributes:
subscription on every connect, order updates, catch-up then live bars, stale holds,
disconnects, the session's end and the recording. (The real socket runs against the fake
Kite server in the integration tests.)"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from live.market.kite_feed import KiteFeed, KiteFeedConfig
from live.market.kite_ticker import TickerError, real_ticker
from live.market.recorder import TickRecorder, read_ticks
from live.runner.feed import FeedAlert, FeedBar, FeedHold, FeedItem, Idle, WarmBar
from strategies.venues import get_venue

IST = ZoneInfo("Asia/Kolkata")
NSE = get_venue("NSE")
DAY = datetime(2025, 3, 4, tzinfo=IST)  # a Tuesday session
TOKEN = 256265


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


class FakeTicker:
    """KiteTicker's callback attributes and the calls the feed makes; ``connect`` connects
    at once (as the reactor would, later, on its own thread)."""

    MODE_FULL = "full"

    def __init__(self) -> None:
        self.on_ticks: Any = None
        self.on_connect: Any = None
        self.on_close: Any = None
        self.on_error: Any = None
        self.on_reconnect: Any = None
        self.on_noreconnect: Any = None
        self.on_order_update: Any = None
        self.subscribed: list[list[int]] = []
        self.modes: list[tuple[str, list[int]]] = []
        self.threaded: bool | None = None
        self.closed = False

    def connect(self, threaded: bool = False, disable_ssl_verification: bool = False,
                proxy: Any = None) -> None:
        self.threaded = threaded
        self.on_connect(self, {})

    def subscribe(self, instrument_tokens: list[int]) -> bool:
        self.subscribed.append(list(instrument_tokens))
        return True

    def set_mode(self, mode: str, instrument_tokens: list[int]) -> bool:
        self.modes.append((mode, list(instrument_tokens)))
        return True

    def close(self, code: Any = None, reason: Any = None) -> None:
        self.closed = True

    def send(self, *ticks: dict[str, Any]) -> None:
        self.on_ticks(self, list(ticks))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now, self.mono = now, 0.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono


class Historical:
    def __init__(self, candles: list[dict[str, Any]]) -> None:
        self.candles = candles

    def historical_data(self, instrument_token: int, from_date: Any, to_date: Any,
                        interval: str) -> Sequence[Mapping[str, Any]]:
        return self.candles


def kite_tick(ts: datetime, price: float, volume: int, token: int = TOKEN) -> dict[str, Any]:
    """KiteTicker's full-mode dict: a naive local exchange time (datetime.fromtimestamp)."""
    return {"instrument_token": token, "last_price": price, "last_traded_quantity": 1,
            "volume_traded": volume, "oi": 10, "mode": "full",
            "exchange_timestamp": datetime.fromtimestamp(ts.timestamp()),
            "depth": {"buy": [{"price": price - 0.05, "quantity": 75, "orders": 1}] * 5,
                      "sell": [{"price": price + 0.05, "quantity": 75, "orders": 1}] * 5}}


def make_feed(clock: Clock, ticker: FakeTicker, **kwargs: Any) -> KiteFeed:
    config = kwargs.pop("config", KiteFeedConfig(stale_after_seconds=30))
    return KiteFeed(ticker, {TOKEN: "NIFTY"}, NSE, clock=clock, monotonic=clock.monotonic,
                    config=config, pause=lambda s: None, **kwargs)


def pull(items: Iterator[FeedItem], until: Callable[[FeedItem], bool], limit: int = 60
         ) -> list[FeedItem]:
    """Items up to and including the first that ``until`` accepts (at most ``limit``)."""
    got = []
    for item in items:
        got.append(item)
        if until(item) or len(got) >= limit:
            return got
    return got


def test_every_connect_subscribes_the_tokens_in_full_mode() -> None:
    ticker = FakeTicker()
    feed = make_feed(Clock(at(10, 0)), ticker)
    feed.start()
    ticker.on_connect(ticker, {})  # a reconnect
    assert ticker.threaded is True
    assert ticker.subscribed == [[TOKEN], [TOKEN]]
    assert ticker.modes == [("full", [TOKEN]), ("full", [TOKEN])]


def test_order_updates_reach_the_broker_sides_callback() -> None:
    ticker, seen = FakeTicker(), []
    feed = make_feed(Clock(at(10, 0)), ticker)
    feed.on_order_update(seen.append)
    feed.start()
    ticker.on_order_update(ticker, {"order_id": "1", "status": "COMPLETE"})
    assert seen == [{"order_id": "1", "status": "COMPLETE"}]


def test_warm_up_bars_come_first_then_live_bars_from_the_edge_without_overlap() -> None:
    clock, ticker = Clock(at(9, 20, 30)), FakeTicker()
    candles = [{"date": at(9, 15) + timedelta(minutes=i), "open": 100.0, "high": 101.0,
                "low": 99.0, "close": 100.0, "volume": 5} for i in range(7)]  # 09:15..09:21
    feed = make_feed(clock, ticker, history=Historical(candles))
    feed.start()  # connects at 09:20:30: the live edge is 09:21
    ticker.send(kite_tick(at(9, 20, 40), 150, 10), kite_tick(at(9, 21, 5), 200, 20),
                kite_tick(at(9, 21, 50), 210, 25), kite_tick(at(9, 22, 1), 205, 30))
    items = iter(feed)
    first = pull(items, lambda i: isinstance(i, Idle))
    assert not any(isinstance(i, FeedBar | WarmBar) for i in first)  # the bar waits
    clock.now = at(9, 22, 5)
    got = pull(items, lambda i: isinstance(i, FeedBar))
    warm = [i.bar.ts for i in got if isinstance(i, WarmBar)]
    assert warm == [at(9, 15) + timedelta(minutes=i) for i in range(6)]  # up to 09:20
    live = got[-1]
    assert isinstance(live, FeedBar) and live.ts == at(9, 21)
    assert (live.open, live.high, live.close) == (200, 210, 210)
    assert feed.edge == at(9, 21)


def test_a_silent_feed_holds_entries_and_a_tick_lifts_the_hold() -> None:
    clock, ticker = Clock(at(10, 0)), FakeTicker()
    feed = make_feed(clock, ticker)
    items = iter(feed)
    pull(items, lambda i: isinstance(i, Idle))
    clock.mono = 31.0
    held = pull(items, lambda i: isinstance(i, FeedHold))[-1]
    assert isinstance(held, FeedHold) and held.held and held.symbol == "NIFTY"
    clock.mono = 32.0
    ticker.send(kite_tick(at(10, 0, 1), 100, 1))
    lifted = pull(items, lambda i: isinstance(i, FeedHold))[-1]
    assert isinstance(lifted, FeedHold) and not lifted.held


def test_a_disconnect_and_reconnect_are_journaled_and_the_tokens_resubscribed() -> None:
    clock, ticker = Clock(at(10, 0)), FakeTicker()
    items = iter(make_feed(clock, ticker))
    pull(items, lambda i: isinstance(i, Idle))
    ticker.on_close(ticker, 1006, "connection lost")
    ticker.on_reconnect(ticker, 1)
    clock.now = at(10, 0, 20)
    ticker.on_connect(ticker, {})
    got = pull(items, lambda i: isinstance(i, FeedAlert) and i.code == "feed_reconnected")
    codes = [i.code for i in got if isinstance(i, FeedAlert)]
    assert codes == ["feed_disconnected", "feed_reconnecting", "feed_reconnected"]
    assert "20.0 s down" in got[-1].message  # type: ignore[union-attr]
    assert ticker.subscribed == [[TOKEN], [TOKEN]]


def test_a_ticker_that_stops_reconnecting_holds_every_symbol() -> None:
    clock, ticker = Clock(at(10, 0)), FakeTicker()
    items = iter(make_feed(clock, ticker))
    pull(items, lambda i: isinstance(i, Idle))
    ticker.on_noreconnect(ticker)
    got = pull(items, lambda i: isinstance(i, FeedHold))
    assert any(isinstance(i, FeedAlert) and i.code == "feed_lost" for i in got)


def test_a_bad_tick_from_the_socket_is_an_alert_never_a_bar() -> None:
    clock, ticker = Clock(at(10, 0, 30)), FakeTicker()
    items = iter(make_feed(clock, ticker))
    pull(items, lambda i: isinstance(i, Idle))
    ticker.send(kite_tick(at(10, 1, 1), float("nan"), 5), kite_tick(at(10, 1, 2), 100, 6),
                kite_tick(at(10, 1, 3), 100, 6, token=999))
    clock.now = at(10, 2, 5)
    got = pull(items, lambda i: isinstance(i, FeedBar))
    bad = [i.message for i in got if isinstance(i, FeedAlert) and i.code == "bad_tick"]
    assert len(bad) == 2 and any("nan" in m for m in bad) and any("999" in m for m in bad)
    bar = got[-1]
    assert isinstance(bar, FeedBar) and bar.low == 100


def test_the_feed_ends_after_the_close_flushing_the_last_bar_and_recording(
        tmp_path: Path) -> None:
    clock, ticker = Clock(at(15, 28, 30)), FakeTicker()
    feed = make_feed(clock, ticker, recorder=TickRecorder(tmp_path))
    items = iter(feed)
    pull(items, lambda i: isinstance(i, Idle))
    ticker.send(kite_tick(at(15, 29, 10), 100, 5))
    clock.now = at(15, 30, 4)
    rest = list(items)  # ends by itself
    assert [i.ts for i in rest if isinstance(i, FeedBar)] == [at(15, 29)]
    assert ticker.closed
    (day,) = tmp_path.iterdir()  # the day the tick arrived (wall clock, IST)
    ((_, recorded),) = read_ticks(day)
    assert recorded.ts == at(15, 29, 10) and len(recorded.bids) == 5


def test_a_second_real_ticker_in_one_process_is_refused() -> None:
    with contextlib.suppress(TickerError):  # the process's one ticker (no connect)
        real_ticker("key", "token", root="ws://127.0.0.1:9", reconnect_max_tries=1,
                    reconnect_max_delay=5)
    with pytest.raises(TickerError, match="reactor cannot be restarted"):
        real_ticker("key", "token", root="ws://127.0.0.1:9", reconnect_max_tries=1,
                    reconnect_max_delay=5)


class BrokenHistorical:
    def historical_data(self, instrument_token: int, from_date: Any, to_date: Any,
                        interval: str) -> Sequence[Mapping[str, Any]]:
        raise OSError("historical API down")


def test_a_failed_catch_up_holds_entries_for_good_and_releases_the_live_bars() -> None:
    clock, ticker = Clock(at(9, 20, 30)), FakeTicker()
    feed = make_feed(clock, ticker, history=BrokenHistorical())
    feed.start()
    ticker.send(kite_tick(at(9, 21, 5), 200, 20), kite_tick(at(9, 22, 1), 205, 30))
    items = iter(feed)
    pull(items, lambda i: isinstance(i, Idle))
    clock.now = at(9, 22, 5)
    got = pull(items, lambda i: isinstance(i, FeedBar))
    lost = [i for i in got if isinstance(i, FeedAlert) and i.code == "feed_lost"]
    assert lost and "catch-up failed" in lost[0].message and "historical API down" in \
        lost[0].message
    assert any(isinstance(i, FeedHold) and i.held for i in got)
    assert isinstance(got[-1], FeedBar) and got[-1].ts == at(9, 21)
