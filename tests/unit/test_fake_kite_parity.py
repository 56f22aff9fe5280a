"""The fake Kite fills like the paper exchange on the same prices: a day of the NSE dataset,
one order schedule sent to both (market entries, resting limit targets, stop-market exits,
cancels, flattening), every order placed between bars. Market fills at the next bar's open
plus slippage, limits at their price or a gapping open, stops at their trigger (or the open)
minus slippage: the paper exchange's ``next_open`` conventions, reached here through the real
``KiteConnect`` and ``KiteBroker`` over loopback HTTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from kiteconnect import KiteConnect

from live.adapters.kite import KiteBroker
from live.adapters.paper import FillModel, PaperExchange
from live.broker import Broker, OrderRequest, OrderState, OrderType, Side
from live.db import make_engine
from strategies.files import read_dataset
from tests.fake_kite import FakeKite, front_month_future
from tests.synthetic_datasets import nse_index_1m_path

CYCLE = 12  # bars per round trip of the schedule
LOT = 75


def _day(date: str, bars: int) -> pd.DataFrame:
    frame = read_dataset(nse_index_1m_path())
    day = frame[(frame["symbol"] == "NIFTY") & (frame["ts"].dt.strftime("%Y-%m-%d") == date)]
    return day.head(bars).reset_index(drop=True)


def _tick(price: float) -> float:
    return round(round(price / 0.05) * 0.05, 2)


class Schedule:
    """One order schedule, decided from the paper exchange's state, sent to both venues."""

    def __init__(self, symbol: str, venues: list[Broker]) -> None:
        self.symbol = symbol
        self.venues = venues
        self.ids: dict[str, list[str]] = {}  # client key -> order id per venue

    def send(self, key: str, side: Side, **kwargs: object) -> None:
        request = OrderRequest(client_key=key, symbol=self.symbol, exchange="NFO", side=side,
                               qty=LOT, **kwargs)  # type: ignore[arg-type]
        results = [venue.submit(request) for venue in self.venues]
        assert all(r.broker_order_id for r in results), results
        self.ids[key] = [str(r.broker_order_id) for r in results]

    def cancel(self, key: str) -> None:
        for venue, order_id in zip(self.venues, self.ids[key], strict=True):
            venue.cancel(order_id)

    def on_bar_closed(self, i: int, close: float) -> None:
        cycle, step = divmod(i, CYCLE)
        paper = self.venues[0]
        long = sum(p.net_qty for p in paper.positions()) > 0
        if step == 1:
            self.send(f"in-{cycle}", Side.BUY)
        elif step == 3 and long:
            exit_ = (dict(order_type=OrderType.SL_M, trigger_price=_tick(close - 8.0))
                     if cycle % 2 else
                     dict(order_type=OrderType.LIMIT, limit_price=_tick(close + 8.0)))
            self.send(f"out-{cycle}", Side.SELL, **exit_)
        elif step == CYCLE - 1 and f"out-{cycle}" in self.ids:
            report = paper.status(broker_order_id=self.ids[f"out-{cycle}"][0])
            if report is not None and report.state is OrderState.OPEN:
                self.cancel(f"out-{cycle}")
                self.send(f"flat-{cycle}", Side.SELL)


@pytest.mark.parametrize("date", ["2025-03-03", "2025-06-10"])
def test_fills_equal_the_paper_exchange_on_the_same_prices(tmp_path: Path, date: str) -> None:
    bars = _day(date, 144)  # twelve cycles
    row = front_month_future("NIFTY", bars["ts"].iloc[0].date(), exchange_token=51_001)
    symbol = str(row["tradingsymbol"])
    paper = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'paper.db'}"), seed=7,
                          fill_model=FillModel(fill="next_open", slippage_ticks=2,
                                               tick_size=0.05))
    with FakeKite(bars, [row], slippage_points=0.10) as fake:
        kite = KiteBroker(KiteConnect(fake.api_key, access_token=fake.access_token,
                                      root=fake.rest_root))
        schedule = Schedule(symbol, [paper, kite])
        for i, bar in enumerate(bars.itertuples()):
            paper.on_bar(symbol, bar.ts.to_pydatetime(), bar.open, bar.high, bar.low, bar.close)
            fake.advance(bar.ts.to_pydatetime() + timedelta(minutes=1))
            schedule.on_bar_closed(i, bar.close)
        fills = [{(f.client_key, f.side, f.qty, round(f.price, 2)) for f in venue.fills()}
                 for venue in (paper, kite)]
    kinds = {key.split("-")[0] for key, *_ in fills[0]}
    assert kinds == {"in", "out", "flat"}  # the schedule exercised every path
    assert fills[1] == fills[0]
