"""Signals as a process of their own over the real NATS JetStream server: market data ->
signal service (``BarSignals`` per strategy, symbol and bar) -> execution (deciding on them,
journal-first) ends in exactly the embedded runner's state on the same bars,
every signal delivered twice changing nothing; a SIGKILLed signal service holds new entries
(``signal_missing``) and a restarted one resumes them - nothing sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from live.events import (
    AlertRaised,
    BarClosed,
    GovernanceDecided,
    OrderIntended,
    Severity,
    SignalRaised,
    SignalSide,
)
from live.journal import open_journal
from live.runner.loop import SIGNAL_MISMATCH_ALERT, SIGNAL_MISSING_ALERT
from live.svc.market_data import publish_bars
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import EVENTS, MARKET_DATA, SIGNALS, BusLayout
from live.transport.wire import MSG_ID
from tests.integration import svc_driver
from tests.integration.jetstream import NATS_URL, layout, raw_publish
from tests.regime_tiny import tiny_governance

__all__ = ["layout"]
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("svc_driver.py")
BARS = 150


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _signal(layout: BusLayout, seed: int | None = None) -> subprocess.Popen[str]:
    """The signal service; with ``seed``, governed by the tiny classifier of that seed."""
    kind, arg = ("signal", "-") if seed is None else ("signal-governed", str(seed))
    proc = subprocess.Popen([sys.executable, str(DRIVER), kind, arg, layout.prefix],
                            env=_env(), cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _execution(folder: Path, layout: BusLayout, idle_exit: float,
               kind: str = "execution-signals") -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(DRIVER), kind, str(folder),
                             layout.prefix, str(idle_exit)], env=_env(), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _report(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


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


def _signals_stored(layout: BusLayout, count: int, timeout_s: float = 60.0) -> list[Any]:
    """The first ``count`` BarSignals on the signals stream (waiting for them)."""
    reader = JetStreamTransport(NATS_URL, layout, publisher="reader",
                                consumer=layout.consumer(SIGNALS, "reader"))
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < count and time.monotonic() < deadline:
            for item in reader.fetch(64, 0.5):
                reader.ack(item)
                got.append(item)
    finally:
        reader.close()
    assert len(got) == count, f"{len(got)} of {count} signals stored"
    return got


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The embedded runner (the kernel in process) over the same bars."""
    folder = tmp_path_factory.mktemp("embedded-signal")
    run, exchange = svc_driver.runner(folder, None)
    run.recover()
    run.run(svc_driver.day_bars(BARS))
    result = svc_driver.report(run, exchange)
    assert result["orders"] >= 6 and result["max_submits"] == 1
    result["exits"] = _exits(folder, datetime.min.replace(tzinfo=UTC),
                             datetime.max.replace(tzinfo=UTC))
    return result


def test_split_signal_service_ends_in_the_embedded_runners_state_each_signal_used_once(
        layout: BusLayout, tmp_path: Path, embedded: dict[str, Any]) -> None:
    sig = _signal(layout)
    try:
        _publish(layout, svc_driver.day_bars(BARS))
        stored = _signals_stored(layout, BARS)  # one per (strategy, symbol, bar)
    finally:
        _stop(sig)
    for item in stored:  # each delivered again under a new id (past the de-dup window)
        payload, headers = item.raw.data, dict(item.raw.headers)
        headers[MSG_ID] += ":again"
        raw_publish(item.raw.subject, payload, headers)
    split = _report(_execution(tmp_path / "exec", layout, 1.5))
    assert split["missing"] == 0  # every bar's signals came in time
    assert split["stale"] >= 1  # second copies were received (those fetched) and dropped
    assert split["state_hash"] == embedded["state_hash"]
    assert split["hash"] == embedded["hash"] and split["orders"] == embedded["orders"]
    assert split["max_submits"] == 1


def _journaled(folder: Path) -> list[Any]:
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}")
    messages = [m for _, m in journal.read(1)]
    journal.engine.dispose()
    return messages


def _window(folder: Path, start: datetime, end: datetime) -> tuple[int, int]:
    """(entry intents, signal_missing alerts) journaled for bars in [start, end]."""
    messages = _journaled(folder)
    entries = {m.trace_id for m in messages
               if isinstance(m, SignalRaised) and m.side is not SignalSide.FLAT}
    inside = [m for m in messages if start <= m.ts_event <= end]
    entry = sum(isinstance(m, OrderIntended) and m.trace_id in entries and not m.protective
                for m in inside)
    missing = sum(isinstance(m, AlertRaised) and m.code == SIGNAL_MISSING_ALERT
                  for m in inside)
    return entry, missing


def _exits(folder: Path, start: datetime, end: datetime) -> list[datetime]:
    """The bars in [start, end] at which an exit by signal was intended."""
    messages = _journaled(folder)
    exits = {m.trace_id for m in messages if isinstance(m, SignalRaised)
             and m.side is SignalSide.FLAT and m.reason == "signal"}
    return [m.ts_event for m in messages if isinstance(m, OrderIntended)
            and m.trace_id in exits and start <= m.ts_event <= end]


def _processed(watch: JetStreamTransport, ts: datetime, timeout_s: float = 90.0) -> None:
    """Wait until the execution service mirrored the bar at ``ts`` and then went quiet."""
    deadline = time.monotonic() + timeout_s
    seen = False
    while time.monotonic() < deadline:
        got = watch.fetch(64, 0.5)
        for item in got:
            watch.ack(item)
            message = item.envelope.messages[0]
            seen = seen or (isinstance(message, BarClosed) and message.ts_event == ts)
        if seen and not got:
            return
    raise AssertionError(f"bar {ts} not processed within {timeout_s} s")


def test_sigkilled_signal_service_holds_entries_exits_flow_and_a_restart_resumes_once(
        layout: BusLayout, tmp_path: Path, embedded: dict[str, Any]) -> None:
    bars = svc_driver.day_bars(BARS)
    first, second, third = bars[:50], bars[50:100], bars[100:]
    folder = tmp_path / "exec"
    folder.mkdir()
    watch = JetStreamTransport(NATS_URL, layout, publisher="watch",
                               consumer=layout.consumer(EVENTS, "watch"))
    sig = _signal(layout)
    execution = None
    try:
        _publish(layout, first)
        _signals_stored(layout, len(first))  # then execution starts: no race at its start
        execution = _execution(folder, layout, 20.0)  # > a loaded restart of the signal svc
        _processed(watch, first[-1].ts)
        _stop(sig, signal.SIGKILL)  # the signal service dies mid-session
        assert sig.returncode == -signal.SIGKILL
        _publish(layout, second)
        _processed(watch, second[-1].ts)
        sig = _signal(layout)  # restarted: reads the market-data stream again
        _publish(layout, third)
        report = _report(execution)
    finally:
        _stop(sig)
        if execution is not None and execution.poll() is None:
            execution.kill()
        watch.close()
    assert report["max_submits"] == 1  # nothing sent twice
    entries, missing = _window(folder, first[0].ts, first[-1].ts)
    assert entries >= 1 and missing == 0
    entries, missing = _window(folder, second[0].ts, second[-1].ts)
    assert missing == len(second) and entries == 0  # no signals, no entry: held
    # ... but the exit by signal the embedded runner makes in that window (closing the
    # position entered with signals) goes at the same bar, decided on execution's own kernel
    exits = [ts for ts in embedded["exits"] if second[0].ts <= ts <= second[-1].ts]
    assert exits and _exits(folder, second[0].ts, second[-1].ts) == exits[:1]
    entries, missing = _window(folder, third[0].ts, third[-1].ts)
    # signals again: entries resume (a bar whose signals a loaded machine delays past the
    # deadline is held too - fail closed - hence a few allowed, not a whole window)
    assert entries >= 1 and missing <= 5
    assert report["missing"] == len(second) + missing


def test_signal_service_on_another_classifier_holds_entries_alerts_and_journals_both(
        layout: BusLayout, tmp_path: Path) -> None:
    sig = _signal(layout, seed=1)  # execution deploys the classifier of seed 0
    try:
        _publish(layout, svc_driver.day_bars(BARS))
        _signals_stored(layout, BARS)
    finally:
        _stop(sig)
    folder = tmp_path / "exec"
    report = _report(_execution(folder, layout, 1.5, "execution-governed"))
    assert report["missing"] == 0 and report["orders"] == 0  # every entry held: no position
    messages = _journaled(folder)
    alerts = [m for m in messages if isinstance(m, AlertRaised)
              and m.code == SIGNAL_MISMATCH_ALERT]
    assert len(alerts) == BARS and all(a.severity is Severity.CRITICAL for a in alerts)
    theirs, ours = tiny_governance(1).digest, tiny_governance(0).digest
    assert f"signal service v1 regime unknown p None classifier {theirs}" in alerts[0].message
    assert f"execution v1 regime unknown p None classifier {ours}" in alerts[0].message
    entries = {m.trace_id for m in messages
               if isinstance(m, SignalRaised) and m.side is not SignalSide.FLAT}
    held = [m for m in messages if isinstance(m, GovernanceDecided) and m.trace_id in entries]
    assert held and all(not m.allowed and "disagrees (classifier" in m.reason for m in held)
    assert {a.trace_id for a in alerts} >= entries  # each held entry's alert under its trace
    assert not [m for m in messages if isinstance(m, OrderIntended) and m.trace_id in entries]
