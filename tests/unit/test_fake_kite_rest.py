"""The fake Kite's REST API through the real ``kiteconnect.KiteConnect`` over loopback HTTP:
orders, matching, trades, positions, margins, instruments, historical candles, sessions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from tests.fake_kite import (
    FakeKite,
    FakeKiteHostError,
    FakeMarketError,
    front_month_future,
)

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 3, 3, 9, 15, tzinfo=IST)
# Ten minutes of a rising then falling market: opens 100, 101, ..., 104, then 103, ... 99.
OPENS = [100.0, 101.0, 102.0, 103.0, 104.0, 103.0, 102.0, 101.0, 100.0, 99.0]


def minute_bars(symbol: str = "NIFTY", opens: list[float] = OPENS) -> pd.DataFrame:
    rows = [{"ts": pd.Timestamp(T0 + timedelta(minutes=i)), "symbol": symbol, "open": o,
             "high": o + 0.5, "low": o - 0.5, "close": o + 0.25, "volume": 1000 + i}
            for i, o in enumerate(opens)]
    return pd.DataFrame(rows)


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    with FakeKite(minute_bars(), seed=3) as running:
        yield running


@pytest.fixture
def kite(fake: FakeKite) -> KiteConnect:
    return KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)


def _symbol(fake: FakeKite) -> str:
    return str(fake.instruments[0]["tradingsymbol"])


def _place(kite: KiteConnect, fake: FakeKite, **overrides: Any) -> str:
    params: dict[str, Any] = {"variety": "regular", "exchange": "NFO",
                              "tradingsymbol": _symbol(fake), "transaction_type": "BUY",
                              "quantity": 75, "product": "NRML", "order_type": "MARKET",
                              "tag": "key-1"}
    return str(kite.place_order(**(params | overrides)))


def _order(kite: KiteConnect, order_id: str) -> dict[str, Any]:
    return next(o for o in kite.orders() if o["order_id"] == order_id)


def test_default_instruments_map_bars_symbol_to_front_month_future(fake: FakeKite) -> None:
    [row] = fake.instruments
    assert (row["tradingsymbol"], row["segment"], row["lot_size"]) == ("NIFTY25MARFUT",
                                                                       "NFO-FUT", 75)
    assert row["instrument_token"] & 0xFF == 2  # NFO segment in the low byte, as on Kite


def test_instruments_dump_parses_back_to_the_rows(fake: FakeKite, kite: KiteConnect) -> None:
    [row] = kite.instruments()
    expected = fake.instruments[0]
    assert row["instrument_token"] == expected["instrument_token"]
    assert (row["tradingsymbol"], row["expiry"], row["lot_size"], row["tick_size"]) == (
        expected["tradingsymbol"], expected["expiry"], 75, 0.05)
    assert kite.instruments("NSE") == []


def test_market_order_stays_open_until_the_next_tick(fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=2))
    order_id = _place(kite, fake)
    assert _order(kite, order_id)["status"] == "OPEN"


def test_market_order_fills_at_next_tick_with_tag_returned(fake: FakeKite,
                                                           kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=2))
    order_id = _place(kite, fake)
    fake.advance(T0 + timedelta(minutes=3))
    order = _order(kite, order_id)
    assert (order["status"], order["filled_quantity"], order["average_price"], order["tag"]) == (
        "COMPLETE", 75, 102.0, "key-1")


def test_order_history_walks_kite_states(fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))
    order_id = _place(kite, fake)
    fake.advance(T0 + timedelta(minutes=2))
    assert [h["status"] for h in kite.order_history(order_id)] == [
        "PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "COMPLETE"]


def test_limit_buy_fills_only_when_a_tick_crosses_it(fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=3))
    order_id = _place(kite, fake, order_type="LIMIT", price=101.5)
    fake.advance(T0 + timedelta(minutes=6))  # lows 102.5, 103.5, 102.5: above 101.5
    assert _order(kite, order_id)["status"] == "OPEN"
    fake.advance(T0 + timedelta(minutes=7))  # the 09:21 bar (open 102) dips to 101.5
    order = _order(kite, order_id)
    assert (order["status"], order["average_price"]) == ("COMPLETE", 101.5)


def test_sl_m_sell_triggered_inside_a_bar_fills_at_its_trigger(fake: FakeKite,
                                                                 kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=5))
    order_id = _place(kite, fake, transaction_type="SELL", order_type="SL-M",
                      trigger_price=102.6)
    assert _order(kite, order_id)["status"] == "TRIGGER PENDING"
    fake.advance(T0 + timedelta(minutes=6))  # 09:20 bar: 103, 103.5, 102.5 (crosses), 103.25
    order = _order(kite, order_id)
    assert (order["status"], order["average_price"]) == ("COMPLETE", 102.6)


def test_sl_m_sell_gapped_through_at_a_bar_open_fills_at_the_open(fake: FakeKite,
                                                                  kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=5))  # last 104.25
    order_id = _place(kite, fake, transaction_type="SELL", order_type="SL-M",
                      trigger_price=103.6)
    fake.advance(T0 + timedelta(minutes=6))  # 09:20 opens at 103, through the trigger
    assert _order(kite, order_id)["average_price"] == 103.0


def test_resting_limit_crossed_inside_a_bar_fills_at_its_limit(fake: FakeKite,
                                                               kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=6))  # last 103.25
    order_id = _place(kite, fake, order_type="LIMIT", price=101.8)
    fake.advance(T0 + timedelta(minutes=7))  # 09:21 bar: 102, 101.5 (crosses), ...
    assert _order(kite, order_id)["average_price"] == 101.8


def test_resting_limit_gapped_through_at_a_bar_open_fills_at_the_open(
        fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=6))  # last 103.25
    order_id = _place(kite, fake, order_type="LIMIT", price=102.2)
    fake.advance(T0 + timedelta(minutes=7))  # 09:21 opens at 102, below the limit
    assert _order(kite, order_id)["average_price"] == 102.0


def test_marketable_limit_fills_at_the_next_tick_price(fake: FakeKite,
                                                       kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1, seconds=20))  # last 100.5, inside the 09:16 bar
    order_id = _place(kite, fake, order_type="LIMIT", price=105.0)
    fake.advance(T0 + timedelta(minutes=2))  # next tick 101.5
    assert _order(kite, order_id)["average_price"] == 101.5


def test_stop_already_through_the_last_price_is_refused(fake: FakeKite,
                                                        kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))  # last 100.25
    with pytest.raises(kex.InputException, match="higher than the last traded price"):
        _place(kite, fake, order_type="SL-M", trigger_price=100.0)


def test_modify_changes_price_and_cancel_ends_the_order(fake: FakeKite,
                                                        kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))
    order_id = _place(kite, fake, order_type="LIMIT", price=90.0)
    assert kite.modify_order("regular", order_id, price=91.0) == order_id
    assert _order(kite, order_id)["price"] == 91.0
    kite.cancel_order("regular", order_id)
    assert _order(kite, order_id)["status"] == "CANCELLED"
    with pytest.raises(kex.InputException, match="cannot be cancelled"):
        kite.cancel_order("regular", order_id)


def test_partial_fill_knob_splits_an_order_into_unique_trades() -> None:
    with FakeKite(minute_bars(), fill_qty_per_tick=75) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        fake.advance(T0 + timedelta(minutes=1))
        order_id = _place(kite, fake, quantity=225)
        fake.advance(T0 + timedelta(minutes=2))  # four ticks: 75 + 75 + 75
        trades = kite.order_trades(order_id)
        assert [t["quantity"] for t in trades] == [75, 75, 75]
        assert len({t["trade_id"] for t in trades}) == 3
        assert _order(kite, order_id)["status"] == "COMPLETE"


def test_rms_rejection_books_rejected_order_with_message(fake: FakeKite,
                                                         kite: KiteConnect) -> None:
    fake.faults.rms_reject(message="RMS:Margin Exceeds")
    order_id = _place(kite, fake)
    order = _order(kite, order_id)
    assert (order["status"], order["status_message"]) == ("REJECTED", "RMS:Margin Exceeds")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"tradingsymbol": "NIFTY25APRFUT"}, "tradingsymbol"),
    ({"quantity": 50}, "lot size"),
    ({"order_type": "LIMIT", "price": 100.03}, "tick size"),
    ({"tag": "x" * 21}, "tag"),
])
def test_bad_order_input_raises_input_exception(fake: FakeKite, kite: KiteConnect,
                                                overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(kex.InputException, match=message):
        _place(kite, fake, **overrides)


def test_positions_net_and_day_after_round_trip(fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))
    _place(kite, fake, quantity=150)
    fake.advance(T0 + timedelta(minutes=2))  # bought 150 at 101
    _place(kite, fake, transaction_type="SELL", quantity=75, tag="key-2")
    fake.advance(T0 + timedelta(minutes=3))  # sold 75 at 102
    [net] = kite.positions()["net"]
    assert (net["quantity"], net["average_price"], net["realised"]) == (75, 101.0, 75.0)
    [day] = kite.positions()["day"]
    assert (day["buy_quantity"], day["sell_quantity"]) == (150, 75)


def test_trade_ids_are_unique_across_orders(fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))
    _place(kite, fake)
    _place(kite, fake, tag="key-2")
    fake.advance(T0 + timedelta(minutes=2))
    ids = [t["trade_id"] for t in kite.trades()]
    assert len(ids) == len(set(ids)) == 2


def test_order_margins_price_the_notional(fake: FakeKite, kite: KiteConnect) -> None:
    [margin] = kite.order_margins([{"exchange": "NFO", "tradingsymbol": _symbol(fake),
                                    "transaction_type": "BUY", "variety": "regular",
                                    "product": "NRML", "order_type": "LIMIT",
                                    "quantity": 75, "price": 100.0}])
    assert margin["span"] == pytest.approx(75 * 100.0 * 0.12)
    assert margin["total"] == pytest.approx(75 * 100.0 * 0.15)


def test_user_margins_use_the_open_position(fake: FakeKite, kite: KiteConnect) -> None:
    before = kite.margins()["equity"]["net"]
    fake.advance(T0 + timedelta(minutes=1))
    _place(kite, fake)
    fake.advance(T0 + timedelta(minutes=2))
    equity = kite.margins()["equity"]
    assert before == 1_000_000.0
    assert equity["utilised"]["span"] == pytest.approx(75 * 101.25 * 0.12)


def test_historical_serves_only_bars_finished_by_the_clock(fake: FakeKite,
                                                           kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=3))
    candles = kite.historical_data(fake.instruments[0]["instrument_token"],
                                   "2025-03-03 09:00:00", "2025-03-03 15:30:00", "minute")
    assert [(c["date"], c["open"], c["volume"]) for c in candles] == [
        (T0 + timedelta(minutes=i), OPENS[i], 1000 + i) for i in range(3)]


def test_generate_session_issues_a_new_token_and_kills_the_old(fake: FakeKite,
                                                                kite: KiteConnect) -> None:
    session = kite.generate_session(fake.issue_request_token(), fake.api_secret)
    assert kite.access_token == session["access_token"] != "fake_access_token"
    assert kite.profile()["user_id"] == "FK0001"
    stale = KiteConnect(fake.api_key, access_token="fake_access_token", root=fake.rest_root)
    with pytest.raises(kex.TokenException):
        stale.orders()


def test_generate_session_with_a_wrong_secret_is_refused(fake: FakeKite,
                                                         kite: KiteConnect) -> None:
    with pytest.raises(kex.TokenException, match="checksum"):
        kite.generate_session(fake.issue_request_token(), "not-the-secret")


def test_request_token_is_single_use(fake: FakeKite, kite: KiteConnect) -> None:
    request_token = fake.issue_request_token()
    kite.generate_session(request_token, fake.api_secret)
    checksum = hashlib.sha256((fake.api_key + request_token + fake.api_secret).encode())
    assert checksum.hexdigest()
    with pytest.raises(kex.TokenException, match="invalid or has expired"):
        kite.generate_session(request_token, fake.api_secret)


def test_wrong_access_token_is_a_token_exception(fake: FakeKite) -> None:
    kite = KiteConnect(fake.api_key, access_token="guessed", root=fake.rest_root)
    with pytest.raises(kex.TokenException):
        kite.positions()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "localhost", "::1", "example.com"])
def test_fake_refuses_any_host_but_ipv4_loopback(host: str) -> None:
    with pytest.raises(FakeKiteHostError, match="loopback"):
        FakeKite(minute_bars(), host=host)


def test_servers_listen_on_loopback(fake: FakeKite) -> None:
    assert fake.rest_root.startswith("http://127.0.0.1:")
    assert fake.ticker_root.startswith("ws://127.0.0.1:")


def test_bars_off_the_paise_grid_are_refused() -> None:
    bars = minute_bars()
    bars.loc[2, "close"] = 100.123
    with pytest.raises(FakeMarketError, match=r"row 2 column 'close'"):
        FakeKite(bars)


def test_explicit_instrument_rows_replace_the_default() -> None:
    row = front_month_future("NIFTY", T0.date(), exchange_token=60_000, lot_size=25)
    with FakeKite(minute_bars(), [row]) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        assert [r["lot_size"] for r in kite.instruments()] == [25]


def test_advance_inside_a_minute_sends_that_minutes_ticks_so_far(fake: FakeKite) -> None:
    assert fake.advance(T0 + timedelta(minutes=1, seconds=20)) == 4 + 2  # 09:16:00, 09:16:15
    assert fake.advance(T0 + timedelta(minutes=2)) == 2
    assert fake.clock == T0 + timedelta(minutes=2)


def test_order_placed_mid_minute_fills_at_the_next_tick_of_that_minute(
        fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1, seconds=20))  # 09:16 bar: 101, 100.5 sent
    order_id = _place(kite, fake)
    fake.advance(T0 + timedelta(minutes=2))  # then 101.5, 101.25
    assert _order(kite, order_id)["average_price"] == 101.5


def test_pushing_a_bar_into_the_past_is_refused(fake: FakeKite) -> None:
    fake.advance(T0 + timedelta(minutes=3))
    with pytest.raises(FakeMarketError, match="clock is already"):
        fake.push_bar("NIFTY", T0 + timedelta(minutes=1), 100.0, 101.0, 99.0, 100.0)


def test_rate_limit_answers_429_beyond_the_allowed_requests(fake: FakeKite,
                                                           kite: KiteConnect) -> None:
    fake.faults.rate_limit(2, per_s=600.0, path_prefix="/orders")
    assert kite.orders() == kite.orders() == []
    with pytest.raises(kex.GeneralException) as raised:
        kite.orders()
    assert raised.value.code == 429
    assert kite.positions()["net"] == []  # another path is not limited


def two_day_bars() -> pd.DataFrame:
    day1 = minute_bars(opens=[100.0, 101.0])
    day2 = minute_bars(opens=[102.0, 103.0])
    day2["ts"] = day2["ts"] + pd.Timedelta(days=1)
    return pd.concat([day1, day2], ignore_index=True)


def test_a_new_session_expires_open_orders_and_clears_the_books() -> None:
    with FakeKite(two_day_bars()) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        fake.advance(T0 + timedelta(minutes=1))
        _place(kite, fake)  # fills at 101 on day 1
        _place(kite, fake, order_type="LIMIT", price=95.0, tag="key-2")  # never crossed
        fake.advance(T0 + timedelta(days=1, minutes=1))
        assert kite.orders() == kite.trades() == []
        [net] = kite.positions()["net"]
        assert (net["quantity"], net["overnight_quantity"], net["average_price"]) == (
            75, 75, 101.0)
        assert kite.positions()["day"] == []


def test_historical_refuses_more_than_sixty_days_of_minutes(fake: FakeKite,
                                                            kite: KiteConnect) -> None:
    with pytest.raises(kex.InputException, match="60 days"):
        kite.historical_data(fake.instruments[0]["instrument_token"], "2025-01-01",
                             "2025-03-03", "minute")


def test_request_log_counts_each_applied_place_call(fake: FakeKite, kite: KiteConnect) -> None:
    _place(kite, fake, tag="dup")
    fake.faults.http_error(503, path_prefix="/orders/regular")
    with pytest.raises(kex.NetworkException):
        _place(kite, fake, tag="dup")  # refused by the fault before it was applied
    _place(kite, fake, tag="dup")
    assert fake.placed("dup") == 2
    assert [r.status for r in fake.requests if r.path == "/orders/regular"] == [200, 503, 200]
