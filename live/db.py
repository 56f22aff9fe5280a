"""SQL engines for the governance and live stores: SQLite by default, PostgreSQL by URL.

SQLite files get WAL mode, ``synchronous=FULL`` (a committed transaction survives power
loss) and a busy timeout; writers take the lock up front (``BEGIN IMMEDIATE``) so two
processes never interleave a read-then-append. ``postgresql://`` URLs use psycopg2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event


class StoreUrlError(ValueError):
    """A store URL that is neither ``sqlite:///path`` nor ``postgresql://...``."""


def normalise_url(url: str, root: Path | None = None) -> str:
    """Resolve relative SQLite paths against ``root``; pin PostgreSQL to psycopg2."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.is_absolute() and root is not None:
            path = root / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    if url.startswith("postgresql+psycopg2://"):
        return url
    raise StoreUrlError(f"store url {url!r}: use sqlite:///<path> or postgresql://...")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, root: Path | None = None) -> sa.Engine:
    """An engine for ``url`` with the durability settings above."""
    resolved = normalise_url(url, root)
    engine = sa.create_engine(resolved, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"
