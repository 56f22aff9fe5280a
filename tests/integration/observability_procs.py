"""Helpers of the observability tests: a free loopback port, the metrics driver as a real
process, a scrape, and the watchdog as a real process (``stratops watchdog``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_driver(kind: str, folder: Path, port: int, wait_for: str
                 ) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "STRATOPS_OBSERVABILITY__METRICS__PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.metrics_driver", kind,
                             str(folder)], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if wait_for in line:
            return proc
    proc.wait()
    pytest.fail(f"the driver ended before {wait_for!r}: "
                f"{proc.stderr.read() if proc.stderr else ''}")


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def start_watchdog(port: int, page_file: Path, budget_s: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "STRATOPS_OBSERVABILITY__WATCHDOG__BUDGET_SECONDS": str(budget_s),
           "STRATOPS_OBSERVABILITY__WATCHDOG__INTERVAL_SECONDS": "0.2",
           "STRATOPS_OBSERVABILITY__WATCHDOG__TIMEOUT_SECONDS": "1.0"}
    return subprocess.Popen([sys.executable, "-m", "stratops.cli", "watchdog", "--url",
                             f"http://127.0.0.1:{port}/metrics", "--page-file",
                             str(page_file)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
