"""The fake Kite's exchange and RMS rules through the real ``KiteConnect``: circuit limits,
freeze quantity, trading hours, the MIS square-off, market protection, expired contracts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd
import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from live.adapters.kite import KiteBroker
from live.broker import OrderRequest, Outcome, Side
from tests.fake_kite import ExchangeRules, FakeKite, FakeMarketError, front_month_future
from tests.unit.test_fake_kite_rest import T0, _order, _place, _symbol, minute_bars


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    with FakeKite(minute_bars(), seed=3) as running:
        yield running


@pytest.fixture
def kite(fake: FakeKite) -> KiteConnect:
    return KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)


def test_quote_carries_circuit_limits_around_the_previous_close(fake: FakeKite,
                                                                kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))
    name = f"NFO:{_symbol(fake)}"
    quote = kite.quote(name)[name]
    # no previous session: the band is centred on the day's first open (100)
    assert (quote["lower_circuit_limit"], quote["upper_circuit_limit"]) == (90.0, 110.0)
    assert (quote["last_price"], quote["volume"]) == (100.25, 1000)
    assert kite.ltp(name)[name]["last_price"] == 100.25


def test_limit_price_outside_the_band_is_rejected_by_the_exchange(
        fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))
    inside = _place(kite, fake, order_type="LIMIT", price=90.0)
    outside = _place(kite, fake, order_type="LIMIT", price=89.95, tag="key-2")
    assert _order(kite, inside)["status"] == "OPEN"
    order = _order(kite, outside)
    assert order["status"] == "REJECTED"
    assert "circuit limits 90.0 - 110.0" in order["status_message"]


def test_quantity_above_the_freeze_quantity_is_rejected() -> None:
    with FakeKite(minute_bars(), rules=ExchangeRules(freeze_qty={"NIFTY": 1800})) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        at_freeze = _place(kite, fake, quantity=1800)
        above = _place(kite, fake, quantity=1875, tag="key-2")
        assert _order(kite, at_freeze)["status"] == "OPEN"
        order = _order(kite, above)
        assert order["status"] == "REJECTED"
        assert "freeze quantity 1800" in order["status_message"]


def test_order_on_an_expired_contract_is_refused() -> None:
    row = front_month_future("NIFTY", date(2025, 2, 1), exchange_token=60_001)  # 25FEB
    with FakeKite(minute_bars(), [row]) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        with pytest.raises(kex.InputException, match="expired on 2025-02-27"):
            kite.place_order(variety="regular", exchange="NFO", tradingsymbol="NIFTY25FEBFUT",
                             transaction_type="BUY", quantity=75, product="NRML",
                             order_type="MARKET")


@pytest.mark.parametrize("protection", [-2, 101])
def test_market_protection_out_of_range_is_refused(fake: FakeKite, kite: KiteConnect,
                                                   protection: int) -> None:
    with pytest.raises(kex.InputException, match="market_protection"):
        _place(kite, fake, market_protection=protection)


def late_bars() -> pd.DataFrame:
    """09:15, then 15:23 .. 15:29 (opens 100 .. 106)."""
    bars = minute_bars(opens=[100.0] + [100.0 + i for i in range(7)])
    bars.loc[1:, "ts"] = [pd.Timestamp(T0.replace(hour=15, minute=23 + i)) for i in range(7)]
    return bars


def test_kite_squares_off_mis_positions_at_1525() -> None:
    with FakeKite(late_bars()) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        fake.advance(T0.replace(hour=15, minute=23))
        _place(kite, fake, product="MIS")
        _place(kite, fake, product="MIS", order_type="LIMIT", price=95.0, tag="key-2")
        _place(kite, fake, product="NRML", tag="key-3")
        fake.advance(T0.replace(hour=15, minute=26))
        net = {p["product"]: p["quantity"] for p in kite.positions()["net"]}
        [square_off] = [o for o in kite.orders() if o["tag"] is None]
        resting = next(o for o in kite.orders() if o["tag"] == "key-2")
    assert net == {"MIS": 0, "NRML": 75}
    assert (square_off["transaction_type"], square_off["average_price"]) == ("SELL", 102.0)
    assert resting["status"] == "CANCELLED"


def test_new_mis_order_after_the_square_off_time_is_rejected() -> None:
    with FakeKite(late_bars()) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        fake.advance(T0.replace(hour=15, minute=26))
        mis = _place(kite, fake, product="MIS")
        nrml = _place(kite, fake, product="NRML", tag="key-2")
        assert "square-off" in _order(kite, mis)["status_message"]
        assert _order(kite, nrml)["status"] == "OPEN"


def test_order_after_the_close_is_refused_as_markets_closed() -> None:
    with FakeKite(late_bars()) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        fake.advance(T0.replace(hour=15, minute=30))
        with pytest.raises(kex.InputException, match="Markets are closed"):
            _place(kite, fake)


def test_market_protection_keeps_a_market_buy_from_filling_above_it(
        fake: FakeKite, kite: KiteConnect) -> None:
    fake.advance(T0 + timedelta(minutes=1))  # last 100.25: 0.5 % above is 100.75
    order_id = _place(kite, fake, market_protection=0.5)
    assert _order(kite, order_id)["price"] == 100.75
    fake.advance(T0 + timedelta(minutes=1, seconds=1))  # 101.0: beyond the protection
    assert _order(kite, order_id)["status"] == "OPEN"
    fake.advance(T0 + timedelta(minutes=2))  # then 100.5
    order = _order(kite, order_id)
    assert (order["status"], order["average_price"]) == ("COMPLETE", 100.5)


def test_required_market_protection_refuses_a_bare_market_order_not_the_adapters() -> None:
    rules = ExchangeRules(require_market_protection=True)
    with FakeKite(minute_bars(), rules=rules) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        with pytest.raises(kex.InputException, match="market_protection"):
            _place(kite, fake)  # a bare MARKET order, as Kite refuses it
        result = KiteBroker(kite).submit(OrderRequest(  # the adapter always protects
            client_key="protected", symbol=_symbol(fake), exchange="NFO", side=Side.BUY,
            qty=75))
        assert result.outcome is Outcome.CONFIRMED, result.reason
        assert _place(kite, fake, market_protection=-1, tag="auto")  # automatic: accepted


def test_autoslice_is_refused_not_silently_ignored(fake: FakeKite, kite: KiteConnect) -> None:
    with pytest.raises(kex.InputException, match="autoslice"):
        kite.place_autoslice_order(variety="regular", exchange="NFO",
                                   tradingsymbol=_symbol(fake), transaction_type="BUY",
                                   quantity=75, product="NRML", order_type="MARKET")


def test_an_empty_market_starts_at_a_session_open_so_orders_can_be_placed() -> None:
    row = front_month_future("NIFTY", date(2025, 3, 3), exchange_token=60_002)
    with FakeKite(minute_bars().head(0), [row]) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        assert _order(kite, _place(kite, fake))["status"] == "OPEN"


def test_start_sets_the_clock() -> None:
    fake = FakeKite(minute_bars(), start=T0 - timedelta(minutes=5))
    assert fake.clock == T0 - timedelta(minutes=5)


def test_bars_of_a_symbol_no_instrument_follows_are_refused() -> None:
    row = front_month_future("BANKNIFTY", date(2025, 3, 3), exchange_token=60_003)
    with pytest.raises(FakeMarketError, match=r"\['NIFTY'\] drive no instrument"):
        FakeKite(minute_bars(), [row])
