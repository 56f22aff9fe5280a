"""Specification of the client-side Kite rate limiter: window math on an injected clock,
commands refused (never sent late) when the wait is too long, queries waiting their turn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from live.adapters.kite import KiteBroker
from live.adapters.kite.errors import KiteRateLimitedError
from live.adapters.kite.rate_limit import (
    KiteRateLimitConfigError,
    KiteRateLimits,
    RateLimitedKite,
    RateWindow,
)
from live.broker import OrderRequest, Outcome, Side

START = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 09:30 IST


class FakeTime:
    """The wall clock and a sleep that moves it (nothing really waits)."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingClient:
    """A KiteConnect stand-in that records each call with the clock's time."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.calls: list[tuple[str, datetime]] = []

    def _record(self, name: str) -> Any:
        self.calls.append((name, self.time.now))
        return str(len(self.calls))

    def place_order(self, **kwargs: Any) -> Any:
        return self._record("place_order")

    def modify_order(self, **kwargs: Any) -> Any:
        return self._record("modify_order")

    def cancel_order(self, **kwargs: Any) -> Any:
        return self._record("cancel_order")

    def orders(self) -> Any:
        self._record("orders")
        return []

    def trades(self) -> Any:
        self._record("trades")
        return []

    def positions(self) -> Any:
        self._record("positions")
        return {"net": []}

    def quote(self, *instruments: str) -> Any:
        return self._record("quote")

    def historical_data(self, *args: Any) -> Any:
        return self._record("historical_data")


def limited(limits: KiteRateLimits | None = None) -> tuple[RateLimitedKite, RecordingClient,
                                                            FakeTime]:
    time = FakeTime()
    client = RecordingClient(time)
    return RateLimitedKite(client, clock=time.clock, sleep=time.sleep, limits=limits), \
        client, time


def request(key: str = "k1") -> OrderRequest:
    return OrderRequest(client_key=key, symbol="NIFTY25DECFUT", exchange="NFO", side=Side.BUY,
                        qty=75)


def test_window_allows_limit_calls_then_waits_until_the_oldest_leaves() -> None:
    window = RateWindow("orders", 3, 1.0)
    for t in (0.0, 0.1, 0.2):
        assert window.wait_s(t) == 0.0
        window.take(t)
    assert window.wait_s(0.5) == pytest.approx(0.5)
    assert window.wait_s(1.0) == 0.0


def test_ten_orders_in_one_second_go_at_once_the_eleventh_waits_within_the_bound() -> None:
    kite, client, time = limited(KiteRateLimits(max_command_wait_s=1.0))
    for _ in range(10):
        kite.place_order(tag="x")
    assert time.slept == []
    time.advance(0.3)
    kite.place_order(tag="x")
    assert time.slept == [pytest.approx(0.7)]
    assert client.calls[-1][1] - START == timedelta(seconds=1)


def test_order_that_would_wait_too_long_is_refused_and_never_sent() -> None:
    kite, client, time = limited(KiteRateLimits(max_command_wait_s=0.25))
    for _ in range(10):
        kite.place_order(tag="x")
    time.advance(0.5)
    with pytest.raises(KiteRateLimitedError, match=r"rate_limited: place_order would wait "
                                                   r"0\.500 s"):
        kite.place_order(tag="x")
    assert len(client.calls) == 10 and time.slept == []


def test_broker_classifies_a_rate_limited_submit_as_rejected_not_sent() -> None:
    kite, client, _ = limited(KiteRateLimits(orders_per_s=1, max_command_wait_s=0.1))
    broker = KiteBroker(kite)
    assert broker.submit(request("k1")).outcome is Outcome.CONFIRMED
    result = broker.submit(request("k2"))
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith("rate_limited")
    assert [name for name, _ in client.calls] == ["place_order"]


def test_queries_wait_their_turn_instead_of_being_refused() -> None:
    kite, client, time = limited()
    kite.quote("NFO:NIFTY25DECFUT")
    kite.quote("NFO:NIFTY25DECFUT")
    assert time.slept == [pytest.approx(1.0)]
    assert [name for name, _ in client.calls] == ["quote", "quote"]


def test_historical_takes_from_its_own_bucket_of_three_a_second() -> None:
    kite, _, time = limited()
    for _ in range(3):
        kite.historical_data(1, "a", "b", "minute")
    kite.orders()  # another bucket: no wait
    assert time.slept == []
    kite.historical_data(1, "a", "b", "minute")
    assert time.slept == [pytest.approx(1.0)]


def test_orders_per_minute_cap_refuses_the_order_beyond_it() -> None:
    kite, client, time = limited(KiteRateLimits(orders_per_minute=20))
    for _ in range(2):
        for _ in range(10):
            kite.place_order(tag="x")
        time.advance(1.0)
    with pytest.raises(KiteRateLimitedError, match="orders a minute: 20 per 60 s"):
        kite.place_order(tag="x")
    assert len(client.calls) == 20


def test_cancels_do_not_count_toward_the_per_minute_placement_cap() -> None:
    kite, client, time = limited(KiteRateLimits(orders_per_minute=10))
    for _ in range(10):
        kite.place_order(tag="x")
    time.advance(1.0)
    kite.cancel_order(variety="regular", order_id="1")
    assert client.calls[-1][0] == "cancel_order"


def test_daily_order_cap_refuses_until_the_next_ist_day() -> None:
    kite, client, time = limited(KiteRateLimits(orders_per_day=3))
    for _ in range(3):
        kite.place_order(tag="x")
    time.advance(2.0)
    with pytest.raises(KiteRateLimitedError, match="3 orders placed on 2026-12-07"):
        kite.place_order(tag="x")
    time.advance(24 * 3600)
    kite.place_order(tag="x")
    assert len(client.calls) == 4


def test_the_26th_modification_of_one_order_is_refused() -> None:
    kite, client, time = limited()
    for _ in range(25):
        kite.modify_order(variety="regular", order_id="A", trigger_price=1.0)
        time.advance(0.2)
    with pytest.raises(KiteRateLimitedError, match="modified 25 times"):
        kite.modify_order(variety="regular", order_id="A", trigger_price=1.0)
    kite.modify_order(variety="regular", order_id="B", trigger_price=1.0)  # another order
    assert len(client.calls) == 26


def test_rate_limits_must_be_positive() -> None:
    with pytest.raises(KiteRateLimitConfigError, match="orders_per_s=0"):
        KiteRateLimits(orders_per_s=0)


class MarginClient(RecordingClient):
    def order_margins(self, params: Any) -> Any:
        return self._record("order_margins")

    def place_gtt(self, **kwargs: Any) -> Any:
        return self._record("place_gtt")


def test_other_endpoints_share_the_ten_a_second_bucket_and_wait() -> None:
    time = FakeTime()
    client = MarginClient(time)
    kite = RateLimitedKite(client, clock=time.clock, sleep=time.sleep)
    for _ in range(6):
        kite.orders()
        kite.order_margins([])
    assert time.slept == [pytest.approx(1.0)]
    assert len(client.calls) == 12


def test_an_unlisted_command_is_refused_rather_than_sent_late() -> None:
    time = FakeTime()
    client = MarginClient(time)
    kite = RateLimitedKite(client, clock=time.clock, sleep=time.sleep)
    for _ in range(10):
        kite.orders()
    with pytest.raises(KiteRateLimitedError, match="place_gtt would wait"):
        kite.place_gtt(trigger_type="single")
    assert all(name == "orders" for name, _ in client.calls)


def test_command_held_behind_another_threads_call_counts_that_time_as_late() -> None:
    readings = iter([START, START + timedelta(seconds=0.3)])  # asked, then got the lock

    kite = RateLimitedKite(RecordingClient(FakeTime()), clock=lambda: next(readings),
                           sleep=lambda s: None, limits=KiteRateLimits(max_command_wait_s=0.25))
    with pytest.raises(KiteRateLimitedError, match=r"would wait 0\.300 s"):
        kite.place_order(tag="x")


def test_orders_already_in_the_days_book_count_toward_the_daily_cap() -> None:
    kite, client, _ = limited(KiteRateLimits(orders_per_day=3))
    kite.count_placed_today(2)
    kite.place_order(tag="x")
    with pytest.raises(KiteRateLimitedError, match="3 orders placed"):
        kite.place_order(tag="x")
    assert len(client.calls) == 1 and kite.orders_placed_today == 3
