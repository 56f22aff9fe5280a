"""The live journal: an append-only, hash-chained table of every message, in order.

Live state is :func:`live.state.replay` of this table, so the rule is strict: a message is
acted on (an order sent, a position believed) only after :meth:`Journal.append` (or
:meth:`Journal.append_many`) has *returned*, i.e. after the commit is durable (SQLite WAL
with ``synchronous=FULL``; PostgreSQL commit). Group commit (:meth:`Journal.append_many`)
amortises the fsync over a batch: nothing in the batch is acknowledged before the one commit.

Deferred appends (``append_many(..., defer=True)``, :meth:`Journal.flush`) go further: rows
that nothing outside the process acts on yet (a bar, a signal, its governance and risk
answers) are chained in memory and committed with the next durable append (an order's
intent) or the next :meth:`Journal.flush` (the runner's end of bar, and before every broker
call), so a bar that sends an order pays one fsync before the broker, not one per event. A
crash loses only pending rows, which nothing external has seen: the restarted runner
re-processes their bar. Readers (:meth:`head`, :meth:`read`) see committed rows only;
``listeners`` hear each commit's messages in order (the bus mirror publishes only those).

A failed write raises :class:`JournalWriteError` and leaves the :class:`Journal` unusable:
whether the failed commit reached the disk is unknown, so the runner must crash and recover
by replaying the journal (crash-only design). It must never skip the message and carry on.

One writer process is assumed. A second one is detected (the head moved under us, or a
sequence number is taken) and also raises :class:`JournalWriteError`. Rows chain by hash
(:mod:`live.hashchain`); :meth:`Journal.verify` names the first row that was edited,
removed, reordered or cannot be decoded. On SQLite, triggers refuse UPDATE and DELETE.
Truncating the tail, or re-chaining rows from an edit on, is only visible against signed
checkpoints kept outside the database (:mod:`live.checkpoints`): a journal given a
:class:`~live.checkpoints.Checkpointer` writes one every N entries and on :meth:`Journal.seal`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from live.canonical import CanonicalJsonError, canonical_json, sha256_hex
from live.db import fsync_dir, immediate, make_engine
from live.events import EventDecodeError, Message, from_record, from_record_trusted, to_record
from live.hashchain import GENESIS, ChainEntry, ChainVerdict, verify_chain
from strategies.errors import StratopsError

if TYPE_CHECKING:
    from live.checkpoint_writer import Checkpointer
    from live.checkpoints import Checkpoint

READ_BATCH_ROWS = 10_000
SCHEMA_LOCK_KEY = 0x5374726F7073  # PostgreSQL advisory lock held while DDL runs

_META = sa.MetaData()
JOURNAL = sa.Table(
    "journal", _META,
    # INTEGER on SQLite makes seq the rowid (the table's own B-tree key).
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("ts_event", sa.Text, nullable=False),
    sa.Column("ts_record", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("trace_id", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
)
sa.Index("ix_journal_trace_id", JOURNAL.c.trace_id)
# After a retention purge (live.compliance.retention): the last purged entry's seq and hash,
# which the first retained entry chains to. One row at most; none before any purge.
JOURNAL_ANCHOR = sa.Table(
    "journal_anchor", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("purged_at", sa.Text, nullable=False),
    sa.Column("archive", sa.Text, nullable=False),
)

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal "
    "BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal "
    "BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END",
)
_POSTGRES_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'journal is append-only'; END $$",
    "CREATE OR REPLACE TRIGGER journal_no_change BEFORE UPDATE OR DELETE ON journal "
    "FOR EACH ROW EXECUTE FUNCTION journal_append_only()",
    "CREATE OR REPLACE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal "
    "FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only()",
)


class JournalWriteError(StratopsError, RuntimeError):
    """An append did not (provably) happen; the journal object is unusable from now on."""


class JournalInputError(StratopsError, ValueError):
    """An append refused before touching the store (naive ``ts_record``, no clock)."""


class JournalCorruptError(StratopsError, RuntimeError):
    """A stored row that cannot be read back; ``seq`` names it."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"journal seq {seq}: {reason}")
        self.seq = seq
        self.reason = reason


def hashed_body(record: Mapping[str, Any], ts_record: str) -> dict[str, Any]:
    """What a row's hash covers: the message record and its record time."""
    return {"record": record, "ts_record": ts_record}


def create_schema(engine: sa.Engine) -> None:
    """Create the journal table and its append-only triggers (idempotent; on PostgreSQL
    under an advisory lock, so two processes starting together do not race the DDL)."""
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        _META.create_all(engine)
    ddl = _SQLITE_TRIGGERS if sqlite else _POSTGRES_TRIGGERS
    with engine.begin() as conn:
        if not sqlite:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            _META.create_all(conn)
        for statement in ddl:
            conn.exec_driver_sql(statement)


class Journal:
    """Append-only, hash-chained message log on a SQLAlchemy engine (one writer process).

    Parameters
    ----------
    engine
        From :func:`live.db.make_engine`; the schema must exist (see :func:`open_journal`).
    clock
        Record-time source used when ``append`` gets no ``ts_record`` (the runner's clock).
    checkpoints
        Signs the head every N entries and at :meth:`seal`; resumed (checked against its
        file) before it is given here. None: no checkpoints (shadow/canary without a key).
    """

    def __init__(self, engine: sa.Engine, *,
                 clock: Callable[[], datetime] | None = None,
                 checkpoints: Checkpointer | None = None) -> None:
        self.engine = engine
        self._clock = clock
        self.checkpoints = checkpoints
        self._head: tuple[int, str] | None = None  # last committed seq/hash of this writer
        self._pending: list[dict[str, Any]] = []  # deferred rows (chained, not committed)
        self._pending_messages: list[Message] = []
        # told each commit's messages, in order, once the commit has returned
        self.listeners: list[Callable[[Sequence[Message]], None]] = []
        self.commits = 0  # transactions committed by this writer (its fsyncs under FULL)
        self._broken: str | None = None
        self._writer: Any = None  # SQLite: the pooled DBAPI connection appends go through
        # a hot standby's fence (live.lease.LeaderLease.check_in): run in every append's
        # transaction before the insert; it raises to refuse the append (PostgreSQL only)
        self.fence: Callable[[sa.Connection], None] | None = None

    # --- writing ------------------------------------------------------------------------

    def append(self, message: Message, *, ts_record: datetime | None = None) -> int:
        """Append one message durably; returns its seq once the commit has returned."""
        return self.append_many([message], ts_record=ts_record)[0]

    def append_many(self, messages: Iterable[Message], *,
                    ts_record: datetime | None = None, defer: bool = False) -> list[int]:
        """Append a batch in one transaction (group commit): all rows or none; the rows
        deferred before it (see the module) are committed first, in the same transaction.
        ``defer``: chain the batch and keep it pending instead (its seqs are returned, but
        it is durable only once a later append or :meth:`flush` has returned).

        Raises
        ------
        EventEncodeError
            A message has no exact record form; nothing was written, the journal stays usable.
        JournalWriteError
            The store failed or another writer was detected; the journal is now unusable.
        """
        if self._broken is not None:
            raise JournalWriteError(f"journal unusable since an earlier failure: {self._broken}")
        stamp = self._stamp(ts_record)
        batch = list(messages)
        records = [to_record(m) for m in batch]
        if not records:
            if not defer:
                self._commit_pending()
            return []
        if self._head is None:
            self._head = self.head()
        tail = self._head if not self._pending else (self._pending[-1]["seq"],
                                                     self._pending[-1]["hash"])
        rows = _chain_rows(tail, records, stamp)
        self._pending.extend(rows)
        self._pending_messages.extend(batch)
        if not defer:
            self._commit_pending()
        return [row["seq"] for row in rows]

    @property
    def pending(self) -> int:
        """Deferred rows not committed yet."""
        return len(self._pending)

    def flush(self) -> None:
        """Commit the deferred rows (nothing to do when there are none)."""
        if self._broken is not None:
            raise JournalWriteError(f"journal unusable since an earlier failure: {self._broken}")
        self._commit_pending()

    def _commit_pending(self) -> list[int]:
        rows, messages = self._pending, self._pending_messages
        if not rows:
            return []
        self._pending, self._pending_messages = [], []
        try:
            if self.engine.dialect.name == "sqlite":
                if self.fence is not None:
                    raise JournalWriteError("a fenced journal needs PostgreSQL, not SQLite")
                self._append_sqlite(rows)
            else:
                with self.engine.begin() as conn:
                    if self.fence is not None:
                        self.fence(conn)
                    self._check_head(conn)
                    conn.execute(JOURNAL.insert(), rows)
        except (sa.exc.SQLAlchemyError, sqlite3.Error, JournalWriteError) as exc:
            self._broken = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, JournalWriteError):
                raise
            raise JournalWriteError(
                f"append of seq {rows[0]['seq']}..{rows[-1]['seq']} failed "
                f"(outcome unknown; crash and replay): {exc}") from exc
        self.commits += 1
        self._head = (rows[-1]["seq"], rows[-1]["hash"])
        if self.checkpoints is not None:  # committed; a failed checkpoint write crashes us
            self.checkpoints.note([(row["seq"], row["hash"]) for row in rows])
        for listener in self.listeners:
            listener(messages)
        return [row["seq"] for row in rows]

    def seal(self) -> Checkpoint | None:
        """Commit any deferred rows and write a sealed checkpoint of the head (a session's
        end); None without checkpoints or after a failed write (the head is then unknown)."""
        if self._broken is not None:
            return None
        self._commit_pending()  # the session's last rows, deferred or not, are durable
        if self.checkpoints is None:
            return None
        return self.checkpoints.checkpoint(sealed=True)

    def _stamp(self, ts_record: datetime | None) -> str:
        if ts_record is None:
            if self._clock is None:
                raise JournalInputError("no ts_record given and the journal has no clock")
            ts_record = self._clock()
        if ts_record.tzinfo is None or ts_record.utcoffset() is None:
            raise JournalInputError(f"ts_record={ts_record!r} is naive (must be tz-aware)")
        return ts_record.isoformat()

    def _append_sqlite(self, rows: list[dict[str, Any]]) -> None:
        """The append on SQLite, on the DBAPI connection this writer keeps: the same
        transaction as through SQLAlchemy (``BEGIN IMMEDIATE``, the head checked, the rows
        inserted, ``COMMIT`` - durable under ``synchronous=FULL`` when it returns) without
        a pool checkout, its ping and statement compilation per append."""
        if self._writer is None:
            raw = self.engine.raw_connection()  # pooled: the engine's pragmas are applied
            self._writer = raw
        conn = self._writer.driver_connection
        assert isinstance(conn, sqlite3.Connection)
        with immediate(conn):
            found = conn.execute(_HEAD_SQL).fetchone()
            self._check_stored((0, GENESIS) if found is None else (found[0], found[1]))
            conn.executemany(_INSERT_SQL, [tuple(row[c] for c in _COLUMNS) for row in rows])

    def _check_head(self, conn: sa.Connection) -> None:
        self._check_stored(_head_in(conn))

    def _check_stored(self, stored: tuple[int, str]) -> None:
        if stored != self._head:
            raise JournalWriteError(
                f"another writer appended: head is seq {stored[0]}, this writer expected "
                f"seq {self._head[0] if self._head else None}")

    # --- reading ------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last row; ``(0, GENESIS)`` when empty (a purged journal
        with no row left: its anchor)."""
        with self.engine.connect() as conn:
            found = _head_in(conn)
        return self.anchor() if found[0] == 0 else found

    def anchor(self) -> tuple[int, str]:
        """``(seq, hash)`` the first stored entry chains to: ``(0, GENESIS)``, or after a
        retention purge the last purged entry's (kept in ``journal_anchor``)."""
        with self.engine.connect() as conn:
            return anchor_in(conn)

    def hashes(self, from_seq: int, to_seq: int) -> Iterator[tuple[int, str]]:
        """``(seq, hash)`` of the stored rows ``from_seq..to_seq``, in order (paged)."""
        for row in self._rows(from_seq, JOURNAL.c.seq, JOURNAL.c.hash):
            if row.seq > to_seq:
                return
            yield row.seq, row.hash

    def read(self, from_seq: int = 1, *, verified: bool = False
             ) -> Iterator[tuple[int, Message]]:
        """Stream ``(seq, message)`` in seq order, in batches (memory-flat). ``verified``:
        the caller has just run :meth:`verify`, so records decode without re-validation.

        Raises
        ------
        JournalCorruptError
            A row whose body does not decode (the seq is named).
        """
        if not verified:
            for row in self._rows(from_seq, JOURNAL.c.seq, JOURNAL.c.body):
                yield row.seq, _decode_body(row.seq, row.body)[1]
            return
        for row in self._rows(from_seq, JOURNAL.c.seq, JOURNAL.c.body):
            yield row.seq, from_record_trusted(json.loads(row.body))

    def read_checked(self, from_seq: int = 1, prev_hash: str = GENESIS
                     ) -> Iterator[tuple[int, Message]]:
        """The whole journal (or its tail from ``from_seq``, chained on ``prev_hash``: the
        hash of entry ``from_seq - 1``, e.g. a state snapshot's) in one pass that checks the
        chain as it streams: what a restart needs, instead of :meth:`verify` and then
        :meth:`read` (two full reads).

        Each row must pass every check of :meth:`verify`: it continues the sequence and the
        hash chain (the hash recomputed over the stored body bytes, :func:`raw_entry_hash`,
        which the writer hashed exactly), its body is canonical JSON that decodes with every
        field validated, and its columns match its body. (The chain is unkeyed: someone who
        can rewrite every hash defeats it and :meth:`verify` alike.)

        Raises
        ------
        JournalCorruptError
            At the first row that does not fit, naming its seq. What was yielded before it
            must be discarded by the caller (fail closed: the runner halts).

        ``after`` = ``(seq, hash)`` of a row already checked: the rows after it only (a
        standby following the journal as it grows).
        """
        anchor = self.anchor()
        if from_seq <= anchor[0]:  # purged by retention: the chain resumes at its anchor
            from_seq, prev_hash = anchor[0] + 1, anchor[1]
        expected, prev = from_seq, prev_hash
        for row in self._rows(from_seq, *JOURNAL.c):
            if row.seq != expected:
                why = "missing" if row.seq > expected else "out of order or duplicated"
                raise JournalCorruptError(row.seq, f"expected seq {expected} ({why})")
            if row.prev_hash != prev:
                raise JournalCorruptError(row.seq, "prev_hash does not match the previous "
                                                   "entry's hash")
            if raw_entry_hash(prev, row.seq, row.body, row.ts_record) != row.hash:
                raise JournalCorruptError(row.seq, "hash mismatch: the entry was edited")
            record, message = _decode_body(row.seq, row.body)  # every field validated
            _check_canonical(row, record)
            _check_columns(row, record)
            yield row.seq, message
            expected, prev = expected + 1, row.hash

    def verify(self) -> ChainVerdict:
        """Check every row: decodable body, columns matching it, consecutive seq, hash links."""
        checked = 0

        def entries() -> Iterator[ChainEntry]:
            nonlocal checked
            for row in self._rows(1, *JOURNAL.c):
                record = _checked_record(row)
                yield ChainEntry(row.seq, hashed_body(record, row.ts_record), row.prev_hash,
                                 row.hash)
                checked += 1

        anchor = self.anchor()
        try:
            return verify_chain(entries(), first_seq=anchor[0] + 1, first_prev=anchor[1])
        except JournalCorruptError as exc:
            return ChainVerdict(False, checked, exc.seq, exc.reason)

    def export_jsonl(self, path: Path | str) -> int:
        """Write every row as one canonical JSON line, atomically; returns the row count.

        Each line holds seq, ts_record, prev_hash, hash and the record, enough to re-check
        the chain offline with :func:`live.hashchain.entry_hash` and :func:`hashed_body`.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        count = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for row in self._rows(1, *JOURNAL.c):
                    record = _decode_body(row.seq, row.body)[0]
                    out.write(canonical_json({"seq": row.seq, "ts_record": row.ts_record,
                                              "prev_hash": row.prev_hash, "hash": row.hash,
                                              "record": record}) + b"\n")
                    count += 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        return count

    def _rows(self, from_seq: int, *columns: Any) -> Iterator[sa.Row[Any]]:
        # Keyset pages in short transactions: no long read lock, memory bounded by a page.
        next_seq = from_seq
        query = sa.select(*columns).order_by(JOURNAL.c.seq).limit(READ_BATCH_ROWS)
        while True:
            with self.engine.connect() as conn:
                page = conn.execute(query.where(JOURNAL.c.seq >= next_seq)).all()
            if not page:
                return
            yield from page
            next_seq = page[-1].seq + 1


def open_journal(url: str, root: Path | None = None, *,
                 clock: Callable[[], datetime] | None = None,
                 synchronous: str = "full") -> Journal:
    """A journal at ``url`` (``sqlite:///...`` or ``postgresql://...``), schema created;
    ``synchronous``: a SQLite journal's commit durability (:func:`live.db.make_engine`)."""
    engine = make_engine(url, root, synchronous=synchronous)
    create_schema(engine)
    return Journal(engine, clock=clock)


_COLUMNS = tuple(c.name for c in JOURNAL.c)
_INSERT_SQL = (f"INSERT INTO journal ({', '.join(_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in _COLUMNS)})")
_HEAD_SQL = "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1"


def anchor_in(conn: sa.Connection) -> tuple[int, str]:
    """The retained anchor (see :meth:`Journal.anchor`) read on ``conn``."""
    if not sa.inspect(conn).has_table(JOURNAL_ANCHOR.name):  # a journal made before it
        return 0, GENESIS
    row = conn.execute(sa.select(JOURNAL_ANCHOR.c.seq, JOURNAL_ANCHOR.c.hash)).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def _head_in(conn: sa.Connection) -> tuple[int, str]:
    row = conn.execute(sa.select(JOURNAL.c.seq, JOURNAL.c.hash)
                       .order_by(JOURNAL.c.seq.desc()).limit(1)).first()
    return (0, GENESIS) if row is None else (row.seq, row.hash)


def _chain_rows(head: tuple[int, str], records: list[dict[str, Any]],
                stamp: str) -> list[dict[str, Any]]:
    seq, prev = head
    rows = []
    for record in records:
        seq += 1
        body = canonical_json(record).decode("utf-8")
        # entry_hash(prev, seq, hashed_body(record, stamp)), from the body's canonical
        # bytes (encoded once, not twice: the same bytes, so the same hash)
        digest = raw_entry_hash(prev, seq, body, stamp)
        fields = record["fields"]
        rows.append({"seq": seq, "ts_event": fields["ts_event"], "ts_record": stamp,
                     "kind": record["kind"], "trace_id": fields["trace_id"],
                     "body": body, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


def _decode_body(seq: int, body: str) -> tuple[dict[str, Any], Message]:
    try:
        record = json.loads(body)
    except ValueError as exc:
        raise JournalCorruptError(seq, f"body is not valid JSON ({exc})") from None
    try:
        return record, from_record(record)
    except EventDecodeError as exc:
        raise JournalCorruptError(seq, f"body does not decode: {exc}") from None


def raw_entry_hash(prev_hash: str, seq: int, body: str, ts_record: str) -> str:
    """:func:`~live.hashchain.entry_hash` of a stored row from its body text as stored:
    the canonical JSON of ``hashed_body(record, ts_record)`` is ``{"record":`` + the body's
    canonical bytes + ``,"ts_record":`` + the JSON string + ``}`` (keys sorted), so no
    parse and re-encode is needed."""
    return sha256_hex(prev_hash.encode("ascii") + b"\n" + str(seq).encode("ascii") + b"\n"
                      + b'{"record":' + body.encode("utf-8") + b',"ts_record":'
                      + canonical_json(ts_record) + b"}")


def _check_columns(row: sa.Row[Any], record: dict[str, Any]) -> None:
    fields = record["fields"]
    for column, expected in (("kind", record["kind"]), ("trace_id", fields["trace_id"]),
                             ("ts_event", fields["ts_event"])):
        if getattr(row, column) != expected:
            raise JournalCorruptError(
                row.seq, f"column {column}={getattr(row, column)!r} does not match the body "
                         f"({expected!r})")


def _check_canonical(row: sa.Row[Any], record: dict[str, Any]) -> None:
    try:
        canonical = canonical_json(record).decode("utf-8")
    except CanonicalJsonError as exc:
        raise JournalCorruptError(row.seq, f"body has no canonical form: {exc}") from None
    if canonical != row.body:
        raise JournalCorruptError(row.seq, "body is not in canonical form (edited by hand)")


def _checked_record(row: sa.Row[Any]) -> dict[str, Any]:
    record = _decode_body(row.seq, row.body)[0]
    _check_canonical(row, record)
    _check_columns(row, record)
    return record



def journal_exists(url: str, root: Path | None = None) -> bool:
    """Whether a SQLite journal file exists at ``url`` (a server URL: assumed to exist).
    Readers check it first so that reading never creates an empty journal."""
    if not url.startswith("sqlite:///"):
        return True
    path = Path(url[len("sqlite:///"):])
    path = path if path.is_absolute() or root is None else root / path
    return path.is_file()
