"""Execution algos through a real SIGKILL: kill the runner between a child's intent and its
submit (and after its submit), restart it, and require no child sent twice at the paper
exchange and the same final trading state as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
DRIVER = Path(__file__).with_name("algo_driver.py")
ROOT = Path(__file__).resolve().parents[2]
VWAP = json.dumps({"name": "vwap", "horizon_minutes": 10, "child_count": 4,
                   "randomise_pct": 20.0})


def _drive(folder: Path, crash: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(DRIVER), str(folder), VWAP, crash], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _result(_drive(tmp_path_factory.mktemp("clean")))
    assert result["parents"] >= 1 and result["orders"] >= 4 and result["max_submits"] == 1
    return result


@pytest.mark.parametrize("point", ["after_intent:3", "after_submit:2"])
def test_algo_sigkill_then_restart_sends_no_child_twice(point: str, tmp_path: Path,
                                                        uninterrupted: dict[str, Any]) -> None:
    crashed = _drive(tmp_path, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    result = _result(_drive(tmp_path))
    assert result["max_submits"] == 1
    assert result["hash"] == uninterrupted["hash"]
