"""A real runner session snapshots its state every N journal entries and at its end; a
restart names a snapshot that fails its checks in a journaled alert."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from live.events import AlertRaised
from live.runner.runner import Runner
from live.runner.snapshotting import SnapshotCadence
from live.snapshots import SNAPSHOT_REJECTED, SNAPSHOTS, restore_state
from live.state import state_hash
from tests.unit.test_runner_engine import Stores, day_bars, stores_in

EVERY = 40


def _runner(stores: Stores) -> Runner:
    runner = stores.runner()
    runner.snapshots = SnapshotCadence(runner.journal, every_events=EVERY, keep=50)
    return runner


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, Runner]:
    stores = stores_in(tmp_path_factory.mktemp("runner_snapshots"))
    runner = _runner(stores)
    runner.recover()
    runner.run(day_bars(60))
    return stores, runner


def test_runner_session_snapshots_every_n_entries_and_at_its_end(
        session: tuple[Stores, Runner]) -> None:
    _, runner = session
    assert runner.snapshots is not None
    seqs = sorted(row.seq for row in runner.snapshots.store.newest_first())
    periodic = seqs[:-1]
    gaps = [b - a for a, b in zip([0, *periodic[:-1]], periodic, strict=True)]
    assert all(g >= EVERY for g in gaps) and len(seqs) >= 2
    assert seqs[-1] == runner.journal.head()[0]


def test_runner_snapshot_restores_the_runners_state(session: tuple[Stores, Runner]) -> None:
    _, runner = session
    assert runner.snapshots is not None
    restored = restore_state(runner.journal, runner.snapshots.store)
    assert restored.snapshot_seq == runner.journal.head()[0] and restored.tail_events == 0
    assert state_hash(restored.state) == state_hash(runner.state)


def test_runner_restart_with_a_tampered_snapshot_journals_snapshot_rejected(
        session: tuple[Stores, Runner]) -> None:
    stores, first = session
    assert first.snapshots is not None
    with first.snapshots.store.engine.begin() as conn:
        conn.execute(sa.update(SNAPSHOTS).values(content_hash="0" * 64))
    runner = _runner(stores)
    runner.recover()
    codes = [m.message for m in stores.messages(AlertRaised)
             if isinstance(m, AlertRaised) and m.code == SNAPSHOT_REJECTED]
    assert len(codes) == 1 and "content hash mismatch" in codes[0]
