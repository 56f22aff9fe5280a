"""The periodic snapshot written by a writer thread (``writer="thread"``): the loop's call
returns while it writes, a snapshot due meanwhile waits (never two writers), and a write that
fails half way leaves the previous snapshot as the trusted one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from live.events import BarClosed
from live.journal import Journal, open_journal
from live.runner.snapshotting import SnapshotCadence
from live.snapshots import SNAPSHOTS, load_latest
from live.state import LiveState, state_hash

T0 = datetime(2025, 3, 3, 3, 45, tzinfo=UTC)
EVERY = 5


def _grow(journal: Journal, state: LiveState, n: int) -> None:
    start = state.events_applied
    for i in range(start, start + n):
        bar = BarClosed(trace_id="", ts_event=T0 + timedelta(minutes=i), symbol="NIFTY",
                        open=100.0 + i, high=101.0 + i, low=99.0 + i, close=100.5 + i,
                        volume=10.0)
        journal.append(bar)
        state.apply(bar)


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Journal, LiveState, SnapshotCadence]:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=lambda: T0)
    return journal, LiveState(), SnapshotCadence(journal, every_events=EVERY, writer="thread")


def test_background_snapshot_returns_at_once_and_never_runs_two_writers(
        stores: tuple[Journal, LiveState, SnapshotCadence],
        monkeypatch: pytest.MonkeyPatch) -> None:
    journal, state, cadence = stores
    release, entered = threading.Event(), threading.Event()
    put = cadence.store.put

    def slow_put(*args: Any, **kwargs: Any) -> None:
        entered.set()
        assert release.wait(5)
        put(*args, **kwargs)

    monkeypatch.setattr(cadence.store, "put", slow_put)
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) == EVERY  # handed over, not yet written
    assert entered.wait(5) and cadence.writing() and cadence.written == 0
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) is None and cadence.busy_skips == 1
    written_state = state_hash(state)
    release.set()
    cadence.wait(5)
    assert cadence.written == 1 and not cadence.writing()
    assert cadence.after_bar(state, journal) == 2 * EVERY  # due, the writer free again
    cadence.wait(5)
    loaded, rejected = load_latest(cadence.store, journal)
    assert not rejected and loaded is not None and loaded[1] == 2 * EVERY
    assert state_hash(loaded[0]) == written_state


def test_background_write_failing_half_way_leaves_the_previous_snapshot_trusted(
        stores: tuple[Journal, LiveState, SnapshotCadence],
        monkeypatch: pytest.MonkeyPatch) -> None:
    journal, state, cadence = stores
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) == EVERY
    cadence.wait(5)
    first = state_hash(state)

    def torn_put(seq: int, entry_hash: str, body: bytes, **_: Any) -> None:
        with cadence.store.engine.begin() as conn:  # the row half written, then the crash
            conn.execute(SNAPSHOTS.insert(), [{"seq": seq, "entry_hash": entry_hash,
                                               "schema_version": 3, "content_hash": "x",
                                               "body": body[: len(body) // 2]}])
            raise OSError("disk gone mid-write")

    monkeypatch.setattr(cadence.store, "put", torn_put)
    _grow(journal, state, EVERY)
    assert cadence.after_bar(state, journal) == 2 * EVERY
    cadence.wait(5)
    assert cadence.failed == 1 and cadence.last_seq == EVERY  # due again at the next bar
    with cadence.store.engine.connect() as conn:
        assert conn.execute(sa.select(SNAPSHOTS.c.seq)).scalars().all() == [EVERY]
    loaded, rejected = load_latest(cadence.store, journal)
    assert not rejected and loaded is not None and loaded[1] == EVERY
    assert state_hash(loaded[0]) == first
