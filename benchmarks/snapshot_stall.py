"""The trading loop's stall at a periodic snapshot, and the bars' latency while it is
written: in the loop's thread (``SnapshotCadence(writer="inline")``), by a writer thread
(``writer="thread"``) and by a writer process (``writer="process"``, the default), in one run.

Setup (``benchmarks/snapshot_restart.py``'s cached journal of ``--events`` realistic events,
an ``ema_cross`` runner on both symbols with the PreTrade engine and guardrails): a schema-3
snapshot ``--every`` entries before the head, the loop's state at the head. The inline and
thread modes' follower is resumed from that snapshot before timing; the process mode's
child is started before timing (it resumes its own follower from the snapshot while it
starts). Then, as the loop does after a bar, ``after_bar`` is called with the snapshot due:
the follower folds the last ``--every`` entries, its fold (state and runner memory) is
encoded, hashed and stored.

Measured per mode (median of ``--repeat`` runs, each over a fresh copy of the journal):

- ``*_after_bar_ms``: how long ``after_bar`` holds the loop (the stall);
- ``*_snapshot_done_ms``: from the call until the snapshot is stored (background: the
  writer's answer; the process's includes what its start had not finished);
- ``*_bar_p99_ms`` / ``*_bar_max_ms``: a stand-in for the bars the loop processes while the
  writer works (20 journal events folded into a state, back to back, until the snapshot is
  stored), so the cost of sharing the interpreter (GIL) with the writer shows; ``idle_bar_*``
  is the same work with no writer, ``neighbour_bar_*`` with an unrelated CPU-bound process
  running (niced like the writer: the floor of any writer process on a shared machine);
- ``*_gc_pause_max_ms``: the longest garbage collection meanwhile (it stalls every thread).
  The loop's long-lived heap is frozen (``gc.freeze``) before timing in every mode.

The stored snapshot must be the head's and trusted under the runner's configuration (else
the script exits non-zero). Run:
``PYTHONPATH=. .venv/bin/python benchmarks/snapshot_stall.py [--events 200000] [--every 20000]``.
The last lines are ``name: value`` pairs; ``worst_bar_ratio`` (thread / process worst bar
while writing) is the headline.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ siblings
from snapshot_restart import BookedBroker, _copy, _runner, cached_journal

from live.events import Message
from live.journal import Journal
from live.runner.fold_memory import fold_fingerprint, fold_memory
from live.runner.runner import Runner
from live.runner.snapshot_process import WRITER_NICENESS
from live.runner.snapshotting import SnapshotCadence
from live.snapshots import load_runner_snapshot, snapshot_store, write_snapshot
from live.state import LiveState

BAR_EVENTS = 20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class GcPauses:
    """The garbage collector's pauses (ms) while recording: a full collection of a large
    heap stalls every thread, so a worst bar is told apart from one."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0
        self.recording = False
        gc.callbacks.append(self._note)

    def _note(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter_ns()
        elif self.recording:
            self.pauses.append((time.perf_counter_ns() - self._began) / 1e6)


GC = GcPauses()


def burn(seconds: float) -> None:
    """A CPU-bound neighbour process, niced like the snapshot writer."""
    os.nice(WRITER_NICENESS)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(i * i for i in range(10_000))


def neighbour_bars(sample: list[Message], seconds: float) -> list[float]:
    """Stand-in bars while an unrelated CPU-bound process runs: the floor any writer process
    can reach on this machine (the OS, not the GIL, schedules them)."""
    child = multiprocessing.get_context("spawn").Process(target=burn, args=(seconds,))
    child.start()
    time.sleep(3.0)  # its interpreter started and burning
    bars = []
    while child.is_alive():
        bars.append(bar_work(sample))
    child.join()
    return bars


def bar_work(sample: list[Message]) -> float:
    """One stand-in bar: ``sample`` folded into a fresh state; milliseconds."""
    began = time.perf_counter_ns()
    state = LiveState()
    for message in sample:
        state.apply(message)
    return (time.perf_counter_ns() - began) / 1e6


def prepared(path: Path, folder: Path, name: str, head: int, every: int
             ) -> tuple[Journal, LiveState, BookedBroker]:
    """A fresh journal copy with a runner snapshot at ``head - every``, the state at the
    head and the books of the head."""
    journal = _copy(path, folder, name)
    folded = _runner(journal, BookedBroker(LiveState()))
    folded.fold_journal(upto=head - every)
    seq, entry_hash = folded.journal_position
    write_snapshot(folded.state, seq, entry_hash, snapshot_store(journal),
                   runner=fold_memory(folded), fingerprint=fold_fingerprint(folded))
    folded.fold_journal()  # the loop's state: at the head
    return journal, folded.state, BookedBroker(folded.state)


def follower_recipe(journal: Journal) -> Runner:
    """The writer process's follower (picklable: a module-level function): the benchmark's
    runner over the child's own view of the journal."""
    return _runner(journal, BookedBroker(LiveState()))


def one_run(path: Path, folder: Path, i: int, head: int, every: int, writer: str,
            sample: list[Message]) -> tuple[float, float, list[float]]:
    """(after_bar ms, until stored ms, stand-in bar ms while writing) of one mode."""
    journal, state, books = prepared(path, folder, f"{writer}-{i}.db", head, every)
    gc.collect()
    gc.freeze()  # the loop's long-lived heap: not rescanned while timing (in every mode)
    recipe = follower_recipe if writer == "process" else (lambda j: _runner(j, books))
    cadence = SnapshotCadence(journal, every_events=every, writer=writer, follower=recipe)
    if cadence.writer != writer:
        raise SystemExit(f"the {writer} writer is not available here")
    cadence.last_seq = head - every  # resumed from that snapshot, as after a start
    if cadence._process is not None:
        cadence._process.start()  # spawned before timing (else at the first due point)
    else:
        cadence._follow()  # built and restored before timing
    began = time.perf_counter_ns()
    GC.recording = True
    written = cadence.after_bar(state, journal)
    stall = (time.perf_counter_ns() - began) / 1e6
    bars: list[float] = []
    while cadence.writing():
        bars.append(bar_work(sample))
    GC.recording = False
    cadence.wait()
    done = (time.perf_counter_ns() - began) / 1e6
    gc.unfreeze()
    if written != head or cadence.written != 1:
        raise SystemExit(f"{writer}: snapshot not written at the head ({written}, "
                         f"{cadence.written}): {cadence.take_failures()}")
    fingerprint = fold_fingerprint(_runner(journal, books))
    assert fingerprint is not None
    loaded, rejected = load_runner_snapshot(cadence.store, journal, fingerprint)
    if loaded is None or loaded.seq != head or rejected:
        raise SystemExit(f"{writer}: the stored snapshot is not trusted: {rejected}")
    cadence.close()
    journal.engine.dispose()
    return stall, done, bars


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--neighbour-seconds", type=float, default=15.0)
    args = parser.parse_args()
    path, built = cached_journal(args.events)
    if built:
        print(f"journal of {args.events} events built in {built:.0f} s")
    lines: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="stratops-snapshot-stall-") as tmp:
        folder = Path(tmp)
        source = _copy(path, folder, "sample.db")
        sample = [m for _, m in source.read(args.events - BAR_EVENTS + 1, verified=True)]
        source.engine.dispose()
        idle = [bar_work(sample) for _ in range(2000)]
        lines["idle_bar_p99_ms"], lines["idle_bar_max_ms"] = pct(idle, .99), max(idle)
        near = neighbour_bars(sample, args.neighbour_seconds)
        lines["neighbour_bar_p999_ms"], lines["neighbour_bar_max_ms"] = \
            pct(near, .999), max(near)
        for name in ("inline", "thread", "process"):
            GC.pauses.clear()
            runs = [one_run(path, folder, i, args.events, args.every, name, sample)
                    for i in range(args.repeat)]
            lines[f"{name}_after_bar_ms"] = statistics.median(r[0] for r in runs)
            lines[f"{name}_snapshot_done_ms"] = statistics.median(r[1] for r in runs)
            bars = [b for r in runs for b in r[2]]
            if bars:
                lines[f"{name}_bar_p99_ms"], lines[f"{name}_bar_p999_ms"] = \
                    pct(bars, .99), pct(bars, .999)
                lines[f"{name}_bar_max_ms"] = max(bars)
                lines[f"{name}_gc_pause_max_ms"] = max(GC.pauses, default=0.0)
    lines["stall_ratio_inline_vs_process"] = \
        lines["inline_after_bar_ms"] / lines["process_after_bar_ms"]
    lines["stall_ratio_thread_vs_process"] = \
        lines["thread_after_bar_ms"] / lines["process_after_bar_ms"]
    lines["worst_bar_ratio"] = lines["thread_bar_max_ms"] / lines["process_bar_max_ms"]
    for key, value in lines.items():
        print(f"{key}: {value:.4g}")


if __name__ == "__main__":
    main()
