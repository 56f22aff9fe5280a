"""The periodic snapshot written by a writer *process* (``writer="process"``, the default):
what it writes verifies and restores exactly a full fold; a child killed mid-write leaves the
previous snapshot trusted, is alerted ``snapshot_writer_failed`` and replaced while the
runner keeps trading; closing the cadence reaps the child (no zombie)."""

from __future__ import annotations

import functools
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from live.events import AlertRaised, BarClosed
from live.journal import Journal, open_journal
from live.runner.fold_memory import fold_digest
from live.runner.runner import Runner
from live.runner.snapshotting import SNAPSHOT_WRITER_FAILED, SnapshotCadence
from live.snapshots import SNAPSHOTS, load_latest, restore_state, snapshot_store
from live.state import LiveState, state_hash
from tests.unit.test_runner_engine import Stores, day_bars, stores_in
from tests.unit.test_runner_fold_snapshots import paper_session, runner_factory

T0 = datetime(2025, 3, 3, 3, 45, tzinfo=UTC)
EVERY = 40
WAIT_S = 120.0  # a spawned child imports the live packages first: seconds on a busy machine


def paper_follower(stores: Stores, journal: Journal) -> Runner:
    """The picklable follower recipe of the paper session's runners (a new process's
    view of the same stores, so ``journal`` is that file too)."""
    assert journal.engine.url.database == str(stores.folder / "journal.db")
    return runner_factory(stores, [])()


def _grow(journal: Journal, state: LiveState, n: int) -> None:
    start = state.events_applied
    for i in range(start, start + n):
        bar = BarClosed(trace_id="", ts_event=T0 + timedelta(minutes=i), symbol="NIFTY",
                        open=100.0 + i, high=101.0 + i, low=99.0 + i, close=100.5 + i,
                        volume=10.0)
        journal.append(bar)
        state.apply(bar)


def _reaped(pid: int) -> bool:
    """No process (not even a zombie) with ``pid``."""
    return not Path(f"/proc/{pid}").exists()


def test_process_writer_state_snapshot_verifies_and_equals_a_full_fold(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=lambda: T0)
    state = LiveState()
    cadence = SnapshotCadence(journal, every_events=EVERY, writer="process")
    _grow(journal, state, EVERY + 3)
    assert cadence.after_bar(state, journal) == EVERY + 3
    cadence.wait(WAIT_S)
    pid = cadence.writer_pid
    assert cadence.writer == "process" and cadence.written == 1 and not cadence.failed
    loaded, rejected = load_latest(cadence.store, journal)
    assert not rejected and loaded is not None and loaded[1] == EVERY + 3
    assert state_hash(loaded[0]) == state_hash(restore_state(journal, None).state)
    cadence.close()
    assert pid is not None and _reaped(pid)


def test_process_writer_runner_snapshot_restarts_equal_to_a_full_fold(tmp_path: Path) -> None:
    stores, make = paper_session(tmp_path, follow=False)
    folded = make()
    folded.fold_journal()
    journal = stores.journal()
    cadence = SnapshotCadence(journal, every_events=EVERY, writer="process",
                              follower=functools.partial(paper_follower, stores))
    head = journal.head()[0]
    assert cadence.after_bar(folded.state, journal) == head
    cadence.wait(WAIT_S)
    assert cadence.written == 1 and not cadence.failed, cadence.take_failures()
    restarted = make()
    assert restarted.restore_snapshot(snapshot_store(restarted.journal)) == []
    assert restarted.journal_position[0] == head and restarted.fold_journal() == 0
    assert fold_digest(restarted) == fold_digest(folded)
    cadence.close()


def test_process_writer_under_another_configuration_is_alerted_and_the_thread_takes_over(
        tmp_path: Path) -> None:
    stores, make = paper_session(tmp_path, follow=False)
    folded = make()
    folded.fold_journal()
    journal = stores.journal()
    cadence = SnapshotCadence(journal, every_events=EVERY, writer="process",
                              follower=functools.partial(paper_follower, stores))
    cadence.fingerprint = "0" * 64  # the trading runner's: not the child's follower's
    assert cadence.after_bar(folded.state, journal) == journal.head()[0]
    cadence.wait(WAIT_S)
    failures = cadence.take_failures()
    assert cadence.writer == "thread" and cadence.written == 0 and cadence.last_seq is None
    assert "another configuration" in failures[0] and "thread takes over" in failures[1]


def test_process_writer_killed_mid_write_keeps_the_previous_snapshot_and_the_runner_trading(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path / "stores")
    runner = stores.runner()
    cadence = SnapshotCadence(runner.journal, every_events=EVERY, keep=50, writer="process")
    runner.snapshots = cadence
    runner.recover()
    bars = day_bars(150)
    runner.run(bars[:60])  # a periodic snapshot by the child, the session's end by the loop
    assert cadence.writer_pid is not None and cadence.written >= 2
    first = max(row.seq for row in cadence.store.newest_first())
    killed: list[int] = []  # the warm child, at work on its next snapshot

    def kill_the_writer_at_work() -> None:
        if not killed and cadence.writing() and cadence.writer_pid is not None:
            killed.append(cadence.writer_pid)
            os.kill(cadence.writer_pid, signal.SIGKILL)

    runner.run(bars[30:], pause=kill_the_writer_at_work)
    assert killed and _reaped(killed[0])
    assert cadence.failed >= 1 and cadence.writer == "process"
    alerts = [m for _, m in runner.journal.read() if isinstance(m, AlertRaised)
              and m.code == SNAPSHOT_WRITER_FAILED]
    assert alerts and "died (exit code -9)" in alerts[0].message
    assert runner.summary.bars == len(bars)  # every bar traded through the death
    seqs = sorted(row.seq for row in cadence.store.newest_first())
    head = runner.journal.head()[0]
    assert first in seqs and any(first < s < head for s in seqs)  # by the next child
    restored = restore_state(runner.journal, cadence.store)
    assert not restored.rejected and state_hash(restored.state) == state_hash(runner.state)
    cadence.close()


def test_process_writer_killed_leaves_no_row_of_its_snapshot(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=lambda: T0)
    state = LiveState()
    cadence = SnapshotCadence(journal, every_events=EVERY, writer="process")
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) == EVERY
    cadence.wait(WAIT_S)
    first = state_hash(state)
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) == 2 * EVERY
    pid = cadence.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    cadence.wait(WAIT_S)
    assert _reaped(pid) and cadence.failed == 1 and cadence.last_seq == EVERY  # due again
    with cadence.store.engine.connect() as conn:
        assert conn.execute(sa.select(SNAPSHOTS.c.seq)).scalars().all() == [EVERY]
    loaded, rejected = load_latest(cadence.store, journal)
    assert not rejected and loaded is not None and state_hash(loaded[0]) == first
    (why,) = cadence.take_failures()
    assert "previous snapshot stays trusted" in why
    cadence.close()


def test_process_writer_unanswered_past_its_timeout_is_killed_and_alerted(
        tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=lambda: T0)
    state = LiveState()
    cadence = SnapshotCadence(journal, every_events=EVERY, writer="process")
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) == EVERY
    cadence.wait(WAIT_S)
    pid = cadence.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # a hang: alive, never answering
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) == 2 * EVERY
    assert cadence._process is not None
    cadence._process.job_timeout_seconds = 0.2
    time.sleep(0.5)
    assert not cadence.writing() and _reaped(pid) and cadence.last_seq == EVERY
    (why,) = cadence.take_failures()
    assert "did not answer in 0 s" in why
    cadence.close()


def test_process_writer_with_an_in_memory_journal_falls_back_to_the_thread() -> None:
    journal = Journal(sa.create_engine("sqlite://"))
    cadence = SnapshotCadence(journal, writer="process")
    assert cadence.writer == "thread" and "in-memory" in (cadence.fallback or "")


def test_process_writer_with_a_closure_follower_falls_back_to_the_thread(
        tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=lambda: T0)
    cadence = SnapshotCadence(journal, writer="process", follower=lambda _: runner_factory(
        stores_in(tmp_path / "s"), [])())
    assert cadence.writer == "thread" and "does not pickle" in (cadence.fallback or "")


def test_snapshot_writer_setting_other_than_the_three_is_refused(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=lambda: T0)
    with pytest.raises(ValueError, match=r"live\.snapshots\.writer='fork'"):
        SnapshotCadence(journal, writer="fork")


def test_a_follower_that_cannot_be_built_is_alerted_and_the_session_ends_cleanly(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path / "stores")

    def broken(_journal: Journal) -> Runner:
        raise RuntimeError("the follower's governance store is gone")

    runner = stores.runner()
    runner.snapshots = SnapshotCadence(runner.journal, every_events=EVERY, keep=50,
                                       writer="thread", follower=broken)
    runner.recover()
    bars = day_bars(60)
    summary = runner.run(bars)  # the session-end snapshot fails too: alerted, not raised
    assert summary.bars == len(bars)
    alerts = [m.message for _, m in runner.journal.read() if isinstance(m, AlertRaised)
              and m.code == SNAPSHOT_WRITER_FAILED]
    assert any(a.startswith("the session-end snapshot was not written (RuntimeError: the "
                            "follower's governance store is gone)") for a in alerts)
