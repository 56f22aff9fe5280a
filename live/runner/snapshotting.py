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
the trading loop does not stall on them (``writer``, settings ``live.snapshots.writer``):

- ``process`` (the default): a writer *process* (:mod:`live.runner.snapshot_process`,
  spawned at the first due point: its imports and resume cost it, not the loop) is handed
  the journal's head ``(seq, entry_hash)`` only; it folds up to exactly that entry
  (its own follower, built from the picklable ``follower`` recipe, or the state alone),
  encodes, hashes and stores it in its own interpreter, so no bar waits on its GIL. A child
  that dies mid-write (SIGKILL) commits nothing: the previous snapshot stays trusted, the
  runner keeps trading, the death is journaled as a ``snapshot_writer_failed`` alert and a
  new child is started at the next due point; after ``MAX_WRITER_DEATHS`` deaths the writer
  thread takes over (alerted too). A journal a child cannot open (in-memory SQLite) or a
  recipe that does not pickle (a closure) gets the thread (``fallback`` says why, logged at
  INFO); a child whose follower was folded under another configuration than the trading
  runner's (:func:`~live.runner.fold_memory.fold_fingerprint`) is alerted and replaced by
  the thread.
- ``thread``: a writer *thread* is handed what stands for that position - the state
  serialised to bytes right there (the state alone), or the follower, which only the writer
  touches, folding up to that seq - and the loop goes on with the next bar (but shares the
  interpreter with it: one ``orjson.dumps`` of a large state holds every bar meanwhile).
- ``inline``: written in the loop's thread (a stall of the whole fold and write).

One writer at a time: a snapshot due while the previous one is still being written waits for
the next bar (never two writers, never a queue). A write is one transaction (insert, prune),
so a crash mid-write leaves the previous snapshot as it was; the position check at load
(entry hash, content hash) is unchanged. The session's end and a start's snapshot wait for
the writer, then write (the journal is sealed right after): the session's end of a process
writer with a follower is written by the child, waited for. A failed background write is
logged at ERROR, counted in ``failed`` and alerted ``snapshot_writer_failed`` at the next
bar (a snapshot only shortens a restart's fold). :meth:`SnapshotCadence.close` (the runner's
exit) waits for the child's job in hand, then stops and reaps it.
"""

from __future__ import annotations

import logging
import threading

from live.journal import Journal
from live.runner.fold_memory import FoldedRunner, fold_fingerprint, fold_memory
from live.runner.snapshot_process import (
    FollowerRecipe,
    ProcessWriter,
    WriterDied,
    WriterDone,
    WriterUnavailableError,
    process_setup,
)
from live.snapshots import (
    DEFAULT_KEEP,
    SnapshotInputError,
    SnapshotStore,
    encode_snapshot,
    snapshot_store,
    write_snapshot,
)
from live.state import LiveState

log = logging.getLogger(__name__)
DEFAULT_EVERY_EVENTS = 20_000
WRITERS = ("process", "thread", "inline")
SNAPSHOT_WRITER_FAILED = "snapshot_writer_failed"  # the alert code of a failed snapshot write
MAX_WRITER_DEATHS = 3  # writer processes that died before the thread takes over
TAKE_TIMEOUT_SECONDS = 600.0  # the session end's wait for the writer process's snapshot


class SnapshotCadence:
    """The runner's snapshot writer over the journal's own store; ``follower`` builds the
    never-trading runner (over the journal given) whose fold is snapshotted with the
    runner's memory (None: the state alone; picklable for the ``process`` writer).
    ``writer``: ``process`` | ``thread`` | ``inline`` (see the module)."""

    def __init__(self, journal: Journal, *, every_events: int = DEFAULT_EVERY_EVENTS,
                 keep: int = DEFAULT_KEEP, follower: FollowerRecipe | None = None,
                 writer: str = "process") -> None:
        if every_events < 1:
            raise ValueError(f"snapshots every_events={every_events!r}: must be >= 1")
        if writer not in WRITERS:
            raise SnapshotInputError(f"live.snapshots.writer={writer!r}: one of {WRITERS}")
        self.store: SnapshotStore = snapshot_store(journal, keep=keep)
        self.journal = journal
        self.every_events = every_events
        self.last_seq: int | None = None  # the seq of the last snapshot written or found
        self.written = 0
        self._build_follower = follower
        self._follower: FoldedRunner | None = None
        self.writer = writer  # the writer in use (a process that cannot be used: thread)
        self.failed = 0  # background writes that raised or whose writer died (logged)
        self.busy_skips = 0  # due points passed while the writer was still busy
        self.fingerprint: str | None = None  # the trading runner's (set at its start)
        self._failures: list[str] = []  # not yet alerted (the loop journals them)
        self._thread: threading.Thread | None = None
        self._process: ProcessWriter | None = None
        self._before: int | None = None  # last_seq before the job in the process's hands
        self.fallback: str | None = None  # why the process writer is not used (None: it is)
        if writer == "process":
            try:
                self._process = ProcessWriter(process_setup(journal, keep, follower))
            except WriterUnavailableError as exc:  # known at setup: said, not alerted
                self.writer, self.fallback = "thread", str(exc)
                log.info("live.snapshots.writer process: %s; the writer thread is used", exc)

    @property
    def background(self) -> bool:
        """Whether periodic snapshots are written off the loop's thread."""
        return self.writer != "inline"

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (None: none running)."""
        return None if self._process is None else self._process.pid

    def writing(self) -> bool:
        """Whether the background writer is still at work."""
        if self._process is not None:
            self._collect(0.0)
            return self._process.job is not None
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout_seconds: float | None = None) -> None:
        """Wait for the background writer (if any) to finish its snapshot."""
        if self._process is not None:
            self._collect(timeout_seconds)
        if self._thread is not None:
            self._thread.join(timeout_seconds)

    def take_failures(self) -> list[str]:
        """The background failures not yet alerted (each one ``snapshot_writer_failed``)."""
        self._collect(0.0)
        failures, self._failures = self._failures, []
        return failures

    def close(self) -> None:
        """The runner's exit: wait for the snapshot in hand, then stop (terminate, kill)
        and reap the writer process."""
        self.wait(TAKE_TIMEOUT_SECONDS if self._process is None else 30.0)
        if self._process is not None:
            self._process.close()

    def after_recovery(self, runner: FoldedRunner, folded: int, resumed_at: int) -> int | None:
        """Right after ``runner``'s start fold, which resumed after the snapshot at seq
        ``resumed_at`` (0: none, a full fold) and read ``folded`` entries: snapshot the fold
        when it read more than ``every_events``; returns the seq written."""
        self.wait()
        self.fingerprint = fold_fingerprint(runner)  # what the writer's follower must match
        self.last_seq = resumed_at or None
        if folded <= self.every_events:
            return None
        seq, entry_hash = runner.journal.head()
        return self._write_fold(runner, seq, entry_hash)

    def after_bar(self, state: LiveState, journal: Journal) -> int | None:
        """Snapshot when ``every_events`` entries were journaled since the last one; returns
        the seq handed to the writer (None: not due, or the state is not at the journal's
        head)."""
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
        """Hand the snapshot of the journal's head to the writer; returns its seq."""
        seq, entry_hash = journal.head()
        if seq == 0 or seq == self.last_seq or state.events_applied != seq:
            return None
        if self._process is not None:  # the position only: the child folds to it
            self._before, self.last_seq = self.last_seq, seq
            try:
                self._process.submit(seq, entry_hash)
                return seq
            except OSError as exc:  # no child could be started: the thread, alerted
                self._process.job = None
                self._fail(seq, f"the snapshot writer process did not start ({exc})")
                self._to_thread("no writer process could be started")
        self._start_thread(state, seq, entry_hash)
        return seq

    def _start_thread(self, state: LiveState, seq: int, entry_hash: str) -> None:
        """The writer thread's snapshot of ``state`` at ``(seq, entry_hash)``."""
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
            except Exception as exc:  # a snapshot only shortens a restart: log, count, go on
                self.failed += 1
                self.last_seq = before  # due again at the next bar
                self._failures.append(f"the snapshot at journal seq {seq} was not written "
                                      f"({type(exc).__name__}: {exc}); the previous one "
                                      "stays trusted")
                log.exception("background snapshot at journal seq %d failed", seq)

        self._thread = threading.Thread(target=run, name="snapshot-writer", daemon=True)
        self._thread.start()

    def _collect(self, timeout_seconds: float | None) -> WriterDone | None:
        """The writer process's answer (or death) to the job in hand, counted; None: none
        within ``timeout_seconds``, or a death."""
        if self._process is None or self._process.job is None:
            return None
        answer = self._process.poll(timeout_seconds) if timeout_seconds is not None else \
            self._process.poll(TAKE_TIMEOUT_SECONDS)
        if answer is None:
            return None
        if isinstance(answer, WriterDone) and answer.written:
            if self.fingerprint is None or answer.fingerprint in (None, self.fingerprint):
                self.written += 1
                return answer
            self._fail(answer.seq, "the writer process's follower was folded under another "
                                   "configuration than the runner's (its snapshots would be "
                                   "passed over at a restart)")
            self._to_thread("its follower differs from the runner")
            return None
        if isinstance(answer, WriterDone):
            self._fail(answer.seq, f"the snapshot at journal seq {answer.seq} was not written "
                                   f"({answer.error}); the previous one stays trusted")
            return answer
        self._died(answer)
        return None

    def _died(self, died: WriterDied) -> None:
        assert self._process is not None
        how = (f"did not answer in {self._process.job_timeout_seconds:.0f} s and was "
               "stopped") if died.hung else f"died (exit code {died.exitcode})"
        self._fail(died.seq, f"the snapshot writer process {how} writing journal seq "
                             f"{died.seq}; the previous snapshot stays trusted")
        if self._process.starts >= MAX_WRITER_DEATHS:
            self._to_thread(f"{self._process.starts} writer processes died")

    def _fail(self, seq: int, why: str) -> None:
        self.failed += 1
        self.last_seq = self._before  # due again at the next bar
        self._failures.append(why)
        log.error("background snapshot at journal seq %d: %s", seq, why)

    def _to_thread(self, why: str) -> None:
        """Stop using the writer process: the writer thread takes over (alerted)."""
        if self._process is not None:
            self._process.close()
        self._process, self.writer = None, "thread"
        self._failures.append(f"the writer thread takes over snapshots: {why}")

    def take(self, state: LiveState, journal: Journal) -> int | None:
        """Snapshot now, after the background writer (the session's end), and wait for it;
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
        if self._process is not None:  # the child's follower: no second one here
            self._before, self.last_seq = self.last_seq, seq
            self._process.submit(seq, entry_hash)
            done = self._collect(TAKE_TIMEOUT_SECONDS)
            if done is not None and done.written:
                return seq
            if self._process is not None and self._process.job is not None:
                self._process.close()  # hung: stopped, written here instead
                self._fail(seq, f"the snapshot writer process did not answer in "
                                f"{TAKE_TIMEOUT_SECONDS:.0f} s; written in the loop instead")
        follower = self._follow()
        follower.fold_journal(upto=seq)  # exactly the head read above
        return self._write_fold(follower, seq, entry_hash)

    def _follow(self) -> FoldedRunner:
        """The follower (in this process), built at its first use from the newest trusted
        snapshot."""
        if self._follower is None:
            assert self._build_follower is not None
            follower = self._build_follower(self.journal)
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
