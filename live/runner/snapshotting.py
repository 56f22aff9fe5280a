"""When the runner snapshots its folded state (:mod:`live.snapshots`): every
``every_events`` journal entries (settings ``live.snapshots.every_events``), checked after
each bar, at the session's end before the journal is sealed, and right after a start whose
fold read more than ``every_events`` entries (the next start reads a short tail). A snapshot
is written only when it stands for exactly the journal's head (seq and hash read back from
the store), so it always names the position it stands for.

What a restart needs besides the state - bar history, intents, the risk engine's and the
guardrails' memory, kill-gate and protection facts (:mod:`~live.runner.fold_memory`) - is
what the journal's *fold* rebuilds, which differs from what the trading runner keeps in
memory (a replay re-evaluates the guardrails after each bar's fills, for one). So the
runner's memory is never snapshotted from the trading runner itself: a *follower* - a second
runner of the same configuration that never trades, built by the ``follower`` factory -
resumes from the last snapshot and folds the journal up to the head at each due point, and
its fold is written. Without a factory the snapshots hold the state alone (enough for
``stratops journal replay``; a runner restart then folds the whole journal).

The periodic snapshots (:meth:`SnapshotCadence.after_bar`) are written in the background, so
the trading loop does not stall on them: the loop reads the journal's head (seq and hash)
and hands a *writer thread* what stands for exactly that position - the state serialised to
bytes right there (the state alone), or the follower, which only the writer touches, folding
up to that seq (with a follower) - and goes on with the next bar. One writer at a time: a
snapshot due while the previous one is still being written waits for the next bar (never
two writers, never a queue). A write is one transaction (insert, prune), so a crash mid-write
leaves the previous snapshot as it was; the position check at load (entry hash, content
hash) is unchanged. The session's end and a start's snapshot wait for the writer, then write
in the loop's thread (the journal is sealed right after). A failed background write is
logged at ERROR and counted in ``failed`` (a snapshot only shortens a restart's fold).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from live.journal import Journal
from live.runner.fold_memory import FoldedRunner, fold_fingerprint, fold_memory
from live.snapshots import (
    DEFAULT_KEEP,
    SnapshotStore,
    encode_snapshot,
    snapshot_store,
    write_snapshot,
)
from live.state import LiveState

log = logging.getLogger(__name__)
DEFAULT_EVERY_EVENTS = 20_000


class SnapshotCadence:
    """The runner's snapshot writer over the journal's own store; ``follower`` builds the
    never-trading runner whose fold is snapshotted with the runner's memory (None: the state
    alone). ``background``: the periodic snapshots written by a writer thread (see the
    module); False writes them in the loop's thread."""

    def __init__(self, journal: Journal, *, every_events: int = DEFAULT_EVERY_EVENTS,
                 keep: int = DEFAULT_KEEP,
                 follower: Callable[[], FoldedRunner] | None = None,
                 background: bool = True) -> None:
        if every_events < 1:
            raise ValueError(f"snapshots every_events={every_events!r}: must be >= 1")
        self.store: SnapshotStore = snapshot_store(journal, keep=keep)
        self.every_events = every_events
        self.last_seq: int | None = None  # the seq of the last snapshot written or found
        self.written = 0
        self._build_follower = follower
        self._follower: FoldedRunner | None = None
        self.background = background
        self.failed = 0  # background writes that raised (logged)
        self.busy_skips = 0  # due points passed while the writer was still busy
        self._writer: threading.Thread | None = None

    def writing(self) -> bool:
        """Whether the background writer is still at work."""
        return self._writer is not None and self._writer.is_alive()

    def wait(self, timeout_seconds: float | None = None) -> None:
        """Wait for the background writer (if any) to finish."""
        if self._writer is not None:
            self._writer.join(timeout_seconds)

    def after_recovery(self, runner: FoldedRunner, folded: int, resumed_at: int) -> int | None:
        """Right after ``runner``'s start fold, which resumed after the snapshot at seq
        ``resumed_at`` (0: none, a full fold) and read ``folded`` entries: snapshot the fold
        when it read more than ``every_events``; returns the seq written."""
        self.wait()
        self.last_seq = resumed_at or None
        if folded <= self.every_events:
            return None
        seq, entry_hash = runner.journal.head()
        return self._write_fold(runner, seq, entry_hash)

    def after_bar(self, state: LiveState, journal: Journal) -> int | None:
        """Snapshot when ``every_events`` entries were journaled since the last one; returns
        the seq written (None: not due, or the state is not at the journal's head)."""
        since = state.events_applied - (self.last_seq or 0)
        if since < self.every_events:
            return None
        if not self.background:
            return self.take(state, journal)
        if self.writing():
            self.busy_skips += 1
            return None  # one writer: the next bar tries again
        return self._submit(state, journal)

    def _submit(self, state: LiveState, journal: Journal) -> int | None:
        """Hand the snapshot of the journal's head to the writer thread; returns its seq."""
        seq, entry_hash = journal.head()
        if seq == 0 or seq == self.last_seq or state.events_applied != seq:
            return None
        if self._build_follower is None:  # the state, as bytes now: later bars cannot alter it
            body = encode_snapshot(state)

            def job() -> int | None:
                self.store.create()
                self.store.put(seq, entry_hash, body)
                self.written += 1
                return seq
        else:
            def job() -> int | None:  # the follower is the writer's alone
                follower = self._follow()
                follower.fold_journal(upto=seq)
                return self._write_fold(follower, seq, entry_hash)
        before, self.last_seq = self.last_seq, seq  # not due again until written or failed

        def run() -> None:
            try:
                job()
            except Exception:  # a snapshot only shortens a restart: log, count, go on
                self.failed += 1
                self.last_seq = before  # due again at the next bar
                log.exception("background snapshot at journal seq %d failed", seq)

        self._writer = threading.Thread(target=run, name="snapshot-writer", daemon=True)
        self._writer.start()
        return seq

    def take(self, state: LiveState, journal: Journal) -> int | None:
        """Snapshot now, in this thread, after the background writer (the session's end);
        None when nothing new was folded or the state is not at the journal's head (never a
        snapshot of another position)."""
        self.wait()
        seq, entry_hash = journal.head()
        if seq == 0 or seq == self.last_seq or state.events_applied != seq:
            return None
        if self._build_follower is None:
            write_snapshot(state, seq, entry_hash, self.store)
            self.last_seq, self.written = seq, self.written + 1
            return seq
        follower = self._follow()
        follower.fold_journal(upto=seq)  # exactly the head read above
        return self._write_fold(follower, seq, entry_hash)

    def _follow(self) -> FoldedRunner:
        """The follower, built at its first use from the newest trusted snapshot."""
        if self._follower is None:
            assert self._build_follower is not None
            follower = self._build_follower()
            follower.restore_snapshot(self.store)
            self._follower = follower
        return self._follower

    def _write_fold(self, folded: FoldedRunner, seq: int, entry_hash: str) -> int | None:
        """Snapshot ``folded`` (a runner right after a fold) when it stands at ``seq``."""
        fingerprint = fold_fingerprint(folded)
        if seq == 0 or folded.journal_position != (seq, entry_hash) or fingerprint is None:
            return None
        write_snapshot(folded.state, seq, entry_hash, self.store, runner=fold_memory(folded),
                       fingerprint=fingerprint)
        self.last_seq, self.written = seq, self.written + 1
        return seq
