"""The governance audit trail on the real PostgreSQL server: chaining, tampering, concurrency."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from live.canonical import canonical_json
from live.checkpoint_writer import Checkpointer
from live.checkpoints import Checkpoint, read_checkpoints, verify_against
from live.db import make_engine
from live.governance.audit import AuditLog
from tests.chain_tamper import Identities, identities, rechain_audit, truncate
from tests.integration.postgres import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.services]

T0 = datetime(2025, 3, 3, 9, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh database on the real server for this module, dropped afterwards."""
    yield from fresh_database("stratops_audit")


def _sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement straight through psycopg2 (as a DBA or an attacker would)."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description is not None else []
    finally:
        conn.close()


@pytest.fixture()
def pg_url(pg_database: str) -> Iterator[str]:
    """The module database with no audit table: each test starts from an empty log."""
    _sql(pg_database, "DROP TABLE IF EXISTS audit_log")
    yield pg_database
    _sql(pg_database, "DROP TABLE IF EXISTS audit_log")


@pytest.fixture()
def audit(pg_url: str) -> Iterator[AuditLog]:
    engine = make_engine(pg_url)
    yield AuditLog(engine)
    engine.dispose()


def _fill(log: AuditLog, count: int) -> None:
    for i in range(count):
        log.append(ts=T0 + timedelta(minutes=i), kind="promotion_requested",
                   actor=("alice", "bob")[i % 2], strategy="ema_cross", subject=f"req-{i}",
                   detail={"i": i, "signature": {"key": "k1", "sig": "ab"}})


def _append_many(url: str, worker: int, count: int, start: Any) -> None:
    """One writer process: its own engine, ``count`` appends once every writer is ready."""
    engine = make_engine(url)
    log = AuditLog(engine)
    start.wait(60)
    for i in range(count):
        log.append(ts=T0, kind="refused", actor=f"worker-{worker}", subject=f"{worker}-{i}",
                   detail={"i": i})
    engine.dispose()


def test_postgres_append_chains_and_verifies(audit: AuditLog, pg_url: str) -> None:
    _fill(audit, 5)
    found = audit.records(actor="bob")
    assert [r.seq for r in found] == [2, 4]
    assert audit.verify().ok
    assert audit.head() == (5, audit.records()[-1].hash)
    assert _sql(pg_url, "SELECT count(*) FROM audit_log") == [(5,)]  # really in PostgreSQL


def test_postgres_edited_body_is_named_by_verify(audit: AuditLog, pg_url: str) -> None:
    _fill(audit, 5)
    body = json.loads(_sql(pg_url, "SELECT body FROM audit_log WHERE seq = 3")[0][0])
    body["detail"]["i"] = 99
    _sql(pg_url, "UPDATE audit_log SET body = %s WHERE seq = 3", (canonical_json(body).decode(),))
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)


def test_postgres_edited_actor_column_is_named_by_verify(audit: AuditLog, pg_url: str) -> None:
    _fill(audit, 5)
    _sql(pg_url, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)


def test_postgres_deleted_middle_row_is_named_by_verify(audit: AuditLog, pg_url: str) -> None:
    _fill(audit, 5)
    _sql(pg_url, "DELETE FROM audit_log WHERE seq = 3")
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)


def test_postgres_rolled_back_append_in_leaves_nothing(audit: AuditLog) -> None:
    _fill(audit, 1)
    with pytest.raises(RuntimeError, match="caller failed"), audit.engine.begin() as conn:
        audit.append_in(conn, ts=T0, kind="promotion_approved", actor="bob", detail={})
        raise RuntimeError("caller failed after appending")
    assert audit.head()[0] == 1


def test_postgres_two_processes_append_consecutive_verified_records(audit: AuditLog,
                                                                    pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)  # both writers released together, after their imports
    workers = [ctx.Process(target=_append_many, args=(pg_url, w, 100, start)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    found = audit.records()
    assert [r.seq for r in found] == list(range(1, 201))
    assert len({r.subject for r in found}) == 200
    assert audit.verify().ok


# -- signed checkpoints: what a rewrite with recomputed hashes cannot pass -----------------------

def _sealed(audit: AuditLog, people: Identities, path: Path) -> list[Checkpoint]:
    for i in range(6):
        audit.append(ts=T0 + timedelta(minutes=i), kind="promotion_requested", actor="alice",
                     strategy="ema_cross", subject=f"R{i}", detail={"i": i})
    checkpointer = Checkpointer(path, "audit", people.signer("alice"), people.directory)
    checkpointer.resume(audit)
    checkpointer.checkpoint(sealed=True)
    return read_checkpoints(path)


@pytest.fixture()
def people(tmp_path: Path) -> Identities:
    return identities(tmp_path, {"alice": ["quant"]})


def test_postgres_audit_truncated_passes_verify_and_fails_against_naming_seq(
        audit: AuditLog, people: Identities, tmp_path: Path) -> None:
    found = _sealed(audit, people, tmp_path / "audit.jsonl")
    truncate(audit.engine, "audit_log", 4)
    verdict = verify_against(audit, found, people.directory, chain="audit")
    assert (audit.verify().ok, verdict.finding, verdict.first_bad_seq) == \
        (True, "truncated", 5)


def test_postgres_audit_forged_append_passes_verify_and_fails_against_naming_seq(
        audit: AuditLog, people: Identities, tmp_path: Path) -> None:
    found = _sealed(audit, people, tmp_path / "audit.jsonl")
    audit.append(ts=T0, kind="promotion_approved", actor="bob", detail={"forged": True})
    verdict = verify_against(audit, found, people.directory, chain="audit")
    assert (audit.verify().ok, verdict.finding, verdict.first_bad_seq) == \
        (True, "appended", 7)


def test_postgres_audit_rechained_edit_passes_verify_and_fails_against_naming_seq(
        audit: AuditLog, people: Identities, tmp_path: Path) -> None:
    found = _sealed(audit, people, tmp_path / "audit.jsonl")
    rechain_audit(audit.engine, 2, lambda detail: detail.update(i=42))
    verdict = verify_against(audit, found, people.directory, chain="audit")
    assert (audit.verify().ok, verdict.finding, verdict.first_bad_seq) == \
        (True, "rewritten", 2)
