"""The paper exchange's transactions on SQLite without SQLAlchemy's per-statement cost.

A :class:`RawTx` runs the store's SQLAlchemy Core statements on the engine's own DBAPI
(``sqlite3``) connection, kept checked out like the journal's writer: each statement is
compiled once for SQLite and then executed as a prepared ``sqlite3`` statement, so a submit's
twenty-odd statements cost SQLite's time, not SQLAlchemy's construction, cache-key and
result-processing time. The transaction is the same one the engine opens (``BEGIN
IMMEDIATE``, the engine's pragmas, ``COMMIT`` on success, ``ROLLBACK`` on any exception), so
what is stored, when it is durable and what two processes see is unchanged. PostgreSQL keeps
the SQLAlchemy connection (:func:`transaction`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from live.db import immediate

_DIALECT = sqlite_dialect.dialect(paramstyle="qmark")
_CACHE_MAX = 512  # statements built per call (rare paths) are compiled, kept, then dropped


class RawRow(tuple[Any, ...]):
    """A result row: by index, by column name as an attribute, and as ``_mapping``."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[type(self)._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(type(self)._fields, self, strict=True))


_ROW_TYPES: dict[tuple[str, ...], type[RawRow]] = {}


def _row_type(names: tuple[str, ...]) -> type[RawRow]:
    found = _ROW_TYPES.get(names)
    if found is None:
        found = type("RawRow", (RawRow,), {"__slots__": (), "_fields": names})
        _ROW_TYPES[names] = found
    return found


class RawResult:
    """The rows (or the row count) of one statement, shaped like SQLAlchemy's result."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.rowcount = cursor.rowcount
        if cursor.description is None:
            self._rows: list[RawRow] = []
            return
        kind = _row_type(tuple(d[0] for d in cursor.description))
        self._rows = [kind(r) for r in cursor.fetchall()]

    def __iter__(self) -> Iterator[RawRow]:
        return iter(self._rows)

    def first(self) -> RawRow | None:
        return self._rows[0] if self._rows else None

    def one(self) -> RawRow:
        if len(self._rows) != 1:
            raise sa.exc.NoResultFound(f"expected one row, got {len(self._rows)}")
        return self._rows[0]


_Compiled = tuple[Any, str, tuple[str, ...], dict[str, Any]]
_S = TypeVar("_S")
_PREBUILT: list[Any] = []  # the stores' statements built once at import
_COMPILED: dict[int, _Compiled] = {}  # ... and compiled once per process (by id: kept alive)


def prebuilt(statement: _S) -> _S:
    """Register ``statement`` (a module-level constant, bound parameters) to be compiled for
    SQLite when a :class:`RawWriter` is made, not at its first execution: the compiler costs
    ~0.4 ms a statement, which an exchange's first order (and first fill) would otherwise
    pay on the bar's path. Returns ``statement``."""
    _PREBUILT.append(statement)
    return statement


def _compile(statement: Any) -> _Compiled:
    compiled = statement.compile(dialect=_DIALECT)
    return (statement, compiled.string, tuple(compiled.positiontup or ()),
            dict(compiled.params))


def compile_prebuilt() -> int:
    """Compile every registered statement not compiled yet in this process; returns how
    many are compiled in all."""
    for statement in _PREBUILT:
        if id(statement) not in _COMPILED:
            _COMPILED[id(statement)] = _compile(statement)
    return len(_COMPILED)


class RawTx:
    """One open ``BEGIN IMMEDIATE`` transaction on a ``sqlite3`` connection; ``execute``
    takes the statements and parameters a :class:`sqlalchemy.Connection` takes."""

    def __init__(self, conn: sqlite3.Connection, cache: dict[int, _Compiled]) -> None:
        self._conn = conn
        self._cache = cache
        # values read in this transaction that only its own writes can change (no other
        # writer runs under BEGIN IMMEDIATE), kept by the store's functions: e.g. the faults
        self.memo: dict[str, Any] = {}

    def execute(self, statement: Any, parameters: Mapping[str, Any] | None = None
                ) -> RawResult:
        key = id(statement)
        found = _COMPILED.get(key) or self._cache.get(key)
        if found is None or found[0] is not statement:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            found = _compile(statement)
            self._cache[key] = found  # keeps the statement alive: its id is not reused
        _, sql, names, defaults = found
        values = defaults if parameters is None else {**defaults, **parameters}
        return RawResult(self._conn.execute(sql, [values[n] for n in names]))


class RawWriter:
    """The exchange's kept ``sqlite3`` connection and its compiled statements."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._raw: Any = None
        self._cache: dict[int, _Compiled] = {}  # the statements built per call
        self._lock = threading.Lock()
        compile_prebuilt()

    @contextlib.contextmanager
    def begin(self) -> Iterator[RawTx]:
        with self._lock:
            if self._raw is None:
                self._raw = self._engine.raw_connection()  # pooled: the pragmas are applied
            conn = self._raw.driver_connection
            assert isinstance(conn, sqlite3.Connection)
            with immediate(conn):
                yield RawTx(conn, self._cache)
