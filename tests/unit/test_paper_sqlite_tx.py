"""The paper exchange's raw SQLite transactions: atomic, committed before the call returns,
and storing what the SQLAlchemy path stores."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from live.adapters.paper import FillModel, PaperExchange, store
from live.adapters.paper.sqlite_tx import RawWriter
from live.broker import OrderRequest, OrderType, Outcome, Side
from live.db import make_engine

T0 = datetime(2025, 1, 6, 9, 15, tzinfo=ZoneInfo("Asia/Kolkata"))


def _engine(path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{path}")
    store.create(engine)
    return engine


def test_raw_transaction_interrupted_stores_nothing(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "paper.db")
    writer = RawWriter(engine)
    with pytest.raises(RuntimeError), writer.begin() as tx:
        store.record_attempt(tx, "k1", "accepted", "P00000001")
        raise RuntimeError("crash between two statements")
    with writer.begin() as tx:  # the connection is usable again: no transaction left open
        assert tx.execute(sa.select(sa.func.count()).select_from(store.attempts)
                          ).one()[0] == 0


def test_raw_transaction_is_committed_when_the_block_returns(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    writer = RawWriter(_engine(path))
    with writer.begin() as tx:
        store.record_attempt(tx, "k1", "accepted", "P00000001")
    other = sqlite3.connect(path)  # another connection, as another process would read
    try:
        rows = other.execute("SELECT client_key, outcome FROM paper_submit_attempts").fetchall()
    finally:
        other.close()
    assert rows == [("k1", "accepted")]


def test_raw_rows_read_like_sqlalchemy_rows(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "paper.db")
    writer = RawWriter(engine)
    with writer.begin() as tx:
        store.update_order(tx, "P1", state="OPEN")  # no such order: nothing to update
        store.record_attempt(tx, "k1", "rejected", None)
    with writer.begin() as raw:
        raw_row = raw.execute(sa.select(store.attempts)).one()
    with engine.begin() as conn:
        sa_row = conn.execute(sa.select(store.attempts)).one()
    assert (raw_row._mapping, raw_row.outcome) == (dict(sa_row._mapping), sa_row.outcome)


def _stored(path: Path) -> list[tuple[str, int, str]]:
    """(state, filled qty, last event) of each order, read on another connection."""
    other = sqlite3.connect(path)
    try:
        return other.execute(
            "SELECT o.state, o.filled_qty, (SELECT kind FROM paper_events e WHERE "
            "e.broker_order_id = o.broker_order_id ORDER BY e.seq DESC LIMIT 1) "
            "FROM paper_orders o ORDER BY o.seq").fetchall()
    finally:
        other.close()


def test_paper_exchange_on_sqlite_commits_each_call_before_it_returns(tmp_path: Path
                                                                     ) -> None:
    path = tmp_path / "paper.db"
    ex = PaperExchange(make_engine(f"sqlite:///{path}"), seed=1, fill_model=FillModel())
    ex.on_bar("NIFTY", T0, 100.0, 101.0, 99.0, 100.5)
    result = ex.submit(OrderRequest(client_key="k1", symbol="NIFTY", exchange="NSE",
                                    side=Side.BUY, qty=2))
    after_submit = _stored(path)
    ex.on_bar("NIFTY", T0 + timedelta(minutes=1), 101.0, 102.0, 100.0, 101.5)
    assert (result.outcome, after_submit, _stored(path)) == (
        Outcome.CONFIRMED, [("OPEN", 0, "accepted")], [("FILLED", 2, "filled")])


def test_paper_exchange_on_sqlite_answers_from_another_thread(tmp_path: Path) -> None:
    ex = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'paper.db'}"), seed=1,
                       fill_model=FillModel())
    ex.on_bar("NIFTY", T0, 100.0, 101.0, 99.0, 100.5)  # the kept connection opened here
    answers: list[object] = []
    worker = threading.Thread(target=lambda: answers.append(ex.submit(OrderRequest(
        client_key="k1", symbol="NIFTY", exchange="NSE", side=Side.BUY, qty=1)).outcome))
    worker.start()
    worker.join()
    assert answers == [Outcome.CONFIRMED]


def test_the_order_path_runs_only_statements_compiled_when_the_exchange_was_built(
        tmp_path: Path) -> None:
    ex = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'paper.db'}"), seed=1,
                       fill_model=FillModel())
    assert ex._raw is not None
    ex.on_bar("NIFTY", T0, 100.0, 101.0, 99.0, 100.5)
    ex.submit(OrderRequest(client_key="k1", symbol="NIFTY", exchange="NSE", side=Side.BUY,
                           qty=2))
    ex.submit(OrderRequest(client_key="k2", symbol="NIFTY", exchange="NSE", side=Side.SELL,
                           qty=2, order_type=OrderType.SL_M, trigger_price=95.0))
    ex.on_bar("NIFTY", T0 + timedelta(minutes=1), 101.0, 102.0, 100.0, 101.5)  # k1 fills
    ex.fills()
    stop = ex.orders()[-1].broker_order_id
    ex.modify(stop, trigger_price=96.0)  # a trailing stop's move
    ex.modify(stop, qty=1, trigger_price=96.5)
    ex.cancel(stop)
    # a statement compiled on its first use would have cost the first order ~0.4 ms each
    assert ex._raw._cache == {}
