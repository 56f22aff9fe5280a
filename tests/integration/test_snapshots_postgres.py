"""State snapshots on a real PostgreSQL server: written, kept, verified and restored as on
SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from live.journal import Journal, open_journal
from live.snapshots import SNAPSHOTS, restore_state, snapshot_store, write_snapshot
from live.state import fold, state_hash
from tests.integration.postgres import fresh_database
from tests.unit.test_journal import sample_session

pytestmark = [pytest.mark.integration, pytest.mark.services]

T0 = datetime(2025, 1, 6, 15, 31, tzinfo=ZoneInfo("Asia/Kolkata"))


@pytest.fixture()
def pg_journal() -> Iterator[Journal]:
    for url in fresh_database("stratops_snapshots"):
        journal = open_journal(url, clock=lambda: T0)
        yield journal
        journal.engine.dispose()


def test_postgres_snapshot_plus_tail_restores_the_full_state(pg_journal: Journal) -> None:
    messages = sample_session(10)
    pg_journal.append_many(messages)
    store = snapshot_store(pg_journal, keep=2)
    for seq in (10, 20, 30):
        write_snapshot(fold(messages[:seq]), seq, dict(pg_journal.hashes(seq, seq))[seq], store)
    assert [row.seq for row in store.newest_first()] == [30, 20]
    restored = restore_state(pg_journal, store)
    assert (restored.snapshot_seq, restored.tail_events) == (30, len(messages) - 30)
    assert state_hash(restored.state) == state_hash(fold(messages))


def test_postgres_snapshot_with_a_wrong_hash_is_rejected(pg_journal: Journal) -> None:
    messages = sample_session(5)
    pg_journal.append_many(messages)
    store = snapshot_store(pg_journal)
    write_snapshot(fold(messages[:10]), 10, dict(pg_journal.hashes(10, 10))[10], store)
    with pg_journal.engine.begin() as conn:
        conn.execute(sa.update(SNAPSHOTS).values(content_hash="0" * 64))
    restored = restore_state(pg_journal, store)
    assert restored.snapshot_seq is None and "content hash mismatch" in restored.rejected[0]
