"""Research partitions in process vs with Dagster's multiprocess executor: wall time of each
and whether they register the same numbers (they must: every random process is seeded).

Workload: ``stratops research run`` of two strategies (ema_cross, range_breakout) on the
synthetic NSE year, each executor in its own fresh copy of this project (datasets taken from
``data/``: run ``dvc repro`` first). With ``multiprocess`` the two partitions run at once
(``dagster_instance.max_concurrent`` 2), each a run of the multiprocess executor that runs
each step in its own process, so it pays a process start per step: forked from a server
that imported Dagster and the research code once (``start_method: forkserver``, the default)
or a fresh interpreter each (``spawn``, run third for the ratio).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/research_fanout.py`` (1-3 minutes on 2
cores; measured with the partitions one after another: in process 56.9 s, multiprocess
114.2 s; with the fan-out (both partitions at once), features already in ``data/``'s feature
store: in process 13.6 s, multiprocess 51.3 s, ratio 3.76, identical metrics - on 2 shared
cores a process start with its imports per step costs more than the parallelism wins).
The last lines are ``name: value`` pairs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("ema_cross", "range_breakout")
METRICS = ("oos_sharpe", "pbo", "oos_trades", "oos_max_drawdown", "dsr_probability")


def project_copy(dest: Path) -> Path:
    """The repository's files and built datasets in a new git repository."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.splitlines()
    for rel in listed + [str(p.relative_to(ROOT)) for p in (ROOT / "data").rglob("*")
                         if p.is_file()]:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "b"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def research(root: Path, executor: str, start_method: str = "forkserver"
             ) -> tuple[float, dict[str, dict[str, float]]]:
    """Seconds of one research run with ``executor`` (multiprocess: step processes started
    by ``start_method``), and each strategy's metrics."""
    (root / "stratops.yaml").write_text(
        f"dagster_instance:\n  executor: {executor}\n  max_concurrent: 2\n"
        f"  start_method: {start_method}\n")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(STRATOPS_ROOT=str(root), PYTHONPATH=str(ROOT))
    args = [str(Path(sys.executable).parent / "stratops"), "research", "run", "--json"]
    for name in STRATEGIES:
        args += ["-s", name]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, {s["strategy"]: {k: s["version"]["metrics"][k] for k in METRICS}
                     for s in json.loads(proc.stdout)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        in_s, in_metrics = research(project_copy(Path(tmp) / "a"), "in_process")
        mp_s, mp_metrics = research(project_copy(Path(tmp) / "b"), "multiprocess")
        spawn_s, spawn_metrics = research(project_copy(Path(tmp) / "c"), "multiprocess",
                                          "spawn")
    print(f"in_process_seconds: {in_s:.1f}")
    print(f"multiprocess_seconds: {mp_s:.1f}")
    print(f"multiprocess_spawn_seconds: {spawn_s:.1f}")
    print(f"multiprocess_over_in_process: {mp_s / in_s:.2f}")
    print(f"forkserver_over_spawn: {mp_s / spawn_s:.2f}")
    print(f"identical_metrics: {int(in_metrics == mp_metrics == spawn_metrics)}")


if __name__ == "__main__":
    main()
