"""The snapshot writer as a separate process (``live.snapshots.writer: process``): the
folding, encoding, hashing and the write of a periodic snapshot run in a child interpreter,
so they never hold the trading loop's GIL (a writer *thread* stalled bars for hundreds of
milliseconds inside one ``orjson.dumps`` call).

The child is started with the ``spawn`` context (a fresh interpreter: no forked locks,
engines or threads) and gets, once, what it needs to stand alone: the journal's URL, the
number of snapshots kept and the *follower recipe* - a picklable callable that builds the
never-trading runner of the trading runner's configuration over the child's own journal
(None: the state alone). Then the loop hands it nothing but the journal position to
snapshot - ``(seq, entry_hash)`` - through a pipe, and the child folds the journal up to
exactly that entry (its follower resumes from the newest trusted snapshot; the state alone
from :func:`~live.snapshots.load_latest`), checks the fold stands at that position, encodes,
hashes and stores it in one transaction (:meth:`~live.snapshots.SnapshotStore.put`), then
answers :class:`WriterDone`. A child killed mid-write commits nothing: the previous snapshot
stays the trusted one, and :class:`ProcessWriter` reports the death (:class:`WriterDied`)
for the runner to alert and restart the child at the next due point.

The parent never blocks on the child except where it chooses to wait (:meth:`ProcessWriter.
wait`); :meth:`ProcessWriter.close` asks the child to stop, then terminates and kills it
if it does not, and reaps it (no zombie). The child also ends when the parent's end of the
pipe closes (the parent died).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from live.db import make_engine
from live.journal import Journal
from live.runner.fold_memory import FoldedRunner, fold_fingerprint, fold_memory
from live.snapshots import load_latest, snapshot_store, write_snapshot
from live.state import LiveState
from strategies.errors import StratopsError

log = logging.getLogger(__name__)

FollowerRecipe = Callable[[Journal], FoldedRunner]  # picklable for the process writer
STOP_SECONDS = 5.0  # how long close() waits for the child before terminating it
JOB_TIMEOUT_SECONDS = 1800.0  # a job unanswered this long: the child is stopped (hung)
WRITER_NICENESS = 10  # the child's scheduling priority below the runner's (os.nice)


class WriterUnavailableError(StratopsError, RuntimeError):
    """The process writer cannot be used here (an in-memory journal, a recipe that does not
    pickle): the caller falls back to the writer thread."""


@dataclass(frozen=True, slots=True)
class WriterSetup:
    """What the child needs once: the journal's URL (password included: it goes to our own
    child through a pipe, never to a log), the snapshots kept and the follower recipe."""

    journal_url: str
    keep: int
    recipe: FollowerRecipe | None


@dataclass(frozen=True, slots=True)
class WriterDone:
    """The child's answer to one job: ``written`` (the fold stood at ``seq`` and was
    stored), else ``error`` says why not; ``fingerprint``: the follower's configuration."""

    seq: int
    written: bool
    error: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class WriterDied:
    """The child ended without answering the job at ``seq`` (killed, crashed)."""

    seq: int
    exitcode: int | None
    hung: bool = False  # stopped by us: no answer within JOB_TIMEOUT_SECONDS


def process_setup(journal: Journal, keep: int, recipe: FollowerRecipe | None) -> WriterSetup:
    """The child's setup for ``journal``.

    Raises
    ------
    WriterUnavailableError
        The journal is an in-memory SQLite database (a child cannot open it), or the recipe
        does not pickle (a closure: the child cannot rebuild the follower from it).
    """
    url = journal.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise WriterUnavailableError("the journal is an in-memory SQLite database")
    setup = WriterSetup(url.render_as_string(hide_password=False), keep, recipe)
    try:
        pickle.dumps(setup)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise WriterUnavailableError(f"the follower recipe does not pickle: {exc}") from None
    return setup


class _ChildFold:
    """The child's fold: a follower built from the recipe (resumed from the newest trusted
    snapshot), or the state alone (resumed from the newest trusted state snapshot)."""

    def __init__(self, setup: WriterSetup) -> None:
        self.journal = Journal(make_engine(setup.journal_url, create=False, what="journal"))
        self.store = snapshot_store(self.journal, keep=setup.keep)
        self.recipe = setup.recipe
        self.follower: FoldedRunner | None = None
        self.state: LiveState | None = None
        self.position: tuple[int, str] = (0, "")

    def prepare(self) -> None:
        """Resume from the store now (the follower built and restored, or the newest
        state snapshot loaded), before the first job."""
        if self.recipe is not None:
            self.follower = self.recipe(self.journal)
            self.follower.restore_snapshot(self.store)
        else:
            self._load_state()

    def _load_state(self) -> None:
        loaded, _ = load_latest(self.store, self.journal)
        self.state, self.position = (LiveState(), (0, "")) if loaded is None \
            else (loaded[0], (loaded[1], loaded[2]))

    def write(self, seq: int, entry_hash: str) -> WriterDone:
        if self.recipe is not None:
            return self._write_follower(seq, entry_hash)
        return self._write_state(seq, entry_hash)

    def _write_follower(self, seq: int, entry_hash: str) -> WriterDone:
        assert self.recipe is not None
        if self.follower is None:
            self.follower = self.recipe(self.journal)
            self.follower.restore_snapshot(self.store)
        follower = self.follower
        follower.fold_journal(upto=seq)
        fingerprint = fold_fingerprint(follower)
        if follower.journal_position != (seq, entry_hash):
            return WriterDone(seq, False, f"the follower stands at {follower.journal_position[0]}"
                                          f", not at seq {seq} with that hash", fingerprint)
        if fingerprint is None:
            return WriterDone(seq, False, "the risk engine keeps a memory a snapshot cannot "
                                          "take")
        write_snapshot(follower.state, seq, entry_hash, self.store,
                       runner=fold_memory(follower), fingerprint=fingerprint)
        return WriterDone(seq, True, None, fingerprint)

    def _write_state(self, seq: int, entry_hash: str) -> WriterDone:
        if self.state is None:
            self._load_state()
        assert self.state is not None
        state, (at, prev) = self.state, self.position
        if seq < at:
            return WriterDone(seq, False, f"the child's state already stands at seq {at}")
        rows = self.journal.read_checked() if at == 0 else \
            self.journal.read_checked(from_seq=at + 1, prev_hash=prev)
        for folded, message in rows:
            if folded > seq:
                break
            state.apply(message)
        head = dict(self.journal.hashes(seq, seq))
        if state.events_applied != seq or head.get(seq) != entry_hash:
            self.state = None  # start over from the store at the next job
            return WriterDone(seq, False, f"the journal's entry {seq} is not the one handed")
        self.position = (seq, entry_hash)
        write_snapshot(state, seq, entry_hash, self.store)
        return WriterDone(seq, True)


def writer_main(conn: Connection, setup: WriterSetup) -> None:
    """The child: answer each ``(seq, entry_hash)`` job until ``None`` or the pipe closes."""
    os.nice(WRITER_NICENESS)  # background work: the trading loop wins a busy machine's CPU
    fold = _ChildFold(setup)
    try:
        fold.prepare()
    except Exception:  # the first job starts over from the store (and reports its error)
        log.exception("the snapshot writer could not resume from the store")
        fold.follower, fold.state = None, None
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            break
        if job is None:
            break
        seq, entry_hash = job
        try:
            done = fold.write(seq, entry_hash)
        except Exception as exc:  # reported to the parent, which logs and alerts it
            fold.follower, fold.state = None, None  # rebuilt from the store next time
            done = WriterDone(seq, False, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(done)
        except (BrokenPipeError, OSError):
            break
    fold.journal.engine.dispose()


def _shutdown(proc: BaseProcess, conn: Connection) -> None:
    """Stop ``proc``: ask, then terminate, then kill; always reaped."""
    with contextlib.suppress(OSError, ValueError):  # gone already, or the pipe closed
        conn.send(None)
    proc.join(STOP_SECONDS)
    if proc.is_alive():
        proc.terminate()
        proc.join(STOP_SECONDS)
    if proc.is_alive():
        proc.kill()
        proc.join()
    conn.close()


class ProcessWriter:
    """The parent's handle on the writer child: one job at a time, started on first use
    and again after a death."""

    def __init__(self, setup: WriterSetup) -> None:
        self.setup = setup
        self.starts = 0  # children started (restarts: starts - 1)
        self.job: int | None = None  # the seq handed and not yet answered
        self.job_timeout_seconds = JOB_TIMEOUT_SECONDS
        self._handed_at = 0.0  # time.monotonic() at the hand-over
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._finalizer: weakref.finalize[[BaseProcess, Connection], ProcessWriter] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id (None: none running)."""
        return None if self._proc is None else self._proc.pid

    def alive(self) -> bool:
        """Whether a child is running."""
        return self._proc is not None and self._proc.is_alive()

    def start(self) -> None:
        """Start the child (when none is running)."""
        if self.alive():
            return
        self._reap()
        context = multiprocessing.get_context("spawn")
        here, there = context.Pipe(duplex=True)
        proc = context.Process(target=writer_main, args=(there, self.setup),
                               name="snapshot-writer", daemon=True)
        proc.start()
        there.close()  # the child's end lives in the child only: its death is our EOF
        self._proc, self._conn, self.starts = proc, here, self.starts + 1
        self._finalizer = weakref.finalize(self, _shutdown, proc, here)

    def submit(self, seq: int, entry_hash: str) -> None:
        """Hand the child the job ``(seq, entry_hash)`` (starting it when needed)."""
        if self.job is not None:
            raise RuntimeError(f"the snapshot writer is still at seq {self.job}")
        self.start()
        assert self._conn is not None
        self.job, self._handed_at = seq, time.monotonic()
        with contextlib.suppress(OSError):  # died already: poll() reports it
            self._conn.send((seq, entry_hash))

    def poll(self, timeout_seconds: float = 0.0) -> WriterDone | WriterDied | None:
        """The answer to the job in hand when there is one within ``timeout_seconds``
        (None: still at work, or no job)."""
        if self.job is None or self._conn is None:
            return None
        seq, closed = self.job, False
        try:
            if self._conn.poll(timeout_seconds):
                answer = self._conn.recv()
                self.job = None
                return answer if isinstance(answer, WriterDone) else \
                    WriterDone(seq, False, f"unexpected answer {answer!r}")
        except (EOFError, OSError):
            closed = True  # the pipe closed: the child died (or is dying)
        if not closed and self._proc is not None and self._proc.is_alive():
            if time.monotonic() - self._handed_at < self.job_timeout_seconds:
                return None
            self._proc.kill()  # hung: killed and reaped, a new child at the next due point
            self.job = None
            self._reap()
            return WriterDied(seq, None, hung=True)
        self.job = None
        exitcode = self._reap()
        return WriterDied(seq, exitcode)

    def _reap(self) -> int | None:
        """Join a dead child and drop it; its exit code."""
        proc, conn = self._proc, self._conn
        if proc is None:
            return None
        if self._finalizer is not None:
            self._finalizer.detach()
        proc.join(STOP_SECONDS)
        if proc.is_alive():  # its end of the pipe closed, yet it lives on: no second writer
            proc.kill()
            proc.join()
        if conn is not None:
            conn.close()
        self._proc = self._conn = self._finalizer = None
        return proc.exitcode

    def close(self) -> None:
        """Stop the child (ask, terminate, kill) and reap it; the job in hand is dropped."""
        if self._finalizer is not None:
            self._finalizer()  # _shutdown, once
        self._proc = self._conn = self._finalizer = None
        self.job = None


__all__ = ["FollowerRecipe", "ProcessWriter", "WriterDied", "WriterDone", "WriterSetup",
           "WriterUnavailableError", "process_setup", "writer_main"]
