"""The governance audit trail: an append-only, hash-chained table of who did what, and when.

Every promotion request, approval, rejection, refusal, rollback, config change, key creation
and deployment check is one row of ``audit_log``. Row ``seq`` stores
:func:`live.hashchain.entry_hash` over the previous row's hash, its ``seq`` and its body
``{"ts", "kind", "actor", "strategy", "subject", "detail"}``, so :meth:`AuditLog.verify`
names the first row that was edited, deleted, inserted or reordered.

Append-only by API: there is no update or delete method. On SQLite the table is created with
triggers that abort any UPDATE or DELETE. On PostgreSQL a desk should also run the
application under a role that may only read and insert::

    REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM stratops_app;
    GRANT SELECT, INSERT ON audit_log TO stratops_app;

A chain alone cannot show that its newest rows were removed (what is left still links), nor
that someone who can write the table re-chained it from an edit on: governance commands
write a checkpoint signed by the acting user after each action (:mod:`live.checkpoints`,
kept outside the database), and ``stratops audit verify --against FILE`` checks the log
against them. ``verify(anchor=...)`` still takes an unsigned head for a quick check.

Writers are serialised so the log never forks: SQLite transactions begin with
``BEGIN IMMEDIATE`` (engines from :func:`live.db.make_engine`), PostgreSQL ones take a
transaction-scoped advisory lock before reading the head, which needs the default READ
COMMITTED isolation so the head read after the lock sees the last commit.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from live.canonical import CanonicalJsonError, canonical_json
from live.db import is_postgres
from live.hashchain import GENESIS, ChainEntry, ChainVerdict, entry_hash, verify_chain
from strategies.errors import BadInputError

AUDIT_KINDS: tuple[str, ...] = (
    "promotion_requested", "promotion_approved", "promotion_rejected", "refused", "rollback",
    "config_requested", "config_approved", "config_rejected", "keys_created",
    "deployment_verified", "deployment_refused",
)
ADVISORY_LOCK_KEY = 0x5354_5241_4155_4449  # "STRAAUDI": one lock id for every audit writer
_KIND_PATTERN = re.compile(r"[a-z_]{1,40}")
_APPEND_ATTEMPTS = 5
_COLUMN_FIELDS = ("ts", "kind", "actor", "strategy", "subject")
_BODY_KEYS = frozenset((*_COLUMN_FIELDS, "detail"))


class AuditError(BadInputError):
    """Base of the audit trail's errors."""


class AuditKindError(AuditError, ValueError):
    """A record kind that is not 1-40 lowercase letters or underscores."""


class AuditTimestampError(AuditError, ValueError):
    """A naive (timezone-less) timestamp."""


class AuditFieldError(AuditError, ValueError):
    """An empty actor, an empty strategy name or a non-string subject."""


class AuditDetailError(AuditError, ValueError):
    """A detail that is not a mapping with a canonical JSON form."""


class AuditConflictError(AuditError, RuntimeError):
    """Appends that kept colliding with concurrent writers."""


class AuditCorruptError(AuditError):
    """A stored row whose body cannot be read back (run ``verify`` to locate tampering)."""


metadata = sa.MetaData()
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("strategy", sa.Text, nullable=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_strategy", "strategy"),
    sa.Index("ix_audit_log_ts", "ts"),
)
for _op in ("UPDATE", "DELETE"):
    event.listen(audit_log, "after_create", sa.DDL(  # type: ignore[no-untyped-call]  # SQLAlchemy's DDL() is unannotated
        f"CREATE TRIGGER audit_log_no_{_op.lower()} BEFORE {_op} ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END").execute_if(dialect="sqlite"))


def audit_timestamp(ts: datetime) -> str:
    """The fixed-width ISO-8601 UTC text of ``ts`` (sorts as text in time order)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise AuditTimestampError(f"audit timestamp {ts!r} is naive; pass a timezone-aware one")
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row; ``ts`` is the exact chained text (ISO-8601 UTC, microseconds)."""

    seq: int
    ts: str
    kind: str
    actor: str
    strategy: str | None
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The chained body: what ``hash`` covers besides ``seq`` and ``prev_hash``."""
        return {"ts": self.ts, "kind": self.kind, "actor": self.actor,
                "strategy": self.strategy, "subject": self.subject, "detail": self.detail}

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able (one line of :meth:`AuditLog.export_jsonl`)."""
        return {"seq": self.seq, **self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


def _body(ts: datetime, kind: str, actor: str, strategy: str | None, subject: str,
          detail: Mapping[str, Any]) -> dict[str, Any]:
    """The validated chained body; ``detail`` round-trips through JSON as it will be read."""
    if not isinstance(kind, str) or not _KIND_PATTERN.fullmatch(kind):
        raise AuditKindError(f"audit kind {kind!r}: use 1-40 lowercase letters or underscores")
    if not isinstance(actor, str) or not actor.strip():
        raise AuditFieldError(f"audit actor {actor!r}: must be a non-empty string")
    if strategy is not None and (not isinstance(strategy, str) or not strategy.strip()):
        raise AuditFieldError(f"audit strategy {strategy!r}: must be None or a non-empty string")
    if not isinstance(subject, str):
        raise AuditFieldError(f"audit subject {subject!r}: must be a string")
    if not isinstance(detail, Mapping):
        raise AuditDetailError(f"audit detail {detail!r:.200}: must be a mapping")
    try:
        normalised = json.loads(canonical_json(dict(detail)))
    except (CanonicalJsonError, UnicodeEncodeError) as exc:
        raise AuditDetailError(f"audit detail {detail!r:.200} is not JSON-able: {exc}") from exc
    return {"ts": audit_timestamp(ts), "kind": kind, "actor": actor, "strategy": strategy,
            "subject": subject, "detail": normalised}


def _record(row: sa.Row[Any]) -> AuditRecord:
    try:
        detail = json.loads(row.body)["detail"]
    except (ValueError, TypeError, KeyError) as exc:
        raise AuditCorruptError(f"audit_log seq {row.seq}: unreadable body {row.body!r:.200}") \
            from exc
    return AuditRecord(seq=row.seq, ts=row.ts, kind=row.kind, actor=row.actor,
                       strategy=row.strategy, subject=row.subject, detail=detail,
                       prev_hash=row.prev_hash, hash=row.hash)


def _rebuilt_body(row: sa.Row[Any]) -> tuple[dict[str, Any] | None, str]:
    """The body from the columns plus the stored detail, or None and why the row is bad."""
    try:
        stored = json.loads(row.body)
    except ValueError:
        return None, "body is not valid JSON"
    if not isinstance(stored, dict) or not isinstance(stored.get("detail"), dict):
        return None, "body is not an object holding a detail object"
    body = {field: getattr(row, field) for field in _COLUMN_FIELDS} | {"detail": stored["detail"]}
    for field in _COLUMN_FIELDS:
        if stored.get(field) != body[field]:
            return None, (f"body says {field}={stored.get(field)!r} but the {field} column "
                          f"holds {body[field]!r} (a column or the body was edited)")
    if set(stored) != _BODY_KEYS:
        return None, f"body keys {sorted(stored)} are not {sorted(_BODY_KEYS)}"
    try:
        canonical = canonical_json(body).decode("utf-8")
    except CanonicalJsonError:
        canonical = None
    if canonical != row.body:
        return None, "body text is not the canonical JSON of the record (it was edited)"
    return body, ""


class _ChainScan:
    """Rows to chain entries; stops at the first row whose columns and body disagree."""

    def __init__(self, rows: Iterator[sa.Row[Any]], anchor_seq: int | None) -> None:
        self.rows = rows
        self.anchor_seq = anchor_seq
        self.anchor_hash = GENESIS if anchor_seq == 0 else None
        self.bad: tuple[int, str] | None = None

    def entries(self) -> Iterator[ChainEntry]:
        for row in self.rows:
            body, why = _rebuilt_body(row)
            if body is None:
                self.bad = (row.seq, why)
                return
            if row.seq == self.anchor_seq:
                self.anchor_hash = row.hash
            yield ChainEntry(seq=row.seq, body=body, prev_hash=row.prev_hash, hash=row.hash)


def _check_anchor(verdict: ChainVerdict, scan: _ChainScan,
                  anchor: tuple[int, str]) -> ChainVerdict:
    anchor_seq, anchor_hash = anchor
    if verdict.entries < anchor_seq:
        return ChainVerdict(False, verdict.entries, anchor_seq,
                            f"log ends at seq {verdict.entries} but the anchor names seq "
                            f"{anchor_seq} (rows at the tail were removed)")
    if scan.anchor_hash != anchor_hash:
        return ChainVerdict(False, verdict.entries, anchor_seq,
                            f"hash at seq {anchor_seq} is {scan.anchor_hash}, the anchor says "
                            f"{anchor_hash} (the log was rewritten)")
    return verdict


class AuditLog:
    """The audit trail in one SQL store (an engine from :func:`live.db.make_engine`)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._schema_ready = False

    def append(self, *, ts: datetime, kind: str, actor: str, strategy: str | None = None,
               subject: str = "", detail: Mapping[str, Any]) -> AuditRecord:
        """Append one record in its own transaction; retried if a concurrent writer collides.

        Raises
        ------
        AuditKindError, AuditTimestampError, AuditFieldError, AuditDetailError
            For an invalid field, before anything is written.
        AuditConflictError
            If every attempt collided with another writer.
        """
        body = _body(ts, kind, actor, strategy, subject, detail)
        collision: sa.exc.IntegrityError | None = None
        for _attempt in range(_APPEND_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    record = self._insert(conn, body)
            except sa.exc.IntegrityError as exc:
                collision = exc
                continue
            self._schema_ready = True
            return record
        raise AuditConflictError(f"audit append of {kind!r} by {actor!r} collided "
                                 f"{_APPEND_ATTEMPTS} times: {collision}")

    def append_in(self, conn: sa.Connection, *, ts: datetime, kind: str, actor: str,
                  strategy: str | None = None, subject: str = "",
                  detail: Mapping[str, Any]) -> AuditRecord:
        """Append one record inside the caller's transaction on ``conn``.

        The caller's own writes and the record commit or roll back together. On PostgreSQL
        the audit lock is held until that transaction ends, so keep it short.
        """
        return self._insert(conn, _body(ts, kind, actor, strategy, subject, detail))

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest record, ``(0, GENESIS)`` for an empty log."""
        with self.engine.begin() as conn:
            self._ensure_schema(conn)
            found = self._head(conn)
        self._schema_ready = True
        return found

    def hashes(self, from_seq: int, to_seq: int) -> Iterator[tuple[int, str]]:
        """``(seq, hash)`` of the stored records ``from_seq..to_seq``, in order."""
        query = (sa.select(audit_log.c.seq, audit_log.c.hash)
                 .where(audit_log.c.seq >= from_seq, audit_log.c.seq <= to_seq)
                 .order_by(audit_log.c.seq))
        with self.engine.begin() as conn:
            self._ensure_schema(conn)
            found = [(row.seq, row.hash) for row in conn.execute(query)]
        self._schema_ready = True
        yield from found

    def records(self, *, strategy: str | None = None, actor: str | None = None,
                kind: str | None = None, since: datetime | None = None,
                until: datetime | None = None, subject: str | None = None
                ) -> list[AuditRecord]:
        """Records matching every given filter, by ``seq``; ``since`` <= ts < ``until``."""
        conditions: list[sa.ColumnElement[bool]] = []
        for column, wanted in ((audit_log.c.strategy, strategy), (audit_log.c.actor, actor),
                               (audit_log.c.kind, kind), (audit_log.c.subject, subject)):
            if wanted is not None:
                conditions.append(column == wanted)
        if since is not None:
            conditions.append(audit_log.c.ts >= audit_timestamp(since))
        if until is not None:
            conditions.append(audit_log.c.ts < audit_timestamp(until))
        query = sa.select(audit_log).where(*conditions).order_by(audit_log.c.seq)
        with self.engine.begin() as conn:
            self._ensure_schema(conn)
            found = [_record(row) for row in conn.execute(query)]
        self._schema_ready = True
        return found

    def verify(self, *, anchor: tuple[int, str] | None = None) -> ChainVerdict:
        """Walk the log in ``seq`` order and name the first record that does not fit.

        Each body is rebuilt from the ts/kind/actor/strategy/subject columns plus the stored
        detail, so editing any column, the body, a hash, or removing or reordering rows is
        caught. ``anchor`` (an earlier :meth:`head`) also catches a truncated tail.
        """
        query = sa.select(audit_log).order_by(audit_log.c.seq)
        with self.engine.begin() as conn:
            self._ensure_schema(conn)
            rows = conn.execution_options(yield_per=500).execute(query)
            scan = _ChainScan(iter(rows), None if anchor is None else anchor[0])
            verdict = verify_chain(scan.entries())
            rows.close()
        self._schema_ready = True
        if not verdict.ok:
            return verdict
        if scan.bad is not None:
            return ChainVerdict(False, verdict.entries, scan.bad[0], scan.bad[1])
        return verdict if anchor is None else _check_anchor(verdict, scan, anchor)

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write every record as one canonical JSON line to ``path`` atomically; the count."""
        target = Path(path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
        count = 0
        try:
            with os.fdopen(fd, "wb") as out, self.engine.begin() as conn:
                self._ensure_schema(conn)
                query = sa.select(audit_log).order_by(audit_log.c.seq)
                for row in conn.execution_options(yield_per=500).execute(query):
                    out.write(canonical_json(_record(row).to_dict()) + b"\n")
                    count += 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return count

    def _insert(self, conn: sa.Connection, body: dict[str, Any]) -> AuditRecord:
        if is_postgres(self.engine):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
        self._ensure_schema(conn)
        head_seq, head_hash = self._head(conn)
        seq = head_seq + 1
        digest = entry_hash(head_hash, seq, body)
        conn.execute(audit_log.insert().values(
            seq=seq, ts=body["ts"], kind=body["kind"], actor=body["actor"],
            strategy=body["strategy"], subject=body["subject"],
            body=canonical_json(body).decode("utf-8"), prev_hash=head_hash, hash=digest))
        return AuditRecord(seq=seq, ts=body["ts"], kind=body["kind"], actor=body["actor"],
                           strategy=body["strategy"], subject=body["subject"],
                           detail=body["detail"], prev_hash=head_hash, hash=digest)

    def _ensure_schema(self, conn: sa.Connection) -> None:
        """Create the table (and SQLite triggers) on first use, inside ``conn``'s transaction."""
        if self._schema_ready:
            return
        if is_postgres(self.engine):  # two first users must not both try to create it
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
        metadata.create_all(conn, tables=[audit_log])

    @staticmethod
    def _head(conn: sa.Connection) -> tuple[int, str]:
        row = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash)
                           .order_by(audit_log.c.seq.desc()).limit(1)).first()
        return (0, GENESIS) if row is None else (row.seq, row.hash)
