"""SIGTERM stops ``stratops live serve``'s service promptly and gracefully, as a real
process: mid-session (the bar in hand finished, ``service_stopped`` journaled, the journal
intact by ``stratops journal verify``) and while it sleeps to the next session; exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live.events import AlertRaised, BarClosed
from live.journal import open_journal

ROOT = Path(__file__).resolve().parents[2]
PROMPT_SECONDS = 5.0  # from SIGTERM to exit (generous for a loaded 2-core machine)


def start(kind: str, folder: Path, wait_for: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.serve_driver", kind,
                             str(folder)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until the driver says where it is
        if wait_for in line:
            return proc
    proc.wait()
    pytest.fail(f"the driver ended before {wait_for!r}: {proc.stderr.read()}")  # type: ignore[union-attr]


def stop(proc: subprocess.Popen[str]) -> tuple[int, float, str]:
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, time.monotonic() - sent, out + err


def verify_cli(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "STRATOPS_LIVE__JOURNAL_URL": f"sqlite:///{folder / 'journal.db'}",
           "STRATOPS_LIVE__CHECKPOINT_DIR": str(folder / "checkpoints")}
    return subprocess.run([sys.executable, "-m", "stratops.cli", "journal", "verify",
                           "--mode", "live"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_sigterm_mid_session_exits_0_promptly_with_the_journal_intact(tmp_path: Path) -> None:
    proc = start("trading", tmp_path, "trading")
    code, seconds, output = stop(proc)
    assert code == 0, output
    assert seconds < PROMPT_SECONDS, output
    assert '"days": ["stopped"]' in output and '"stopped": "SIGTERM received"' in output
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    messages = [m for _, m in journal.read()]
    bars = sum(isinstance(m, BarClosed) for m in messages)
    assert 5 <= bars < 375  # stopped mid-session
    assert isinstance(messages[-1], AlertRaised) and messages[-1].code == "service_stopped"
    verdict = verify_cli(tmp_path)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert "journal chain links" in verdict.stdout


def test_sigterm_while_sleeping_to_the_next_session_exits_0_at_once(tmp_path: Path) -> None:
    proc = start("sleeping", tmp_path, "sleeping until")
    code, seconds, output = stop(proc)
    assert code == 0, output
    assert seconds < PROMPT_SECONDS, output
    assert '"days": []' in output and not (tmp_path / "journal.db").exists()
