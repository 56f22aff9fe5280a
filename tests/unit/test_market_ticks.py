"""The tick boundary: KiteTicker full-mode dicts into ticks, and the ticks refused."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from live.market.ticks import Tick, TickGate, tick_from_kite, tick_problem

IST = ZoneInfo("Asia/Kolkata")
T = datetime(2025, 3, 3, 9, 20, 5, tzinfo=IST)
SUBSCRIBED = {256265: "NIFTY"}


def kite_tick(**over: object) -> dict[str, object]:
    """A tick dict as KiteTicker's ``_parse_binary`` makes it (184-byte full mode packet):
    ``exchange_timestamp`` naive, from ``datetime.fromtimestamp``."""
    raw: dict[str, object] = {
        "tradable": True, "mode": "full", "instrument_token": 256265, "last_price": 22500.5,
        "last_traded_quantity": 75, "average_traded_price": 22490.1, "volume_traded": 150000,
        "total_buy_quantity": 1, "total_sell_quantity": 2,
        "ohlc": {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}, "change": 0.1,
        "last_trade_time": datetime.fromtimestamp(T.timestamp()), "oi": 12000,
        "oi_day_high": 1, "oi_day_low": 1,
        "exchange_timestamp": datetime.fromtimestamp(T.timestamp()),
        "depth": {"buy": [{"quantity": 75 * i, "price": 22500.0 - i, "orders": i}
                          for i in range(1, 6)],
                  "sell": [{"quantity": 75 * i, "price": 22501.0 + i, "orders": i}
                           for i in range(1, 6)]}}
    raw.update(over)
    return raw


def test_a_kite_full_mode_tick_keeps_price_quantities_oi_and_depth() -> None:
    tick = tick_from_kite(kite_tick(), SUBSCRIBED)
    assert (tick.symbol, tick.price, tick.last_qty, tick.volume, tick.oi) == (
        "NIFTY", 22500.5, 75, 150000, 12000)
    assert len(tick.bids) == len(tick.asks) == 5
    assert tick.bids[0] == (22499.0, 75, 1) and tick.asks[4] == (22506.0, 375, 5)


def test_kitetickers_naive_local_exchange_time_becomes_the_same_instant_aware() -> None:
    tick = tick_from_kite(kite_tick(), SUBSCRIBED)
    assert tick.ts is not None and tick.ts.tzinfo is not None
    assert tick.ts == T and tick_problem(tick, SUBSCRIBED) is None


@pytest.mark.parametrize(("price", "words"), [(math.nan, "nan"), (0.0, "0.0"),
                                             (-1.0, "-1.0"), (math.inf, "inf")])
def test_a_tick_price_that_is_not_finite_and_positive_is_refused(price: float,
                                                                  words: str) -> None:
    problem = tick_problem(tick_from_kite(kite_tick(last_price=price), SUBSCRIBED), SUBSCRIBED)
    assert problem is not None and words in problem and "NIFTY" in problem


def test_a_tick_of_an_unsubscribed_token_is_refused_naming_it() -> None:
    problem = tick_problem(tick_from_kite(kite_tick(instrument_token=1), SUBSCRIBED),
                           SUBSCRIBED)
    assert problem is not None and "token 1 is not subscribed" in problem


def test_a_tick_without_exchange_time_is_refused() -> None:
    problem = tick_problem(tick_from_kite(kite_tick(exchange_timestamp=None), SUBSCRIBED),
                           SUBSCRIBED)
    assert problem is not None and "no exchange timestamp" in problem


def test_a_tick_with_a_naive_exchange_time_is_refused() -> None:
    tick = Tick(token=256265, symbol="NIFTY", ts=datetime(2025, 3, 3, 9, 20), price=1.0,
                last_qty=1, volume=1, oi=None)
    problem = tick_problem(tick, SUBSCRIBED)
    assert problem is not None and "naive" in problem


def test_the_gate_journals_one_alert_per_instrument_problem_and_minute() -> None:
    gate = TickGate(SUBSCRIBED)
    bad = tick_from_kite(kite_tick(last_price=0.0), SUBSCRIBED)
    now = datetime(2025, 3, 3, 3, 50, 1, tzinfo=UTC)
    results = [gate.admit(bad, now + timedelta(seconds=s)) for s in range(5)]
    assert results == [False] * 5 and gate.refused == 5
    (alert,) = gate.alerts
    assert alert.code == "bad_tick" and "not part of any bar" in alert.message
    gate.admit(bad, now + timedelta(minutes=1))
    assert len(gate.alerts) == 2
