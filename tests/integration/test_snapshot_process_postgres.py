"""The snapshot writer process SIGKILLed inside its write transaction on a real PostgreSQL
journal: nothing of its snapshot is committed, the previous one stays trusted, and the next
child writes the next snapshot."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from live.journal import Journal, open_journal
from live.runner.snapshotting import SnapshotCadence
from live.snapshots import SNAPSHOTS, load_latest
from live.state import fold, state_hash
from tests.integration.postgres import fresh_database
from tests.unit.test_journal import sample_session

pytestmark = [pytest.mark.integration, pytest.mark.services]

T0 = datetime(2025, 1, 6, 15, 31, tzinfo=ZoneInfo("Asia/Kolkata"))
WAIT_S = 120.0  # a spawned child imports the live packages first


@pytest.fixture()
def pg_journal() -> Iterator[Journal]:
    for url in fresh_database("stratops_snapshot_writer"):
        journal = open_journal(url, clock=lambda: T0)
        yield journal
        journal.engine.dispose()


def _blocked_in_its_write(journal: Journal) -> bool:
    """Whether a session waits on a lock inside ``DELETE FROM state_snapshots`` (the first
    statement of the snapshot's write transaction)."""
    with journal.engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'DELETE FROM state_snapshots%'")).scalar())


def test_postgres_writer_process_killed_inside_its_write_commits_nothing(
        pg_journal: Journal) -> None:
    messages = sample_session(5)
    half = len(messages) // 2
    pg_journal.append_many(messages[:half])
    cadence = SnapshotCadence(pg_journal, every_events=10, writer="process")
    assert cadence.after_bar(fold(messages[:half]), pg_journal) == half
    cadence.wait(WAIT_S)
    assert cadence.written == 1
    pg_journal.append_many(messages[half:])
    with pg_journal.engine.connect() as locker:  # writes to the table wait: reads do not
        locker.execute(sa.text("LOCK TABLE state_snapshots IN EXCLUSIVE MODE"))
        assert cadence.after_bar(fold(messages), pg_journal) == len(messages)
        deadline = time.monotonic() + WAIT_S
        while not _blocked_in_its_write(pg_journal):
            assert time.monotonic() < deadline, "the writer never reached its write"
            time.sleep(0.05)
        pid = cadence.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        cadence.wait(WAIT_S)
        locker.rollback()
    assert cadence.failed == 1 and not Path(f"/proc/{pid}").exists()
    (why,) = cadence.take_failures()
    assert "exit code -9" in why
    with pg_journal.engine.connect() as conn:
        assert conn.execute(sa.select(SNAPSHOTS.c.seq)).scalars().all() == [half]
    loaded, rejected = load_latest(cadence.store, pg_journal)
    assert not rejected and loaded is not None and loaded[1] == half
    assert cadence.after_bar(fold(messages), pg_journal) == len(messages)  # a new child
    cadence.wait(WAIT_S)
    loaded, rejected = load_latest(cadence.store, pg_journal)
    assert not rejected and loaded is not None and loaded[1] == len(messages)
    assert state_hash(loaded[0]) == state_hash(fold(messages))
    cadence.close()
