"""Restart speed: the state rebuilt from a state snapshot plus the journal's tail vs a full
fold of the journal (the reference, measured in the same run).

The journal: ``--events`` (default 1M) realistic events, per cycle of 20: 15 ``BarClosed``
(two symbols alternating) then a ``SignalRaised``, ``RiskChecked``, ``OrderIntended``,
``OrderSubmitted`` and ``OrderFilled`` (so 1M events leave 50k orders and 50k executions in
the state), bulk-loaded with ``append_many`` on SQLite. It is built once and cached under
``/tmp/stratops-bench/`` keyed by :data:`GENERATOR_VERSION` and the event count (about two
minutes for 1M on this 2-CPU machine; later runs reuse it).

Measured (median of ``--repeat`` runs each):

- ``restart_full_fold_s``: :func:`live.snapshots.restore_state` with no snapshot store - the
  one checked pass over every entry (``Journal.read_checked`` + fold), what a restart without
  snapshots does for the state (the reference);
- ``restart_snapshot_s``: the same call with a snapshot written ``--tail`` entries before
  the head (default 0: the snapshot written at the session's end; ``--tail 20000`` is the
  worst case at ``live.snapshots.every_events`` 20,000): load and verify the latest snapshot
  (content hash, the journal entry at its seq, the schema version), decode it, fold the
  checked tail.

Both must give the same ``state_hash`` (else the script exits non-zero). Run:
``PYTHONPATH=. .venv/bin/python benchmarks/snapshot_restart.py [--events 1000000] [--tail 0]``.
:func:`measure_restart` is the same measurement for other scripts (``benchmarks/services.py``).
The last lines are ``name: value`` pairs, the headline ratio (``speedup``) last.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ siblings
from journal_throughput import _message

from live.events import BarClosed, Message
from live.journal import Journal, open_journal
from live.snapshots import SNAPSHOTS, restore_state, snapshot_store, write_snapshot
from live.state import LiveState, state_hash

GENERATOR_VERSION = 2  # bump when the mix below changes: the cached journal is rebuilt
CACHE_DIR = Path("/tmp/stratops-bench")
CYCLE, BARS_PER_CYCLE, BATCH = 20, 15, 10_000
T0 = datetime(2025, 1, 6, 3, 45, tzinfo=UTC)
TARGET_S = 1.0


def event(n: int) -> Message:
    """Event ``n`` of the mix (deterministic)."""
    cycle, step = divmod(n, CYCLE)
    if step < BARS_PER_CYCLE:
        price = 23_500.0 + (n % 97) * 0.05
        return BarClosed(trace_id="", ts_event=T0 + timedelta(seconds=n),
                         symbol="NIFTY25JANFUT" if n % 2 else "BANKNIFTY25JANFUT",
                         open=price, high=price + 2, low=price - 2, close=price + 0.5,
                         volume=1_000.0 + n)
    # signal .. fill of one trace; the symbol and side alternate by cycle (buy, then sell)
    return _message(cycle * CYCLE + cycle % 2, step - BARS_PER_CYCLE + 1)


def cached_journal(n_events: int) -> tuple[Path, float]:
    """The cached SQLite journal of ``n_events`` (built when missing); seconds building it."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"snapshot_restart-v{GENERATOR_VERSION}-{n_events}.db"
    if path.exists():
        return path, 0.0
    building = path.with_suffix(f".building-{os.getpid()}")
    began = time.perf_counter()
    journal = open_journal(f"sqlite:///{building}")
    for first in range(0, n_events, BATCH):
        journal.append_many([event(n) for n in range(first, min(first + BATCH, n_events))],
                            ts_record=T0)
    journal.engine.dispose()
    for extra in ("-wal", "-shm"):
        Path(f"{building}{extra}").unlink(missing_ok=True)
    building.rename(path)
    return path, time.perf_counter() - began


def _timed(fn: Callable[[], LiveState], repeat: int) -> tuple[float, float, LiveState]:
    """Median wall and CPU seconds of ``fn`` (CPU: the machine is shared, wall inflates)."""
    walls, cpus, state = [], [], LiveState()
    for _ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        state = fn()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), state


def _snapshot(journal: Journal, full: LiveState, n_events: int, tail: int) -> tuple[float, int]:
    """Write the snapshot ``tail`` entries before the head; (seconds, body bytes)."""
    store = snapshot_store(journal)
    store.create()
    with journal.engine.begin() as conn:
        conn.execute(SNAPSHOTS.delete())
    seq = n_events - tail
    prefix = full if tail == 0 else restore_state_to(journal, seq)
    entry_hash = dict(journal.hashes(seq, seq))[seq]
    began = time.perf_counter()
    size = write_snapshot(prefix, seq, entry_hash, store)
    return time.perf_counter() - began, size


def restore_state_to(journal: Journal, seq: int) -> LiveState:
    """The fold of entries 1..``seq`` (a snapshot's state before the head)."""
    state = LiveState()
    for at, message in journal.read(1, verified=True):
        if at > seq:
            break
        state.apply(message)
    return state


def measure_restart(n_events: int, *, tail: int = 0, repeat: int = 3) -> dict[str, float]:
    """Full-fold restart vs snapshot + tail restart over a cached ``n_events`` journal:
    seconds of each (medians, wall and CPU), the speedup, the snapshot's write time and size.

    Raises
    ------
    SystemExit
        The two restarts disagree on the state hash.
    """
    if not 0 <= tail < n_events:
        raise ValueError(f"tail={tail!r}: must be in [0, {n_events})")
    path, build_s = cached_journal(n_events)
    journal = open_journal(f"sqlite:///{path}")
    full_s, full_cpu_s, full = _timed(lambda: restore_state(journal, None).state, repeat)
    write_s, size = _snapshot(journal, full, n_events, tail)
    store = snapshot_store(journal)
    snap_s, snap_cpu_s, restored = _timed(lambda: restore_state(journal, store).state, repeat)
    if state_hash(restored) != state_hash(full) or restored.events_applied != n_events:
        raise SystemExit("snapshot + tail restart: state hash differs from the full fold")
    return {"events": float(n_events), "tail_events": float(tail),
            "journal_build_s": build_s, "orders": float(len(full.orders)),
            "snapshot_write_s": write_s, "snapshot_mb": size / 1e6,
            "restart_full_fold_cpu_s": full_cpu_s, "restart_snapshot_cpu_s": snap_cpu_s,
            "restart_full_fold_s": full_s, "restart_snapshot_s": snap_s,
            "speedup": full_s / snap_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tail", type=int, default=0,
                        help="entries after the snapshot (0: a snapshot at the head)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = measure_restart(args.events, tail=args.tail, repeat=args.repeat)
    print(f"journal: {args.events:,} events, {out['orders']:,.0f} orders "
          f"(cached under {CACHE_DIR}; built in {out['journal_build_s']:.1f} s this run)")
    print(f"snapshot: {out['snapshot_mb']:.1f} MB, written in {out['snapshot_write_s']:.2f} s, "
          f"{args.tail:,} tail entries after it")
    verdict = "MET" if out["restart_snapshot_s"] < TARGET_S else "NOT MET"
    print(f"restart (state rebuilt, same state hash): full fold {out['restart_full_fold_s']:.2f}"
          f" s, snapshot + tail {out['restart_snapshot_s']:.3f} s (target < {TARGET_S:g} s: "
          f"{verdict}); CPU {out['restart_full_fold_cpu_s']:.2f} s vs "
          f"{out['restart_snapshot_cpu_s']:.3f} s")
    for name in ("restart_full_fold_cpu_s", "restart_snapshot_cpu_s", "restart_full_fold_s",
                 "restart_snapshot_s", "snapshot_mb", "speedup"):
        print(f"{name}: {out[name]:.3f}")


if __name__ == "__main__":
    main()
