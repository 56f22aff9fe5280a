"""The governance tables: maker/checker requests, used signature nonces, signed deployment
snapshots, the current deployment per (strategy, stage) and its history, approved config
versions. SQLite by default, PostgreSQL by URL (the same SQL).

State changes go through :func:`transaction`, in which the caller also appends the audit
record, so a decision and its audit entry commit together or not at all. A request moves
out of ``pending`` only by a conditional update (``WHERE state = 'pending'``): of two
concurrent approvals exactly one wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from live.canonical import canonical_json

METADATA = sa.MetaData()

REQUESTS = sa.Table(
    "gov_requests", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),  # promotion | config
    sa.Column("subject", sa.String(200), nullable=False),  # strategy or config kind
    sa.Column("payload", sa.Text, nullable=False),  # canonical JSON, signed by the maker
    sa.Column("maker", sa.String(64), nullable=False),
    sa.Column("maker_signature", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=True),  # config requests: the proposed file
    sa.Column("state", sa.String(20), nullable=False),  # pending | approved | rejected
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("decision", sa.Text, nullable=True),  # {"payload", "signature"} of the checker
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("decided_at", sa.String(40), nullable=True),
)
NONCES = sa.Table(
    "gov_nonces", METADATA,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("signer", sa.String(64), nullable=False),
    sa.Column("used_at", sa.String(40), nullable=False),
)
SNAPSHOTS = sa.Table(
    "gov_snapshots", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("strategy", sa.String(100), nullable=False),
    sa.Column("stage", sa.String(20), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # canonical JSON of the signed snapshot
    sa.Column("created_at", sa.String(40), nullable=False),
)
DEPLOYMENTS = sa.Table(
    "gov_deployments", METADATA,
    sa.Column("strategy", sa.String(100), primary_key=True),
    sa.Column("stage", sa.String(20), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot_id", sa.Integer, nullable=False),
)
HISTORY = sa.Table(
    "gov_deployment_history", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("strategy", sa.String(100), nullable=False),
    sa.Column("stage", sa.String(20), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # promote | rollback
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
)
CONFIGS = sa.Table(
    "gov_config_versions", METADATA,
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("request_id", sa.Integer, nullable=False),
    sa.Column("approved_by", sa.String(64), nullable=False),
    sa.Column("approved_at", sa.String(40), nullable=False),
)


def create_tables(engine: sa.Engine) -> None:
    METADATA.create_all(engine)


@contextmanager
def transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.begin() as conn:
        yield conn


@dataclass(frozen=True, slots=True)
class RequestRow:
    """A stored maker/checker request."""

    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    maker: str
    maker_signature: dict[str, Any]
    content: str | None
    state: str
    decided_by: str | None
    decision: dict[str, Any] | None
    created_at: str
    decided_at: str | None

    @property
    def ref(self) -> str:
        return f"R{self.id}"


def _row(r: Any) -> RequestRow:
    return RequestRow(
        id=r.id, kind=r.kind, subject=r.subject, payload=json.loads(r.payload), maker=r.maker,
        maker_signature=json.loads(r.maker_signature), content=r.content, state=r.state,
        decided_by=r.decided_by, decision=json.loads(r.decision) if r.decision else None,
        created_at=r.created_at, decided_at=r.decided_at)


def parse_ref(ref: str) -> int:
    """``R12`` or ``12`` -> 12."""
    text = ref[1:] if ref[:1] in ("R", "r") else ref
    if not text.isdigit():
        raise ValueError(f"request {ref!r} is not a request id like R12")
    return int(text)


def insert_request(conn: sa.Connection, *, kind: str, subject: str, payload: dict[str, Any],
                   maker: str, signature: dict[str, Any], created_at: str,
                   content: str | None = None) -> int:
    result = conn.execute(REQUESTS.insert().values(
        kind=kind, subject=subject, payload=canonical_json(payload).decode(), maker=maker,
        maker_signature=canonical_json(signature).decode(), content=content, state="pending",
        created_at=created_at))
    return _inserted_id(result)


def get_request(conn: sa.Connection, request_id: int) -> RequestRow | None:
    row = conn.execute(sa.select(REQUESTS).where(REQUESTS.c.id == request_id)).first()
    return _row(row) if row is not None else None


def list_requests(conn: sa.Connection, *, subject: str | None = None,
                  state: str | None = None) -> list[RequestRow]:
    query = sa.select(REQUESTS).order_by(REQUESTS.c.id)
    if subject is not None:
        query = query.where(REQUESTS.c.subject == subject)
    if state is not None:
        query = query.where(REQUESTS.c.state == state)
    return [_row(r) for r in conn.execute(query)]


def decide_request(conn: sa.Connection, request_id: int, *, state: str, decided_by: str,
                   decision: dict[str, Any], decided_at: str) -> bool:
    """Move a pending request to ``state``; False if it was no longer pending (lost race)."""
    result = conn.execute(
        REQUESTS.update()
        .where(REQUESTS.c.id == request_id, REQUESTS.c.state == "pending")
        .values(state=state, decided_by=decided_by, decided_at=decided_at,
                decision=canonical_json(decision).decode()))
    return result.rowcount == 1


def use_nonce(conn: sa.Connection, nonce: str, signer: str, used_at: str) -> bool:
    """Record a signature's nonce; False if it was used before (a replayed signature)."""
    seen = conn.execute(sa.select(NONCES.c.nonce).where(NONCES.c.nonce == nonce)).first()
    if seen is not None:
        return False
    conn.execute(NONCES.insert().values(nonce=nonce, signer=signer, used_at=used_at))
    return True


def insert_snapshot(conn: sa.Connection, *, strategy: str, stage: str, version: int,
                    document: dict[str, Any], created_at: str) -> int:
    result = conn.execute(SNAPSHOTS.insert().values(
        strategy=strategy, stage=stage, version=version,
        document=canonical_json(document).decode(), created_at=created_at))
    return _inserted_id(result)


def get_snapshot(conn: sa.Connection, snapshot_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(SNAPSHOTS.c.document)
                       .where(SNAPSHOTS.c.id == snapshot_id)).first()
    if row is None:
        raise LookupError(f"snapshot {snapshot_id} does not exist")
    document: dict[str, Any] = json.loads(row.document)
    return document


def snapshots_for(conn: sa.Connection, strategy: str, stage: str,
                  version: int) -> list[dict[str, Any]]:
    """Every stored snapshot document of (strategy, stage, version), oldest first."""
    rows = conn.execute(sa.select(SNAPSHOTS.c.document)
                        .where(SNAPSHOTS.c.strategy == strategy, SNAPSHOTS.c.stage == stage,
                               SNAPSHOTS.c.version == version).order_by(SNAPSHOTS.c.id))
    found = []
    for r in rows:  # a document edited into invalid JSON is no signed snapshot: skipped
        try:
            found.append(json.loads(r.document))
        except ValueError:
            continue
    return found


def set_deployment(conn: sa.Connection, *, strategy: str, stage: str, version: int,
                   snapshot_id: int, action: str, actor: str, at: str) -> None:
    conn.execute(DEPLOYMENTS.delete().where(DEPLOYMENTS.c.strategy == strategy,
                                            DEPLOYMENTS.c.stage == stage))
    conn.execute(DEPLOYMENTS.insert().values(strategy=strategy, stage=stage, version=version,
                                             snapshot_id=snapshot_id))
    conn.execute(HISTORY.insert().values(strategy=strategy, stage=stage, version=version,
                                         snapshot_id=snapshot_id, action=action, actor=actor,
                                         at=at))


def deployments(conn: sa.Connection, strategy: str | None = None) -> dict[tuple[str, str],
                                                                          tuple[int, int]]:
    """(strategy, stage) -> (version, snapshot id) of every current deployment."""
    query = sa.select(DEPLOYMENTS)
    if strategy is not None:
        query = query.where(DEPLOYMENTS.c.strategy == strategy)
    return {(r.strategy, r.stage): (r.version, r.snapshot_id) for r in conn.execute(query)}


def live_history(conn: sa.Connection, strategy: str) -> list[tuple[int, int]]:
    """(version, snapshot id) of every promotion to live, oldest first."""
    rows = conn.execute(sa.select(HISTORY.c.version, HISTORY.c.snapshot_id)
                        .where(HISTORY.c.strategy == strategy, HISTORY.c.stage == "live",
                               HISTORY.c.action == "promote")
                        .order_by(HISTORY.c.id))
    return [(r.version, r.snapshot_id) for r in rows]


def latest_config(conn: sa.Connection, kind: str) -> Any:
    return conn.execute(sa.select(CONFIGS).where(CONFIGS.c.kind == kind)
                        .order_by(CONFIGS.c.version.desc()).limit(1)).first()


def insert_config(conn: sa.Connection, *, kind: str, sha256: str, content: str,
                  request_id: int, approved_by: str, approved_at: str) -> int:
    latest = latest_config(conn, kind)
    version = (latest.version if latest is not None else 0) + 1
    conn.execute(CONFIGS.insert().values(kind=kind, version=version, sha256=sha256,
                                         content=content, request_id=request_id,
                                         approved_by=approved_by, approved_at=approved_at))
    return version


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no primary key for an insert")
    return int(key[0])
