"""SQL engines for the governance and live stores: SQLite by default, PostgreSQL by URL.

SQLite files get WAL mode, ``synchronous=FULL`` by default (a committed transaction
survives power loss; ``synchronous="normal"``: WAL without an fsync per commit - a commit
survives the process being killed, the last ones may be lost on power loss or an OS crash)
and a busy timeout; writers take the lock up front (``BEGIN IMMEDIATE``) so two
processes never interleave a read-then-append. ``postgresql://`` URLs use psycopg2.

SQLite files are private: created 0600 (SQLite gives its ``-wal`` and ``-shm`` files the
database file's mode) in folders created 0700, and an existing file readable by group or
others is narrowed to 0600 when the engine is made.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from strategies.errors import BadInputError


class StoreUrlError(BadInputError, ValueError):
    """A store URL that is neither ``sqlite:///path`` nor ``postgresql://...``."""


class DurabilityModeError(BadInputError, ValueError):
    """A SQLite durability mode other than those in :data:`SYNCHRONOUS_MODES`."""


SYNCHRONOUS_MODES = ("full", "normal")  # SQLite's PRAGMA synchronous values we allow


def check_synchronous(mode: str, where: str = "synchronous") -> str:
    """``mode`` lower-cased when it is one of :data:`SYNCHRONOUS_MODES`; else
    :class:`DurabilityModeError` naming ``where`` and the value."""
    lowered = mode.lower() if isinstance(mode, str) else mode
    if lowered not in SYNCHRONOUS_MODES:
        raise DurabilityModeError(f"{where}={mode!r}: use one of {', '.join(SYNCHRONOUS_MODES)}"
                                  " (full: a commit survives power loss; normal: it survives "
                                  "the process being killed, not power loss)")
    return str(lowered)


class StoreUnavailableError(BadInputError, LookupError):
    """A store a reader needs that does not exist (a SQLite file never written) or cannot be
    reached (a PostgreSQL server down, a database never created, access refused)."""


def normalise_url(url: str, root: Path | None = None) -> str:
    """Resolve relative SQLite paths against ``root``; pin PostgreSQL to psycopg2."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.is_absolute() and root is not None:
            path = root / path
        private_dirs(path.parent)
        return f"sqlite:///{path}"
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    if url.startswith("postgresql+psycopg2://"):
        return url
    raise StoreUrlError(f"store url {url!r}: use sqlite:///<path> or postgresql://...")


def private_dirs(folder: Path) -> bool:
    """Create ``folder`` and its missing parents as 0700 (existing folders are left alone);
    True when ``folder`` was created."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700, exist_ok=True)
        created.chmod(0o700)  # mkdir's mode is filtered by the umask
    return bool(missing)


def private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 if missing; narrow it (and its ``-wal``/``-shm``) to
    0600 if group or others may access it."""
    if path.name == ":memory:" or not path.name:
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            candidate.chmod(mode & 0o700 or 0o600)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, synchronous: str = "full") -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on a raw ``sqlite3`` connection of an engine made here (its
    pragmas applied, autocommit): ``BEGIN IMMEDIATE`` (the write lock up front), committed
    when the block ends, rolled back when it raises (the error goes on)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def redacted(url: str) -> str:
    """``url`` with any password masked, fit for an error message."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: nothing to hide that it could find
        return url


def make_engine(url: str, root: Path | None = None, *, create: bool = True,
                what: str = "store", hint: str = "", synchronous: str = "full") -> sa.Engine:
    """An engine for ``url`` with the durability settings above (``synchronous``: SQLite's
    commit durability, ``full`` or ``normal``; ignored by PostgreSQL, whose commits are
    durable).

    ``create=False`` is for readers: a missing SQLite file is not created, and a PostgreSQL
    server that cannot be reached (or a database never created) is reported now; both raise
    :class:`StoreUnavailableError` naming ``what``, the URL and ``hint``."""
    if not create and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        path = path if path.is_absolute() or root is None else root / path
        if not path.is_file():
            raise StoreUnavailableError(f"no {what} at {path}{hint and f': {hint}'}")
    mode = check_synchronous(synchronous)
    resolved = normalise_url(url, root)
    # pre-ping finds a server connection dropped while pooled; a SQLite connection is an
    # open file, never dropped, and the ping was a SELECT 1 before every checkout
    engine = sa.create_engine(resolved, future=True,
                              pool_pre_ping=not resolved.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        private_sqlite_file(Path(resolved[len("sqlite:///"):]))
        event.listen(engine, "connect",
                     functools.partial(_sqlite_pragmas, synchronous=mode))
        event.listen(engine, "begin", _sqlite_begin)
    elif not create:
        try:
            with engine.connect():
                pass
        except sa.exc.OperationalError as exc:
            first = str(exc.orig or exc).strip().splitlines()[0]
            raise StoreUnavailableError(
                f"{what} {redacted(url)} is unreachable ({first}){hint and f': {hint}'}"
            ) from None
    return engine


_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def create_postgres_database(url: str) -> bool:
    """Create the database ``url`` names on its server (connecting to the server's
    ``postgres`` database, as ``createdb`` does); False when it already exists. A name outside
    ``[A-Za-z_][A-Za-z0-9_]*`` is refused (:class:`StoreUrlError`)."""
    target = sa.make_url(normalise_url(url))
    name = target.database or ""
    if not _DB_NAME.fullmatch(name):
        raise StoreUrlError(f"store url {redacted(url)}: database name {name!r} is not "
                            "[A-Za-z_][A-Za-z0-9_]* (up to 63 characters)")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).first():
                return False
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            return True
    except sa.exc.OperationalError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise StoreUnavailableError(f"PostgreSQL server of {redacted(url)} is unreachable "
                                    f"({first})") from None
    finally:
        admin.dispose()


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


def fsync_dir(folder: Path) -> None:
    """fsync a directory, so a file created or renamed in it survives power loss."""
    import os

    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
