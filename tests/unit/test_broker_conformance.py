"""Conformance of every broker adapter to :class:`live.broker.Broker`: what execution relies on.

Each case runs once per entry of :data:`VENUES`. A venue is an adapter plus a way to move its
market one bar (the paper exchange matches on bars; a snapshot adapter's fake transport must
do the same). Fills follow the ``next_open`` convention with ``slippage_points`` against the
trader.

Adding an adapter (e.g. the Kite adapter over its fake transport): write a factory
``def kite_venue(tmp_path: Path) -> Venue`` that builds the adapter and returns
``Venue(broker=..., push_bar=..., slippage_points=...)``, where ``push_bar(ts, o, h, l, c)``
delivers one bar of :data:`SYMBOL` to the fake exchange behind the transport, and append
``kite_venue`` to :data:`VENUES`. Nothing else changes. A venue holding a resource (the
loopback fake Kite's servers) gives ``close``, called after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.broker import (
    Broker,
    FillReport,
    OrderRequest,
    OrderState,
    OrderType,
    Outcome,
    Side,
)
from live.db import make_engine

SYMBOL = "NIFTY25JANFUT"
EXCHANGE = "NFO"
T0 = datetime(2025, 1, 6, 9, 15, tzinfo=ZoneInfo("Asia/Kolkata"))

PushBar = Callable[[datetime, float, float, float, float], object]


@dataclass(frozen=True, kw_only=True)
class Venue:
    """An adapter under test and the market behind it."""

    broker: Broker
    push_bar: PushBar  # (ts, open, high, low, close) of SYMBOL
    slippage_points: float
    close: Callable[[], None] | None = None


def paper_venue(tmp_path: Path) -> Venue:
    model = FillModel(fill="next_open", slippage_ticks=2, tick_size=0.05)
    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'paper.db'}"), seed=7,
                             fill_model=model)
    return Venue(broker=exchange,
                 push_bar=lambda ts, o, h, lo, c: exchange.on_bar(SYMBOL, ts, o, h, lo, c),
                 slippage_points=model.slippage_points)


def kite_venue(tmp_path: Path) -> Venue:
    """The Kite adapter, through the real ``kiteconnect`` client, over a paper exchange."""
    from tests.unit.test_kite_adapter import kite_over_paper

    model = FillModel(fill="next_open", slippage_ticks=2, tick_size=0.05)
    broker, exchange = kite_over_paper(tmp_path, fill_model=model)
    return Venue(broker=broker,
                 push_bar=lambda ts, o, h, lo, c: exchange.on_bar(SYMBOL, ts, o, h, lo, c),
                 slippage_points=model.slippage_points)


def fake_kite_venue(tmp_path: Path) -> Venue:
    """The Kite adapter through the real ``kiteconnect`` client over HTTP to the loopback
    fake Kite (:mod:`tests.fake_kite`), whose market moves by the bars pushed to it."""
    import pandas as pd
    from kiteconnect import KiteConnect

    from live.adapters.kite import KiteBroker
    from tests.fake_kite import FakeKite, front_month_future

    row = front_month_future("NIFTY", T0.date(), exchange_token=51_001, lot_size=1)
    assert row["tradingsymbol"] == SYMBOL
    fake = FakeKite(pd.DataFrame(columns=["ts", "symbol", "open", "high", "low", "close",
                                          "volume"]),
                    [row], slippage_points=0.10).start()
    client = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
    return Venue(broker=KiteBroker(client),
                 push_bar=lambda ts, o, h, lo, c: fake.push_bar(SYMBOL, ts, o, h, lo, c),
                 slippage_points=0.10, close=fake.close)


VENUES: list[Callable[[Path], Venue]] = [paper_venue, kite_venue, fake_kite_venue]


@pytest.fixture(params=VENUES, ids=lambda factory: factory.__name__.removesuffix("_venue"))
def venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Venue]:
    made = request.param(tmp_path)
    yield made
    if made.close is not None:
        made.close()


class Market:
    """Pushes consecutive one-minute bars to a venue."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.minute = 0

    def bar(self, open_: float, close: float | None = None) -> None:
        close = open_ if close is None else close
        ts = T0 + timedelta(minutes=self.minute)
        self.venue.push_bar(ts, open_, max(open_, close) + 1.0, min(open_, close) - 1.0, close)
        self.minute += 1


def _order(key: str, side: Side, qty: int, **kwargs: object) -> OrderRequest:
    if kwargs.get("order_type", OrderType.MARKET) in (OrderType.MARKET, OrderType.SL_M):
        # wide enough for the cases' 2% bar-to-bar moves: a market order fills, never rests
        kwargs.setdefault("market_protection_pct", 5.0)
    return OrderRequest(client_key=key, symbol=SYMBOL, exchange=EXCHANGE, side=side, qty=qty,
                        **kwargs)  # type: ignore[arg-type]


def _net_qty(broker: Broker) -> int:
    return sum(p.net_qty for p in broker.positions() if p.symbol == SYMBOL)


def _unique(fills: list[FillReport]) -> list[FillReport]:
    return list({fill.trade_id: fill for fill in fills}.values())


def _cash_flow(fills: list[FillReport]) -> float:
    """Sell proceeds minus buy cost: the realised P&L once flat."""
    return sum((f.price if f.side is Side.SELL else -f.price) * f.qty for f in _unique(fills))


def _open_long(venue: Venue, qty: int) -> Market:
    market = Market(venue)
    market.bar(100.0)
    assert venue.broker.submit(_order("open-1", Side.BUY, qty)).outcome is Outcome.CONFIRMED
    market.bar(101.0)
    return market


def test_adapter_satisfies_broker_protocol(venue: Venue) -> None:
    assert isinstance(venue.broker, Broker)


def test_buy_market_from_flat_fills_at_next_open_plus_slippage(venue: Venue) -> None:
    _open_long(venue, 2)
    [fill] = _unique(venue.broker.fills())
    assert (fill.side, fill.qty) == (Side.BUY, 2)
    assert fill.price == pytest.approx(101.0 + venue.slippage_points)


def test_buy_market_from_flat_opens_long_position(venue: Venue) -> None:
    _open_long(venue, 2)
    assert _net_qty(venue.broker) == 2


def test_sell_same_qty_closes_to_flat(venue: Venue) -> None:
    market = _open_long(venue, 2)
    venue.broker.submit(_order("close-1", Side.SELL, 2))
    market.bar(105.0)
    assert _net_qty(venue.broker) == 0


def test_round_trip_realised_pnl_is_exit_minus_entry_times_qty(venue: Venue) -> None:
    market = _open_long(venue, 2)
    venue.broker.submit(_order("close-1", Side.SELL, 2))
    market.bar(105.0)
    entry, exit_ = 101.0 + venue.slippage_points, 105.0 - venue.slippage_points
    assert _cash_flow(venue.broker.fills()) == pytest.approx((exit_ - entry) * 2)


def test_selling_twice_the_long_flips_to_short(venue: Venue) -> None:
    market = _open_long(venue, 2)
    venue.broker.submit(_order("flip-1", Side.SELL, 4))
    market.bar(99.0)
    [position] = [p for p in venue.broker.positions() if p.symbol == SYMBOL]
    assert position.net_qty == -2
    assert position.avg_price == pytest.approx(99.0 - venue.slippage_points)


def test_modify_open_limit_order_reports_new_price(venue: Venue) -> None:
    market = Market(venue)
    market.bar(100.0)
    placed = venue.broker.submit(_order("lim-1", Side.BUY, 1, order_type=OrderType.LIMIT,
                                        limit_price=90.0))
    assert placed.broker_order_id is not None
    market.bar(100.0)
    result = venue.broker.modify(placed.broker_order_id, limit_price=91.0)
    report = venue.broker.status(broker_order_id=placed.broker_order_id)
    assert result.outcome is Outcome.CONFIRMED
    assert report is not None
    assert (report.state, report.limit_price) == (OrderState.OPEN, 91.0)


def test_cancel_modified_order_reports_cancelled(venue: Venue) -> None:
    market = Market(venue)
    market.bar(100.0)
    placed = venue.broker.submit(_order("lim-1", Side.BUY, 1, order_type=OrderType.LIMIT,
                                        limit_price=90.0))
    assert placed.broker_order_id is not None
    venue.broker.modify(placed.broker_order_id, limit_price=91.0)
    result = venue.broker.cancel(placed.broker_order_id)
    report = venue.broker.status(client_key="lim-1")
    assert result.outcome is Outcome.CONFIRMED
    assert report is not None and report.state is OrderState.CANCELLED


def test_order_carries_its_algo_id_and_is_still_found_by_its_client_key(
        venue: Venue) -> None:
    """SEBI's algo framework: the exchange algo id travels with the order (Kite's
    ``algo_id`` parameter) while the tag stays the client key the order is found by."""
    market = Market(venue)
    market.bar(100.0)
    venue.broker.submit(_order("algo-1", Side.BUY, 1, order_type=OrderType.LIMIT,
                               limit_price=90.0, algo_id="NSEALGO42"))
    venue.broker.submit(_order("plain-1", Side.BUY, 1, order_type=OrderType.LIMIT,
                               limit_price=90.0))
    found = venue.broker.status(client_key="algo-1")
    assert found is not None and found.algo_id == "NSEALGO42"
    assert {o.client_key: o.algo_id for o in venue.broker.orders()} == {
        "algo-1": "NSEALGO42", "plain-1": None}


def test_second_cancel_is_rejected_and_changes_nothing(venue: Venue) -> None:
    market = Market(venue)
    market.bar(100.0)
    placed = venue.broker.submit(_order("lim-1", Side.BUY, 1, order_type=OrderType.LIMIT,
                                        limit_price=90.0))
    assert placed.broker_order_id is not None
    venue.broker.cancel(placed.broker_order_id)
    before = (venue.broker.orders(), venue.broker.fills(), venue.broker.positions())
    second = venue.broker.cancel(placed.broker_order_id)
    assert second.outcome is Outcome.REJECTED
    assert (venue.broker.orders(), venue.broker.fills(), venue.broker.positions()) == before


def test_fills_per_symbol_sum_to_position(venue: Venue) -> None:
    market = _open_long(venue, 3)
    venue.broker.submit(_order("sell-1", Side.SELL, 1))
    market.bar(102.0)
    signed = sum(f.qty if f.side is Side.BUY else -f.qty
                 for f in _unique(venue.broker.fills()) if f.symbol == SYMBOL)
    assert signed == _net_qty(venue.broker) == 2


def test_order_reports_agree_with_their_fills(venue: Venue) -> None:
    market = _open_long(venue, 3)
    venue.broker.submit(_order("sell-1", Side.SELL, 1))
    market.bar(102.0)
    fills = _unique(venue.broker.fills())
    for order in venue.broker.orders():
        mine = [f for f in fills if f.broker_order_id == order.broker_order_id]
        assert order.filled_qty == sum(f.qty for f in mine)
        assert order.avg_fill_price == pytest.approx(
            sum(f.price * f.qty for f in mine) / order.filled_qty)
        assert order.state is OrderState.FILLED
