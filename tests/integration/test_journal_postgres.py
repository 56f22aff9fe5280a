"""The journal on a real PostgreSQL server: same chain, same replay as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from live.checkpoint_writer import Checkpointer
from live.checkpoints import CheckpointVerdict, read_checkpoints, verify_against
from live.journal import Journal, JournalWriteError, open_journal
from live.state import fold, replay, state_hash
from tests.chain_tamper import Identities, identities, rechain_journal, truncate
from tests.integration.postgres import fresh_database
from tests.unit.test_journal import sample_session

pytestmark = [pytest.mark.integration, pytest.mark.services]

T0 = datetime(2025, 1, 6, 15, 31, tzinfo=ZoneInfo("Asia/Kolkata"))


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    yield from fresh_database("stratops_journal")


@pytest.fixture()
def pg_journal(pg_url: str) -> Iterator[Journal]:
    journal = open_journal(pg_url, clock=lambda: T0)
    yield journal
    journal.engine.dispose()


def test_postgres_journal_reads_verifies_and_replays_like_sqlite(pg_journal: Journal,
                                                                 tmp_path: Path) -> None:
    messages = sample_session(10)
    lite = open_journal(f"sqlite:///{tmp_path / 'j.db'}", clock=lambda: T0)
    for journal in (pg_journal, lite):
        journal.append(messages[0])
        journal.append_many(messages[1:])
    assert [m for _, m in pg_journal.read()] == messages
    verdict = pg_journal.verify()
    assert verdict.ok and verdict.entries == len(messages)
    assert pg_journal.head() == lite.head()  # same rows, same chain, byte for byte
    assert state_hash(replay(pg_journal)) == state_hash(replay(lite)) == \
        state_hash(fold(messages))


def test_postgres_journal_refuses_update_delete_and_truncate(pg_journal: Journal) -> None:
    pg_journal.append_many(sample_session(1))
    for statement in ("UPDATE journal SET kind = 'x' WHERE seq = 1",
                      "DELETE FROM journal WHERE seq = 1", "TRUNCATE journal"):
        with pytest.raises(sa.exc.InternalError, match="append-only"), \
                pg_journal.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert pg_journal.verify().ok


def test_postgres_second_writer_is_detected(pg_url: str, pg_journal: Journal) -> None:
    other = open_journal(pg_url, clock=lambda: T0)
    messages = sample_session(1)
    pg_journal.append(messages[0])
    other.append(messages[1])
    with pytest.raises(JournalWriteError, match="another writer"):
        pg_journal.append(messages[2])
    other.engine.dispose()


def test_postgres_tampered_row_is_named(pg_journal: Journal) -> None:
    pg_journal.append_many(sample_session(2))
    with pg_journal.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE journal DISABLE TRIGGER journal_no_change")
        conn.exec_driver_sql("UPDATE journal SET trace_id = 'forged' WHERE seq = 6")
    verdict = pg_journal.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 6)


# -- signed checkpoints: what a rewrite with recomputed hashes cannot pass -----------------------

@pytest.fixture()
def sealed_pg(pg_journal: Journal, tmp_path: Path) -> tuple[Journal, Identities]:
    """43 entries, checkpointed every 10 by the runner's key and sealed."""
    people = identities(tmp_path, {"runner": ["runner"]})
    checkpointer = Checkpointer(tmp_path / "journal-live.jsonl", "journal-live",
                                people.signer("runner"), people.directory, role="runner",
                                every=10)
    checkpointer.resume(pg_journal)
    pg_journal.checkpoints = checkpointer
    messages = sample_session(6)[:43]
    for start in range(0, len(messages), 5):
        pg_journal.append_many(messages[start:start + 5])
    pg_journal.seal()
    return pg_journal, people


def _against(journal: Journal, people: Identities) -> CheckpointVerdict:
    path = journal.checkpoints.path  # type: ignore[union-attr]
    return verify_against(journal, read_checkpoints(path), people.directory,
                          chain="journal-live", role="runner")


def test_postgres_journal_truncated_passes_verify_and_fails_against_naming_seq(
        sealed_pg: tuple[Journal, Identities]) -> None:
    journal, people = sealed_pg
    truncate(journal.engine, "journal", 30)
    verdict = _against(journal, people)
    assert (journal.verify().ok, verdict.finding, verdict.first_bad_seq) == \
        (True, "truncated", 31)


def test_postgres_journal_forged_append_passes_verify_and_fails_against_naming_seq(
        sealed_pg: tuple[Journal, Identities]) -> None:
    journal, people = sealed_pg
    Journal(journal.engine, clock=lambda: T0).append(sample_session(1)[3])
    verdict = _against(journal, people)
    assert (journal.verify().ok, verdict.finding, verdict.first_bad_seq) == \
        (True, "appended", 44)


def test_postgres_journal_rechained_edit_passes_verify_and_fails_against_naming_seq(
        sealed_pg: tuple[Journal, Identities]) -> None:
    journal, people = sealed_pg
    rechain_journal(journal.engine, 24, lambda r: r["fields"].update(close=1.0))
    verdict = _against(journal, people)
    assert (journal.verify().ok, verdict.finding, verdict.first_bad_seq) == \
        (True, "rewritten", 24)
