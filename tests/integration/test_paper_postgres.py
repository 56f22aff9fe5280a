"""The paper exchange on a real PostgreSQL server: a store of the first version is upgraded in
place (the OCO columns added by ``ALTER TABLE``) and keeps its orders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
import sqlalchemy as sa

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, OrderState, OrderType, Outcome, Side
from live.db import make_engine
from tests.unit.test_paper_exchange import OLD_ORDER_ROW, OLD_ORDERS_DDL, SYMBOL

pytestmark = [pytest.mark.integration, pytest.mark.services]

SERVER_URL = os.environ.get("STRATOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def _admin() -> psycopg2.extensions.connection:
    try:
        conn = psycopg2.connect(f"{SERVER_URL}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {SERVER_URL} is unreachable (start the services): {exc}")
    conn.autocommit = True
    return conn


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    name = f"stratops_paper_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER_URL}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_postgres_old_store_gets_oco_columns_and_keeps_orders(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(OLD_ORDERS_DDL)
        conn.exec_driver_sql(OLD_ORDER_ROW)
        conn.exec_driver_sql("CREATE TABLE paper_counters (name VARCHAR(16) PRIMARY KEY, "
                             "value INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO paper_counters VALUES ('order', 1)")
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
