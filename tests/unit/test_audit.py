"""The governance audit trail on SQLite: chaining, tamper detection, filters, concurrency."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.canonical import canonical_json
from live.db import make_engine
from live.governance.audit import (
    AUDIT_KINDS,
    AuditDetailError,
    AuditKindError,
    AuditLog,
    AuditTimestampError,
)
from live.hashchain import GENESIS

T0 = datetime(2025, 3, 3, 9, 15, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


def _db(directory: Path) -> Path:
    return directory / "governance.db"


def _open(path: Path) -> tuple[AuditLog, sa.Engine]:
    engine = make_engine(f"sqlite:///{path}")
    return AuditLog(engine), engine


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return _db(tmp_path)


@pytest.fixture()
def audit(db_path: Path) -> Iterator[AuditLog]:
    log, engine = _open(db_path)
    yield log
    engine.dispose()


def _fill(log: AuditLog, count: int) -> None:
    for i in range(count):
        log.append(ts=T0 + timedelta(minutes=i), kind=AUDIT_KINDS[i % len(AUDIT_KINDS)],
                   actor=("alice", "bob")[i % 2], strategy=("ema_cross", None)[i % 2],
                   subject=f"req-{i}", detail={"i": i, "signature": {"key": "k1", "sig": "ab"}})


def _tamper(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """An attacker with file access: drop the append-only triggers, then edit the table."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        conn.execute(sql, params)
    conn.close()


def _row(path: Path, seq: int) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        found = dict(conn.execute("SELECT * FROM audit_log WHERE seq = ?", (seq,)).fetchone())
    conn.close()
    return found


def test_append_consecutive_records_chain_each_to_the_previous(audit: AuditLog) -> None:
    _fill(audit, 5)
    found = audit.records()
    assert [r.seq for r in found] == [1, 2, 3, 4, 5]
    assert [r.prev_hash for r in found] == [GENESIS] + [r.hash for r in found[:-1]]


def test_append_returns_what_records_reads_back(audit: AuditLog) -> None:
    written = audit.append(ts=T0.astimezone(IST), kind="promotion_requested", actor="alice",
                           strategy="ema_cross", subject="req-1",
                           detail={"to": "canary", "sizes": (1, 2)})
    assert audit.records() == [written]
    assert written.ts == "2025-03-03T09:15:00.000000Z"
    assert written.detail == {"to": "canary", "sizes": [1, 2]}


def test_append_naive_timestamp_is_refused(audit: AuditLog) -> None:
    with pytest.raises(AuditTimestampError, match="naive"):
        audit.append(ts=datetime(2025, 3, 3, 9, 15), kind="refused", actor="a", detail={})


def test_append_kind_outside_pattern_is_refused_naming_it(audit: AuditLog) -> None:
    with pytest.raises(AuditKindError, match="'Promotion-Approved'"):
        audit.append(ts=T0, kind="Promotion-Approved", actor="a", detail={})


def test_append_new_kind_matching_pattern_is_accepted(audit: AuditLog) -> None:
    assert audit.append(ts=T0, kind="limits_changed", actor="a", detail={}).kind \
        == "limits_changed"


def test_append_nan_detail_is_refused_and_writes_nothing(audit: AuditLog) -> None:
    with pytest.raises(AuditDetailError, match="nan"):
        audit.append(ts=T0, kind="refused", actor="a", detail={"x": float("nan")})
    assert audit.head() == (0, GENESIS)


def test_head_names_newest_seq_and_hash(audit: AuditLog) -> None:
    _fill(audit, 3)
    assert audit.head() == (3, audit.records()[-1].hash)


def test_verify_clean_log_is_ok_with_its_count(audit: AuditLog) -> None:
    _fill(audit, 6)
    verdict = audit.verify()
    assert (verdict.ok, verdict.entries, verdict.first_bad_seq) == (True, 6, None)


def test_verify_empty_log_is_ok(audit: AuditLog) -> None:
    assert audit.verify().ok


def test_verify_after_editing_body_names_that_seq(audit: AuditLog, db_path: Path) -> None:
    _fill(audit, 5)
    body = json.loads(_row(db_path, 3)["body"])
    body["detail"]["i"] = 99
    _tamper(db_path, "UPDATE audit_log SET body = ? WHERE seq = 3",
            (canonical_json(body).decode(),))
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.entries) == (False, 3, 2)
    assert "hash does not match" in verdict.reason


def test_verify_after_editing_actor_column_names_that_seq(audit: AuditLog,
                                                          db_path: Path) -> None:
    _fill(audit, 5)
    _tamper(db_path, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4")
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert "actor" in verdict.reason


def test_verify_after_editing_actor_in_column_and_body_names_that_seq(
        audit: AuditLog, db_path: Path) -> None:
    _fill(audit, 5)
    body = json.loads(_row(db_path, 2)["body"]) | {"actor": "mallory"}
    _tamper(db_path, "UPDATE audit_log SET actor = 'mallory', body = ? WHERE seq = 2",
            (canonical_json(body).decode(),))
    assert audit.verify().first_bad_seq == 2


def test_verify_after_deleting_middle_row_names_the_gap(audit: AuditLog, db_path: Path) -> None:
    _fill(audit, 5)
    _tamper(db_path, "DELETE FROM audit_log WHERE seq = 3")
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert "expected seq 3" in verdict.reason


def test_verify_after_swapping_two_rows_names_the_first(audit: AuditLog, db_path: Path) -> None:
    _fill(audit, 5)
    two, four = _row(db_path, 2), _row(db_path, 4)
    columns = [name for name in two if name != "seq"]
    assignments = ", ".join(f"{name} = ?" for name in columns)
    for target, source in ((2, four), (4, two)):
        _tamper(db_path, f"UPDATE audit_log SET {assignments} WHERE seq = ?",
                (*(source[name] for name in columns), target))
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)


def test_verify_after_truncating_tail_is_ok_with_fewer_entries(audit: AuditLog,
                                                               db_path: Path) -> None:
    # What remains still links: a chain alone cannot see a removed tail, only the count shows it.
    _fill(audit, 5)
    _tamper(db_path, "DELETE FROM audit_log WHERE seq >= 4")
    verdict = audit.verify()
    assert (verdict.ok, verdict.entries) == (True, 3)


def test_verify_with_anchor_after_truncating_tail_names_anchor_seq(audit: AuditLog,
                                                                   db_path: Path) -> None:
    _fill(audit, 5)
    anchor = audit.head()
    _tamper(db_path, "DELETE FROM audit_log WHERE seq >= 4")
    verdict = audit.verify(anchor=anchor)
    assert (verdict.ok, verdict.first_bad_seq, verdict.entries) == (False, 5, 3)
    assert "removed" in verdict.reason


def test_verify_with_anchor_of_intact_log_is_ok(audit: AuditLog) -> None:
    _fill(audit, 3)
    anchor = audit.head()
    _fill(audit, 2)
    assert audit.verify(anchor=anchor).ok


def test_verify_with_anchor_of_rewritten_log_names_anchor_seq(audit: AuditLog) -> None:
    _fill(audit, 3)
    verdict = audit.verify(anchor=(2, "f" * 64))
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)


def test_sql_update_is_blocked_by_trigger(audit: AuditLog) -> None:
    _fill(audit, 2)
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), audit.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
    assert audit.records()[0].actor == "alice"


def test_sql_delete_is_blocked_by_trigger(audit: AuditLog) -> None:
    _fill(audit, 2)
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), audit.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log"))
    assert audit.head()[0] == 2


def test_records_by_strategy_returns_only_it(audit: AuditLog) -> None:
    _fill(audit, 6)
    assert [r.seq for r in audit.records(strategy="ema_cross")] == [1, 3, 5]


def test_records_by_actor_and_kind_returns_both_matching(audit: AuditLog) -> None:
    _fill(audit, 6)
    found = audit.records(actor="bob", kind=AUDIT_KINDS[3])
    assert [(r.seq, r.actor, r.kind) for r in found] == [(4, "bob", AUDIT_KINDS[3])]


def test_records_by_date_range_includes_since_excludes_until(audit: AuditLog) -> None:
    _fill(audit, 6)
    since, until = (T0 + timedelta(minutes=2)).astimezone(IST), T0 + timedelta(minutes=4)
    assert [r.seq for r in audit.records(since=since, until=until)] == [3, 4]


def test_append_in_rolled_back_transaction_leaves_nothing(audit: AuditLog) -> None:
    _fill(audit, 1)
    with pytest.raises(RuntimeError, match="caller failed"), audit.engine.begin() as conn:
        audit.append_in(conn, ts=T0, kind="promotion_approved", actor="bob", detail={})
        raise RuntimeError("caller failed after appending")
    assert audit.head()[0] == 1
    assert audit.verify().entries == 1


def test_append_in_committed_transaction_keeps_caller_write_and_record(
        audit: AuditLog) -> None:
    with audit.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE requests (id TEXT, state TEXT)"))
        conn.execute(sa.text("INSERT INTO requests VALUES ('req-1', 'approved')"))
        audit.append_in(conn, ts=T0, kind="promotion_approved", actor="bob", subject="req-1",
                        detail={})
    with audit.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT state FROM requests")).scalar_one() == "approved"
    assert [r.subject for r in audit.records()] == ["req-1"]


def test_append_from_four_threads_yields_consecutive_verified_records(
        audit: AuditLog) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            start.wait()
            for i in range(50):
                audit.append(ts=T0, kind="refused", actor=f"w{worker}", subject=f"{worker}-{i}",
                             detail={"i": i})
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    found = audit.records()
    assert [r.seq for r in found] == list(range(1, 201))
    assert len({r.subject for r in found}) == 200
    assert audit.verify().ok


def test_export_jsonl_writes_one_canonical_line_per_record(audit: AuditLog,
                                                           tmp_path: Path) -> None:
    _fill(audit, 3)
    out = tmp_path / "audit.jsonl"
    assert audit.export_jsonl(out) == 3
    lines = out.read_bytes().splitlines()
    assert lines == [canonical_json(r.to_dict()) for r in audit.records()]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


JSON_LEAVES = (st.none() | st.booleans() | st.integers()
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)
DETAILS = st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(details=st.lists(DETAILS, min_size=1, max_size=6))
def test_verify_any_appended_details_is_ok(details: list[Mapping[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        log, engine = _open(_db(Path(directory)))
        for detail in details:
            log.append(ts=T0, kind="config_requested", actor="alice", detail=detail)
        verdict = log.verify()
        assert [r.detail for r in log.records()] == [json.loads(canonical_json(d))
                                                     for d in details]
        engine.dispose()
    assert (verdict.ok, verdict.entries) == (True, len(details))


EDITABLE = ("ts", "kind", "actor", "strategy", "subject", "body", "prev_hash", "hash")


def _edited(field: str, value: Any) -> Any:
    if field == "body":
        body = json.loads(value)
        body["detail"]["edited"] = True
        return canonical_json(body).decode()
    return "edited" if value is None else f"{value}x"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(1, 5), data=st.data(), field=st.sampled_from(EDITABLE))
def test_verify_any_single_field_edit_names_that_seq(count: int, data: st.DataObject,
                                                    field: str) -> None:
    seq = data.draw(st.integers(1, count), label="seq")
    with tempfile.TemporaryDirectory() as directory:
        path = _db(Path(directory))
        log, engine = _open(path)
        _fill(log, count)
        _tamper(path, f"UPDATE audit_log SET {field} = ? WHERE seq = ?",
                (_edited(field, _row(path, seq)[field]), seq))
        verdict = log.verify()
        engine.dispose()
    assert (verdict.ok, verdict.first_bad_seq) == (False, seq)
