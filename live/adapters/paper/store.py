"""The paper exchange's own SQL store: orders, fills, submit attempts, events, last bars,
faults and id counters. Every function takes an open connection so a caller groups its
reads and writes in one transaction (``BEGIN IMMEDIATE`` on SQLite, see :mod:`live.db`).

Timestamps are stored as ISO-8601 text with their offset, so they come back timezone-aware.
:func:`create` also upgrades a store made by an earlier version in place (nullable columns
added with ``ALTER TABLE``); stored rows are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from live.adapters.paper.fill_model import Bar, FillModel, WorkingOrder
from live.adapters.paper.sqlite_tx import RawTx, prebuilt
from live.broker import (
    OCO_GROUP_MAX_CHARS,
    TRADE_ID_MAX_CHARS,
    OrderReport,
    OrderState,
    OrderType,
    Side,
)
from strategies.errors import StratopsError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Conn = sa.Connection | RawTx  # an open transaction: SQLAlchemy's, or SQLite's raw one

metadata = sa.MetaData()

config = sa.Table(
    "paper_config", metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
counters = sa.Table(
    "paper_counters", metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)
orders = sa.Table(
    "paper_orders", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("broker_order_id", sa.String(24), nullable=False, unique=True),
    sa.Column("client_key", sa.String(32), nullable=False, unique=True),
    sa.Column("symbol", sa.String(64), nullable=False, index=True),
    sa.Column("exchange", sa.String(16), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("order_type", sa.String(8), nullable=False),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("filled_qty", sa.Integer, nullable=False),
    sa.Column("filled_notional", sa.Float, nullable=False),
    sa.Column("limit_price", sa.Float),
    sa.Column("trigger_price", sa.Float),
    sa.Column("triggered", sa.Boolean, nullable=False),
    sa.Column("wait_bars", sa.Integer, nullable=False),
    sa.Column("state", sa.String(12), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("updated_ts", sa.String(40), nullable=False),
    # added after the first version: nullable, created by ALTER TABLE on an older store
    sa.Column("after_trade", sa.String(TRADE_ID_MAX_CHARS)),
    sa.Column("oco_group", sa.String(OCO_GROUP_MAX_CHARS)),
    # a market / stop-market order's protection (percent); its cap is in limit_price
    sa.Column("market_protection_pct", sa.Float),
    # the exchange algo id the order was sent with (SEBI's algo framework; NULL: none)
    sa.Column("algo_id", sa.String(20)),
)
# Columns a store of an earlier version may lack, by table: all nullable, no default.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "paper_orders": ("after_trade", "oco_group", "market_protection_pct", "algo_id"),
    "paper_faults": ("reject_next", "reject_reason")}
fills = sa.Table(
    "paper_fills", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("trade_id", sa.String(24), nullable=False, unique=True),
    sa.Column("broker_order_id", sa.String(24), nullable=False),
    sa.Column("client_key", sa.String(32), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("copies", sa.Integer, nullable=False),  # 2 = reported twice (a fault)
)
attempts = sa.Table(
    "paper_submit_attempts", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_key", sa.String(32), nullable=False, index=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("broker_order_id", sa.String(24)),
)
events = sa.Table(
    "paper_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("broker_order_id", sa.String(24), nullable=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
bars = sa.Table(
    "paper_last_bars", metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("ts_epoch_us", sa.BigInteger, nullable=False),
    sa.Column("open", sa.Float, nullable=False),
    sa.Column("high", sa.Float, nullable=False),
    sa.Column("low", sa.Float, nullable=False),
    sa.Column("close", sa.Float, nullable=False),
)
faults = sa.Table(
    "paper_faults", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("drop_ack_next", sa.Integer, nullable=False),
    sa.Column("duplicate_fill_next", sa.Boolean, nullable=False),
    sa.Column("unavailable", sa.Boolean, nullable=False),
    # added after the first version (nullable: NULL reads as off)
    sa.Column("reject_next", sa.Integer),
    sa.Column("reject_reason", sa.Text),
)

ID_FORMATS = {"order": "P{:08d}", "trade": "T{:08d}"}


class PaperConfigError(StratopsError, RuntimeError):
    """A store opened with a seed or fill model other than the one it was created with."""


def create(engine: sa.Engine) -> None:
    """Create the tables (idempotent), add the columns an older store lacks and insert the
    singleton faults row."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        _add_missing_columns(conn)
        if conn.execute(sa.select(faults.c.id)).first() is None:
            conn.execute(faults.insert().values(id=1, drop_ack_next=0,
                                                duplicate_fill_next=False, unavailable=False))


def _add_missing_columns(conn: sa.Connection) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each of :data:`ADDED_COLUMNS` not in the store.

    Runs in the caller's transaction (DDL is transactional on SQLite and PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` serialises two openers, PostgreSQL gets ``IF NOT EXISTS``).
    """
    dialect = conn.dialect
    if_not_exists = "IF NOT EXISTS " if dialect.name == "postgresql" else ""
    preparer = dialect.identifier_preparer
    for table_name, names in ADDED_COLUMNS.items():
        present = {c["name"] for c in sa.inspect(conn).get_columns(table_name)}
        table = metadata.tables[table_name]
        for name in names:
            if name in present:
                continue
            column = table.c[name]
            conn.exec_driver_sql(
                f"ALTER TABLE {preparer.quote(table_name)} ADD COLUMN {if_not_exists}"
                f"{preparer.quote(name)} {column.type.compile(dialect=dialect)}")


def _stored_model(text: str) -> str:
    """A stored fill model as this code writes it: a store made before fill modes existed
    (no ``mode``) was filled by the ``parity`` rules; text that does not parse stays as it is
    (and so differs from any model wanted)."""
    try:
        return FillModel.from_json(text).to_json()
    except (ValueError, TypeError):
        return text


def bind_config(engine: sa.Engine, seed: int, model: FillModel) -> None:
    """Record the seed and fill model on first use; refuse a different one later."""
    wanted = {"seed": str(seed), "fill_model": model.to_json()}
    with engine.begin() as conn:
        stored = {row.key: row.value for row in conn.execute(sa.select(config))}
        if not stored:
            conn.execute(config.insert(), [{"key": k, "value": v} for k, v in wanted.items()])
            return
    if "fill_model" in stored:
        stored["fill_model"] = _stored_model(stored["fill_model"])
    if stored != wanted:
        differs = sorted(k for k in {*stored, *wanted} if stored.get(k) != wanted.get(k))
        raise PaperConfigError(
            f"paper exchange store {engine.url.render_as_string(hide_password=True)} was "
            f"created with {', '.join(f'{k}={stored.get(k)}' for k in differs)}, but this "
            f"run wants {', '.join(f'{k}={wanted.get(k)}' for k in differs)}; its book was "
            "filled under the old rules, so it is not reused")


# Statements built once (bound parameters): a statement built per call costs more in
# SQLAlchemy's construction and cache-key work than SQLite takes to run it, and a raw SQLite
# transaction (:mod:`live.adapters.paper.sqlite_tx`) compiles each of these only once.
_INSERT_COUNTER = prebuilt(counters.insert().values(name=sa.bindparam("c_name"),
                                                    value=sa.bindparam("c_value")))
_BUMP_COUNTER = prebuilt(  # one statement, row-locked
    counters.update().where(counters.c.name == sa.bindparam("c_name"))
    .values(value=counters.c.value + 1).returning(counters.c.value))


def _insert_all(table: sa.Table) -> sa.Insert:
    """An insert of every column of ``table`` but an autoincremented key, bound by name."""
    return table.insert().values({c.name: sa.bindparam(c.name) for c in table.columns
                                  if not (c.primary_key and c.autoincrement is True)})


_INSERT_ORDER = prebuilt(_insert_all(orders))
_INSERT_FILL = prebuilt(_insert_all(fills))
_INSERT_EVENT = prebuilt(_insert_all(events))
_INSERT_ATTEMPT = prebuilt(_insert_all(attempts))


def next_seq(conn: Conn, name: str) -> int:
    """The next value of counter ``name`` (1, 2, ...), persisted in the same transaction."""
    row = conn.execute(_BUMP_COUNTER, {"c_name": name}).first()
    if row is not None:
        return int(row[0])
    conn.execute(_INSERT_COUNTER, {"c_name": name, "c_value": 1})
    return 1


def insert_order(conn: Conn, **values: Any) -> None:
    """Store a new order (every column of ``paper_orders`` given by name)."""
    conn.execute(_INSERT_ORDER, values)


def insert_fill(conn: Conn, **values: Any) -> None:
    """Store a new fill (every column of ``paper_fills`` given by name)."""
    conn.execute(_INSERT_FILL, values)


def format_id(name: str, seq: int) -> str:
    return ID_FORMATS[name].format(seq)


def to_text(ts: datetime) -> str:
    return ts.isoformat()


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRow:
    """One stored order (the exchange's full view, more than an :class:`OrderReport`)."""

    seq: int
    broker_order_id: str
    client_key: str
    symbol: str
    exchange: str
    side: Side
    order_type: OrderType
    qty: int
    filled_qty: int
    filled_notional: float
    limit_price: float | None
    trigger_price: float | None
    triggered: bool
    wait_bars: int
    state: OrderState
    reason: str
    updated_ts: str
    after_trade: str | None = None
    oco_group: str | None = None
    market_protection_pct: float | None = None
    algo_id: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> OrderRow:
        """From a stored row (SQLAlchemy's or :class:`~live.adapters.paper.sqlite_tx.RawRow`)."""
        m = dict(row._mapping)
        m["side"], m["order_type"] = Side(m["side"]), OrderType(m["order_type"])
        m["state"], m["triggered"] = OrderState(m["state"]), bool(m["triggered"])
        return cls(**m)

    def working(self) -> WorkingOrder:
        return WorkingOrder(side=self.side, order_type=self.order_type, qty=self.qty,
                            filled_qty=self.filled_qty, limit_price=self.limit_price,
                            trigger_price=self.trigger_price, triggered=self.triggered)

    def report(self) -> OrderReport:
        avg = self.filled_notional / self.filled_qty if self.filled_qty else 0.0
        return OrderReport(
            broker_order_id=self.broker_order_id, client_key=self.client_key,
            symbol=self.symbol, side=self.side, qty=self.qty, filled_qty=self.filled_qty,
            avg_fill_price=avg, state=self.state, order_type=self.order_type,
            limit_price=self.limit_price, ts=from_text(self.updated_ts), reason=self.reason,
            algo_id=self.algo_id)


_ORDER_BY_ID = prebuilt(sa.select(orders).where(orders.c.broker_order_id == sa.bindparam("o_id")))
_ORDER_BY_KEY = prebuilt(sa.select(orders).where(orders.c.client_key == sa.bindparam("o_key")))
_ORDER_BY_BOTH = prebuilt(_ORDER_BY_ID.where(orders.c.client_key == sa.bindparam("o_key")))


def find_order(conn: Conn, *, broker_order_id: str | None = None,
               client_key: str | None = None) -> OrderRow | None:
    if broker_order_id is not None:
        query = _ORDER_BY_ID if client_key is None else _ORDER_BY_BOTH
    elif client_key is not None:
        query = _ORDER_BY_KEY
    else:
        query = sa.select(orders)
    row = conn.execute(query, {"o_id": broker_order_id, "o_key": client_key}).first()
    return None if row is None else OrderRow.from_row(row)


_SYMBOL_ORDERS_IN_STATE = prebuilt(sa.select(orders).where(
    orders.c.symbol == sa.bindparam("o_symbol"), orders.c.state == sa.bindparam("o_state")
).order_by(orders.c.seq))


_ALL_ORDERS = prebuilt(sa.select(orders).order_by(orders.c.seq))


def all_orders(conn: Conn, *, symbol: str | None = None,
               state: OrderState | None = None) -> list[OrderRow]:
    if symbol is not None and state is not None:  # every bar's question: built once
        return [OrderRow.from_row(r) for r in conn.execute(
            _SYMBOL_ORDERS_IN_STATE, {"o_symbol": symbol, "o_state": state.value})]
    if symbol is None and state is None:
        return [OrderRow.from_row(r) for r in conn.execute(_ALL_ORDERS)]
    query = sa.select(orders).order_by(orders.c.seq)
    if symbol is not None:
        query = query.where(orders.c.symbol == symbol)
    if state is not None:
        query = query.where(orders.c.state == state.value)
    return [OrderRow.from_row(r) for r in conn.execute(query)]


def _order_update(names: tuple[str, ...]) -> sa.Update:
    return orders.update().where(orders.c.broker_order_id == sa.bindparam("u_id")).values(
        {name: sa.bindparam(name) for name in names})


# by the columns set: the exchange's own sets built (and compiled) ahead, any other on first use
_MODIFIED = (("trigger_price",), ("limit_price",), ("limit_price", "trigger_price"), ("qty",),
             ("limit_price", "qty"), ("qty", "trigger_price"),
             ("limit_price", "qty", "trigger_price"))  # PaperExchange.modify's changes
_UPDATES: dict[tuple[str, ...], sa.Update] = {names: prebuilt(_order_update(names)) for names in (
    ("filled_notional", "filled_qty", "state", "updated_ts"), ("wait_bars",),
    ("triggered", "updated_ts"), ("state", "updated_ts"), ("reason", "state", "updated_ts"),
    *(tuple(sorted((*changed, "updated_ts"))) for changed in _MODIFIED))}


def update_order(conn: Conn, broker_order_id: str, **values: Any) -> None:
    names = tuple(sorted(values))
    statement = _UPDATES.get(names)
    if statement is None:
        statement = _order_update(names)
        _UPDATES[names] = statement
    conn.execute(statement, {"u_id": broker_order_id, **values})


# The per-bar statements, built once (bound parameters): a statement built per call costs
# more in SQLAlchemy's construction and cache-key work than SQLite takes to run it.
_BAR_COLUMNS = ("ts", "ts_epoch_us", "open", "high", "low", "close")
_LAST_BAR = prebuilt(sa.select(bars).where(bars.c.symbol == sa.bindparam("b_symbol")))
_UPDATE_BAR = prebuilt(bars.update().where(bars.c.symbol == sa.bindparam("b_symbol")).values(
    {name: sa.bindparam(name) for name in _BAR_COLUMNS}))
_INSERT_BAR = prebuilt(bars.insert().values(
    {name: sa.bindparam(name) for name in ("symbol", *_BAR_COLUMNS)}))


def last_bar(conn: Conn, symbol: str) -> Bar | None:
    row = conn.execute(_LAST_BAR, {"b_symbol": symbol}).first()
    if row is None:
        return None
    return Bar(from_text(row.ts), row.open, row.high, row.low, row.close)


def save_bar(conn: Conn, symbol: str, bar: Bar) -> None:
    values = {"ts": to_text(bar.ts), "ts_epoch_us": round(bar.ts.timestamp() * 1e6),
              "open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close}
    if conn.execute(_UPDATE_BAR, {"b_symbol": symbol, **values}).rowcount:
        return
    conn.execute(_INSERT_BAR, {"symbol": symbol, **values})


_MARKET_TIME = prebuilt(sa.select(bars.c.ts).order_by(bars.c.ts_epoch_us.desc()).limit(1))


def market_time(conn: Conn) -> str:
    """The exchange's clock: the latest bar timestamp seen on any symbol (epoch before)."""
    row = conn.execute(_MARKET_TIME).first()
    return to_text(EPOCH) if row is None else row[0]


def append_event(conn: Conn, kind: str, broker_order_id: str, ts: str,
                 detail: str) -> None:
    seq = next_seq(conn, "event")
    conn.execute(_INSERT_EVENT, {"seq": seq, "kind": kind, "broker_order_id": broker_order_id,
                                 "ts": ts, "detail": detail})


def record_attempt(conn: Conn, client_key: str, outcome: str,
                   broker_order_id: str | None) -> None:
    conn.execute(_INSERT_ATTEMPT, {"client_key": client_key, "outcome": outcome,
                                   "broker_order_id": broker_order_id})


_OCO_MEMBERS = prebuilt(sa.select(orders).where(
    orders.c.symbol == sa.bindparam("o_symbol"), orders.c.oco_group == sa.bindparam("o_group")
).order_by(orders.c.seq))
_FILL_BY_ID = prebuilt(sa.select(fills).where(fills.c.trade_id == sa.bindparam("f_id")))


def oco_members(conn: Conn, symbol: str, oco_group: str) -> list[OrderRow]:
    """The orders of one one-cancels-other group of ``symbol``, oldest first."""
    return [OrderRow.from_row(r) for r in conn.execute(
        _OCO_MEMBERS, {"o_symbol": symbol, "o_group": oco_group})]


def find_fill(conn: Conn, trade_id: str) -> Any:
    """The stored fill (one row, whatever its ``copies``) with ``trade_id``; None if unknown."""
    return conn.execute(_FILL_BY_ID, {"f_id": trade_id}).first()
