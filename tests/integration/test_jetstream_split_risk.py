"""Risk as a process of its own over the real NATS JetStream server: market data -> execution
(signals, journal-first intents) -> risk service (``CheckRisk`` answered over the state it
folds from the events stream) -> execution ends in exactly the embedded runner's state on the
same bars; a SIGKILLed risk service holds new entries (denied, ``risk_unanswered``) while exits
still go, and a restarted one resumes the orders - nothing sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from live.events import AlertRaised, BarClosed, OrderIntended, SignalRaised, SignalSide
from live.journal import open_journal
from live.svc.market_data import publish_bars
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import EVENTS, MARKET_DATA, BusLayout
from tests.integration import svc_driver
from tests.integration.jetstream import NATS_URL, layout

__all__ = ["layout"]
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("svc_driver.py")
BARS = 150


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _risk(layout: BusLayout) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(DRIVER), "risk", "-", layout.prefix],
                            env=_env(), cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _execution(folder: Path, layout: BusLayout, idle_exit: float = 1.5) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(DRIVER), "execution-remote", str(folder),
                           layout.prefix, str(idle_exit)], env=_env(), capture_output=True,
                          text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _publish(layout: BusLayout, bars: list[Any]) -> None:
    md = JetStreamTransport(NATS_URL, layout, publisher=f"md-{bars[0].ts:%H%M}",
                            publishes=MARKET_DATA)
    try:
        publish_bars(md, bars)
    finally:
        md.close()


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The embedded runner with the same pre-trade engine in process, over the same bars."""
    run, exchange = svc_driver.runner(tmp_path_factory.mktemp("embedded-risk"), None,
                                      engine=svc_driver.pretrade_engine())
    run.recover()
    run.run(svc_driver.day_bars(BARS))
    result = svc_driver.report(run, exchange)
    assert result["orders"] >= 6 and result["max_submits"] == 1
    return result


def test_split_risk_service_ends_in_the_embedded_runners_state(
        layout: BusLayout, tmp_path: Path, embedded: dict[str, Any]) -> None:
    risk = _risk(layout)
    try:
        _publish(layout, svc_driver.day_bars(BARS))
        split = _execution(tmp_path / "exec", layout)
    finally:
        _stop(risk)
    assert split["unanswered"] == 0  # every check answered by the risk service
    assert split["state_hash"] == embedded["state_hash"]
    assert split["hash"] == embedded["hash"] and split["orders"] == embedded["orders"]
    assert split["max_submits"] == 1


def _inside(folder: Path, start: datetime, end: datetime) -> tuple[set[str], list[Any]]:
    """The trace ids of every entry signal, and the messages journaled for bars in
    [start, end]."""
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}")
    messages = [m for _, m in journal.read(1)]
    journal.engine.dispose()
    entries = {m.trace_id for m in messages
               if isinstance(m, SignalRaised) and m.side is not SignalSide.FLAT}
    return entries, [m for m in messages if start <= m.ts_event <= end]


def _window(folder: Path, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(entry intents, other intents, risk_unanswered alerts) journaled for bars in
    [start, end]."""
    entries, inside = _inside(folder, start, end)
    intents = [m for m in inside if isinstance(m, OrderIntended)]
    entry = sum(m.trace_id in entries and not m.protective for m in intents)
    unanswered = sum(isinstance(m, AlertRaised) and m.code == "risk_unanswered"
                     for m in inside)
    return entry, len(intents) - entry, unanswered


def _times(folder: Path, start: datetime, end: datetime) -> tuple[list[datetime],
                                                                 list[datetime]]:
    """Bar times of the entry intents and of the risk_unanswered alerts in [start, end]."""
    entries, inside = _inside(folder, start, end)
    return ([m.ts_event for m in inside if isinstance(m, OrderIntended)
             and m.trace_id in entries and not m.protective],
            [m.ts_event for m in inside
             if isinstance(m, AlertRaised) and m.code == "risk_unanswered"])


def _processed(watch: JetStreamTransport, ts: datetime, timeout_s: float = 90.0) -> None:
    """Wait until the execution service mirrored the bar at ``ts`` and then went quiet for
    a moment (its orders journaled)."""
    deadline = time.monotonic() + timeout_s
    seen = False
    while time.monotonic() < deadline:
        got = watch.fetch(64, 1.0)
        for item in got:
            watch.ack(item)
            message = item.envelope.messages[0]
            seen = seen or (isinstance(message, BarClosed) and message.ts_event == ts)
        if seen and not got:
            return
    raise AssertionError(f"bar {ts} not processed within {timeout_s} s")


def test_sigkilled_risk_service_holds_entries_and_a_restart_resumes_sending_nothing_twice(
        layout: BusLayout, tmp_path: Path) -> None:
    bars = svc_driver.day_bars(BARS)
    first, second, third = bars[:50], bars[50:100], bars[100:]
    folder = tmp_path / "exec"
    folder.mkdir()
    watch = JetStreamTransport(NATS_URL, layout, publisher="watch",
                               consumer=layout.consumer(EVENTS, "watch"))
    risk = _risk(layout)
    execution = subprocess.Popen([sys.executable, str(DRIVER), "execution-remote",
                                  str(folder), layout.prefix, "10"], env=_env(), cwd=ROOT,
                                 text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _publish(layout, first)
        _processed(watch, first[-1].ts)
        _stop(risk, signal.SIGKILL)  # the risk service dies mid-session
        assert risk.returncode == -signal.SIGKILL
        _publish(layout, second)
        _processed(watch, second[-1].ts)
        risk = _risk(layout)  # restarted: folds the events stream again
        _publish(layout, third)
        out, err = execution.communicate(timeout=180)
        assert execution.returncode == 0, err[-3000:]
    finally:
        _stop(risk)
        if execution.poll() is None:
            execution.kill()
        watch.close()
    report = json.loads(out.strip().splitlines()[-1])
    assert report["max_submits"] == 1  # nothing sent twice
    entries, _, unanswered = _window(folder, first[0].ts, first[-1].ts)
    assert entries >= 1 and unanswered == 0
    entries, exits, unanswered = _window(folder, second[0].ts, second[-1].ts)
    assert unanswered >= 1 and entries == 0  # entries denied while risk is away: none sent
    assert exits >= 1  # an exit still went (checked in the execution process: local:)
    # answered again: orders resume. The restarted service's first check can still miss its
    # 0.5 s deadline on a loaded host (seen once in a full -n 2 run): held, as it must be, and
    # never after an entry went through again.
    intents, refusals = _times(folder, third[0].ts, third[-1].ts)
    assert intents and all(t < max(intents) for t in refusals), (intents, refusals)
