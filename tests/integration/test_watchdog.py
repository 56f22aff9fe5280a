"""The dead-man's switch outside the runner, as real processes: a runner trading a paced
replay with its metrics on, and ``stratops watchdog`` scraping it. SIGKILL of the runner
pages within the heartbeat budget; SIGSTOP (a hung process: the endpoint accepts and never
answers) pages once, however long it lasts, and SIGCONT is noted as a recovery."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.observability_procs import free_port, start_driver, start_watchdog

BUDGET_S = 2.5
SLACK_S = 1.5  # a loaded 2-core machine: the watchdog's own start and scheduling


def pages(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_pages(path: Path, count: int, within_s: float) -> float:
    """Seconds until ``path`` holds ``count`` pages (fails after ``within_s``)."""
    start = time.monotonic()
    while time.monotonic() - start < within_s:
        if len(pages(path)) >= count:
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"{count} page(s) expected within {within_s} s, got {pages(path)}")


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    port = free_port()
    runner = start_driver("paced", tmp_path, port, "trading")
    page_file = tmp_path / "pages.jsonl"
    dog = start_watchdog(port, page_file, BUDGET_S)
    try:
        assert dog.stderr is not None
        assert "stratops watchdog:" in dog.stderr.readline()  # it is up
        time.sleep(1.0)  # five checks of a healthy runner
        assert pages(page_file) == [], "a healthy runner paged"
        yield runner, page_file
    finally:
        for proc in (runner, dog):
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.communicate(timeout=30)


def test_watchdog_sigkilled_runner_pages_within_the_budget(
        watched: tuple[subprocess.Popen[str], Path]) -> None:
    runner, page_file = watched
    runner.send_signal(signal.SIGKILL)
    seconds = wait_for_pages(page_file, 1, BUDGET_S + SLACK_S)
    assert seconds <= BUDGET_S + SLACK_S
    time.sleep(1.0)  # more failed checks: still one page for the one incident
    [page] = pages(page_file)
    assert page["kind"] == "runner_unreachable" and page["severity"] == "critical"
    assert page["details"]["error"]  # refused; reset or disconnected if killed mid-scrape


def test_watchdog_sigstopped_runner_pages_once_and_notes_recovery(
        watched: tuple[subprocess.Popen[str], Path]) -> None:
    runner, page_file = watched
    runner.send_signal(signal.SIGSTOP)
    wait_for_pages(page_file, 1, BUDGET_S + SLACK_S)
    time.sleep(1.5)  # frozen on: every check fails, no page storm
    assert [p["kind"] for p in pages(page_file)] in (["runner_unreachable"],
                                                     ["heartbeat_stale"])
    runner.send_signal(signal.SIGCONT)
    wait_for_pages(page_file, 2, BUDGET_S + SLACK_S)
    first, recovered = pages(page_file)
    assert recovered["kind"] == "runner_recovered" and recovered["severity"] == "info"
    assert recovered["details"]["incident"] == first["kind"]
    assert recovered["details"]["lasted_s"] >= 1.5
