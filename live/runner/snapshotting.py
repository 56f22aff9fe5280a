"""When the runner snapshots its folded state (:mod:`live.snapshots`): every
``every_events`` journal entries (settings ``live.snapshots.every_events``), checked after
each bar, and at the session's end before the journal is sealed. A snapshot is written only
when the state has folded exactly the journal's head (seq and hash read back from the
store), so it always names the position it stands for.
"""

from __future__ import annotations

from live.journal import Journal
from live.snapshots import (
    DEFAULT_KEEP,
    SnapshotStore,
    newest_problem,
    snapshot_store,
    write_snapshot,
)
from live.state import LiveState

DEFAULT_EVERY_EVENTS = 20_000


class SnapshotCadence:
    """The runner's snapshot writer over the journal's own store."""

    def __init__(self, journal: Journal, *, every_events: int = DEFAULT_EVERY_EVENTS,
                 keep: int = DEFAULT_KEEP) -> None:
        if every_events < 1:
            raise ValueError(f"snapshots every_events={every_events!r}: must be >= 1")
        self.store: SnapshotStore = snapshot_store(journal, keep=keep)
        self.every_events = every_events
        self.last_seq: int | None = None  # the seq of the last snapshot written or found
        self.written = 0

    def start(self, journal: Journal) -> str | None:
        """At startup (after recovery): note the newest stored snapshot's position; returns
        why it is not trustworthy (None: it is, or there is none) for a journaled alert."""
        problem, seq = newest_problem(self.store, journal)
        self.last_seq = seq if problem is None else None
        return problem

    def after_bar(self, state: LiveState, journal: Journal) -> int | None:
        """Snapshot when ``every_events`` entries were journaled since the last one; returns
        the seq written (None: not due, or the state is not at the journal's head)."""
        since = state.events_applied - (self.last_seq or 0)
        return self.take(state, journal) if since >= self.every_events else None

    def take(self, state: LiveState, journal: Journal) -> int | None:
        """Snapshot now (the session's end); None when nothing new was folded or the state
        is not at the journal's head (never a snapshot of another position)."""
        seq, entry_hash = journal.head()
        if seq == 0 or seq == self.last_seq or state.events_applied != seq:
            return None
        write_snapshot(state, seq, entry_hash, self.store)
        self.last_seq, self.written = seq, self.written + 1
        return seq
