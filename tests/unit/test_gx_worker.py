"""The GX head start (``data import``): a forked worker runs the same suite, with the same
outcomes, and the parent never imports Great Expectations; where forking is unsafe the
suite runs in process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines.datasets.gx_worker import can_fork, gx_head_start
from pipelines.datasets.schema import KIND_DAILY
from pipelines.datasets.validation import validate_bars
from tests.stubs import nyse_daily_bars

REPO = Path(__file__).resolve().parents[2]

# In a fresh interpreter (no numpy yet), as `stratops data import` starts. Row 10 breaks
# "high >= open" so that failing rows with their line numbers come back from the worker.
SCRIPT = """
import json, sys
from pipelines.datasets.gx_worker import gx_head_start
with gx_head_start() as run_suite:
    from pipelines.datasets.validation import validate_bars
    from tests.stubs import nyse_daily_bars
    frame = nyse_daily_bars()
    frame.loc[10, "open"] = 1e9
    report = validate_bars(frame, name="t", kind="ohlcv_daily", venue="NYSE", timeframe="1d",
                           has_volume=True, run_suite=run_suite)
print(json.dumps({"worker": run_suite is not None,
                  "gx_in_parent": "great_expectations" in sys.modules,
                  "report": report.to_dict()}, default=str))
"""


def test_gx_worker_outcomes_equal_in_process_and_parent_skips_gx() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=300,
                          check=True)
    forked = json.loads(proc.stdout)
    frame = nyse_daily_bars()
    frame.loc[10, "open"] = 1e9
    here = validate_bars(frame, name="t", kind=KIND_DAILY, venue="NYSE", timeframe="1d",
                         has_volume=True)
    assert (forked["worker"], forked["gx_in_parent"]) == (True, False)
    assert forked["report"] == json.loads(json.dumps(here.to_dict(), default=str))
    assert not forked["report"]["passed"]


def test_gx_head_start_runs_in_process_where_forking_is_unsafe() -> None:
    assert "numpy" in sys.modules  # this test process: BLAS thread pools may be running
    assert not can_fork()
    with gx_head_start() as run_suite:
        assert run_suite is None


def test_gx_head_start_unused_worker_leaves_no_process() -> None:
    script = ("import multiprocessing\n"
              "from pipelines.datasets.gx_worker import gx_head_start\n"
              "with gx_head_start() as run_suite:\n"
              "    started = len(multiprocessing.active_children())\n"
              "print(run_suite is not None, started, len(multiprocessing.active_children()))")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=120,
                         check=True).stdout.split()
    assert out == ["True", "1", "0"]
