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

Both must give the same ``state_hash`` (else the script exits non-zero).

The runner (:func:`measure_runner_restart`, ``--runner-repeat`` runs each, default 1: a
full fold of 1M events takes minutes of wall time here): ``Runner.recover()`` - the fold of
everything a runner rebuilds (state, bar history, intents, the PreTrade risk engine's and
the guardrails' memory, ...; :mod:`live.runner.fold_memory`) then the broker reconciliation
and the start's journal entries - of an ``ema_cross`` deployment on both symbols, over a
fresh copy of the journal each run:

- ``runner_recover_full_fold_s``: no snapshot (the reference);
- ``runner_recover_snapshot_s``: a schema-3 snapshot at ``--tail`` entries before the head
  (state and runner memory, written from a fold of that prefix), then the tail.

The broker is :class:`BookedBroker`, the recorded end-of-day books of the journal (its
positions; every order filled, no new fill): reconciliation is clean and sends nothing.
Both runs must end with the same :func:`~live.runner.fold_memory.fold_digest` (everything
the fold rebuilt) or the script exits non-zero. Run:
``PYTHONPATH=. .venv/bin/python benchmarks/snapshot_restart.py [--events 1000000] [--tail 0]``.
:func:`measure_restart` is the same measurement for other scripts (``benchmarks/services.py``).
The last lines are ``name: value`` pairs, the headline ratio (``runner_speedup``) last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ siblings
from journal_throughput import _message

from live.broker import FillReport, OrderReport, PositionReport
from live.events import BarClosed, Message
from live.journal import Journal, open_journal
from live.risk.guardrails import Guardrails
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import build, cost_rates
from live.runner.fold_memory import fold_digest, fold_fingerprint, fold_memory
from live.runner.runner import Runner
from live.runner.snapshotting import SnapshotCadence
from live.snapshots import SNAPSHOTS, restore_state, snapshot_store, write_snapshot
from live.state import LiveState, state_hash
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig

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


# --- the runner's restart ------------------------------------------------------------------

SYMBOLS = ["BANKNIFTY25JANFUT", "NIFTY25JANFUT"]
RISK_FILE = Path(__file__).resolve().parents[1] / "risk.yaml"


class BookedBroker:
    """The broker's books as recorded at the journal's end: its net positions, every
    order filled, no fill the journal lacks. Answers a startup reconciliation; sends
    nothing (a submit is a bug of the benchmark)."""

    name = "booked"

    def __init__(self, state: LiveState) -> None:
        nets: dict[str, int] = {}
        for (_strategy, symbol), pos in state.positions.items():
            nets[symbol] = nets.get(symbol, 0) + pos.net_qty
        self._positions = [PositionReport(symbol=s, net_qty=q, avg_price=0.0)
                           for s, q in sorted(nets.items())]

    def positions(self) -> list[PositionReport]:
        return list(self._positions)

    def fills(self) -> list[FillReport]:
        return []

    def orders(self) -> list[OrderReport]:
        return []

    def status(self, **_: object) -> OrderReport | None:
        raise RuntimeError("the benchmark journal has no order in doubt")

    def submit(self, *_: object, **__: object) -> object:
        raise RuntimeError("the benchmark sends nothing")

    modify = cancel = submit


def _runner(journal: Journal, broker: BookedBroker,
            snapshots: SnapshotCadence | None = None) -> Runner:
    """A runner of ``ema_cross`` (defaults) on both symbols with the PreTrade risk engine
    and guardrails of ``risk.yaml``."""
    spec = get_strategy("ema_cross")
    config = {"strategy": "ema_cross", "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": SYMBOLS,
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    limits = load_risk_limits(RISK_FILE)
    return Runner(journal=journal, broker=broker, deployed=[deployed], mode="live",  # type: ignore[arg-type]
                  clock=lambda: T0 + timedelta(days=30), risk=PreTradeRiskEngine(limits),
                  guardrails=Guardrails(limits, {"ema_cross": 10_000_000.0},
                                        costs=cost_rates([deployed])),
                  snapshots=snapshots)


def _copy(path: Path, folder: Path, name: str) -> Journal:
    target = folder / name
    shutil.copyfile(path, target)
    return open_journal(f"sqlite:///{target}", clock=lambda: T0)


def _timed_recover(runner: Runner) -> tuple[float, float]:
    began, cpu = time.perf_counter(), time.process_time()
    runner.recover()
    return time.perf_counter() - began, time.process_time() - cpu


def measure_runner_restart(n_events: int, *, tail: int = 0, repeat: int = 1
                           ) -> dict[str, float]:
    """``Runner.recover()`` from a full fold vs from a schema-3 snapshot ``tail`` entries
    before the head (medians of ``repeat`` runs, each on a fresh copy of the journal).

    Raises
    ------
    SystemExit
        The two restarts disagree on :func:`fold_digest`.
    """
    path, _ = cached_journal(n_events)
    with tempfile.TemporaryDirectory(prefix="stratops-runner-restart-") as tmp:
        folder = Path(tmp)
        prefix = _copy(path, folder, "prefix.db")  # a fold of 1..head-tail, snapshotted
        folded = _runner(prefix, BookedBroker(LiveState()))
        folded.fold_journal(upto=n_events - tail)
        seq, entry_hash = folded.journal_position
        began = time.perf_counter()
        store = snapshot_store(prefix)
        size = write_snapshot(folded.state, seq, entry_hash, store,
                              runner=fold_memory(folded), fingerprint=fold_fingerprint(folded))
        write_s = time.perf_counter() - began
        folded.fold_journal()  # on to the head: the books the broker reports
        books = BookedBroker(folded.state)
        prefix.engine.dispose()
        full, snap, digests = [], [], set()
        for i in range(repeat):
            runner = _runner(_copy(path, folder, f"full-{i}.db"), books)
            full.append(_timed_recover(runner))
            digests.add(fold_digest(runner))
            runner.journal.engine.dispose()
            journal = _copy(folder / "prefix.db", folder, f"snap-{i}.db")
            runner = _runner(journal, books, SnapshotCadence(journal))
            snap.append(_timed_recover(runner))
            digests.add(fold_digest(runner))
            journal.engine.dispose()
    if len(digests) != 1:
        raise SystemExit("runner restart from a snapshot: fold digest differs from a full fold")
    full_s, snap_s = (statistics.median(w for w, _ in x) for x in (full, snap))
    full_cpu, snap_cpu = (statistics.median(c for _, c in x) for x in (full, snap))
    return {"runner_snapshot_write_s": write_s, "runner_snapshot_mb": size / 1e6,
            "runner_recover_full_fold_cpu_s": full_cpu, "runner_recover_snapshot_cpu_s": snap_cpu,
            "runner_recover_full_fold_s": full_s, "runner_recover_snapshot_s": snap_s,
            "runner_speedup": full_s / snap_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tail", type=int, default=0,
                        help="entries after the snapshot (0: a snapshot at the head)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runner-repeat", type=int, default=1,
                        help="runs of each Runner.recover() (0: skip the runner)")
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
    names = ["restart_full_fold_cpu_s", "restart_snapshot_cpu_s", "restart_full_fold_s",
             "restart_snapshot_s", "snapshot_mb", "speedup"]
    if args.runner_repeat > 0:
        runner = measure_runner_restart(args.events, tail=args.tail, repeat=args.runner_repeat)
        out.update(runner)
        met = "MET" if runner["runner_recover_snapshot_s"] < TARGET_S else "NOT MET"
        print(f"Runner.recover() (everything the fold rebuilds, same fold digest; broker "
              f"reconciliation included): full fold {runner['runner_recover_full_fold_s']:.2f} "
              f"s, snapshot + tail {runner['runner_recover_snapshot_s']:.3f} s (target < "
              f"{TARGET_S:g} s: {met}); CPU {runner['runner_recover_full_fold_cpu_s']:.2f} s vs "
              f"{runner['runner_recover_snapshot_cpu_s']:.3f} s; the snapshot (state and runner "
              f"memory) {runner['runner_snapshot_mb']:.1f} MB, written in "
              f"{runner['runner_snapshot_write_s']:.2f} s")
        out["runner_target_met"] = float(runner["runner_recover_snapshot_s"] < TARGET_S)
        names += ["runner_snapshot_mb", "runner_recover_full_fold_cpu_s",
                  "runner_recover_snapshot_cpu_s", "runner_recover_full_fold_s",
                  "runner_recover_snapshot_s", "runner_target_met", "runner_speedup"]
    for name in names:
        print(f"{name}: {out[name]:.3f}")


if __name__ == "__main__":
    main()
