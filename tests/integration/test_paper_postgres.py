"""The paper exchange on a real PostgreSQL server: a store of the first version is upgraded in
place (the OCO columns added by ``ALTER TABLE``) and keeps its orders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, OrderState, OrderType, Outcome, Side
from live.db import make_engine
from tests.integration.postgres import fresh_database
from tests.unit.test_paper_exchange import SYMBOL, write_old_store

pytestmark = [pytest.mark.integration, pytest.mark.services]


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    yield from fresh_database("stratops_paper")


def test_postgres_old_store_gets_oco_columns_and_keeps_orders(pg_url: str) -> None:
    engine = write_old_store(make_engine(pg_url))
    try:
        ex = PaperExchange(engine, seed=1, fill_model=FillModel())
        PaperExchange(engine, seed=1, fill_model=FillModel())  # a second open: no-op upgrade
        result = ex.submit(OrderRequest(
            client_key="sl", symbol=SYMBOL, exchange="NFO", side=Side.SELL, qty=1,
            order_type=OrderType.SL_M, trigger_price=97.0, oco_group="g1"))
        columns = {c["name"] for c in sa.inspect(engine).get_columns("paper_orders")}
        old = ex.status(client_key="old")
        assert {"after_trade", "oco_group"} <= columns
        assert old is not None and (old.state, old.limit_price) == (OrderState.OPEN, 90.0)
        assert (result.outcome, result.broker_order_id) == (Outcome.CONFIRMED, "P00000002")
    finally:
        engine.dispose()
