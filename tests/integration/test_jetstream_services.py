"""The live side as separate processes over the real NATS JetStream server: the
market-data service (``stratops svc market-data``) publishes a replayed morning, the
execution service trades it and mirrors its journal, the state service (``stratops svc
state``) keeps a replica - ending in the embedded runner's exact state; and an execution
service SIGKILLed between receiving a bar and acking it is restarted, gets the bar again and
sends no order twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from live.events import AlertRaised, Severity
from live.runner.runner import Runner
from live.svc.execution import serve_execution
from live.svc.market_data import bar_envelope, publish_bars
from live.svc.mirror import MirrorTransport
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import EVENTS, MARKET_DATA, BusLayout
from live.transport.wire import MSG_ID, encode
from tests.doubles import spy_preloads
from tests.integration import svc_driver
from tests.integration.jetstream import NATS_URL, layout, raw_publish

__all__ = ["layout"]
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("svc_driver.py")
BARS = 150  # the morning of 2025-03-03: a dozen orders of ema_cross


def _env(layout: BusLayout) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "STRATOPS_LIVE__BUS__TRANSPORT": "jetstream",
            "STRATOPS_LIVE__BUS__STREAM_PREFIX": layout.prefix}


def _execution(folder: Path, layout: BusLayout, crash: str = ""
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DRIVER), "execution", str(folder),
                           layout.prefix, crash], env=_env(layout), capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The embedded (in-process bus) runner over the same bars."""
    run, exchange = svc_driver.runner(tmp_path_factory.mktemp("embedded"), None)
    run.recover()
    run.run(svc_driver.day_bars(BARS))
    result = svc_driver.report(run, exchange)
    assert result["orders"] >= 6 and result["max_submits"] == 1
    return result


def test_services_over_jetstream_end_in_the_embedded_runners_state(
        layout: BusLayout, tmp_path: Path, embedded: dict[str, Any]) -> None:
    stratops = str(Path(sys.executable).with_name("stratops"))
    state = subprocess.Popen(
        [stratops, "svc", "state", "--journal", f"sqlite:///{tmp_path / 'replica.db'}",
         "--idle-exit-seconds", "4", "--json"], env=_env(layout), cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    market = subprocess.run(
        [stratops, "svc", "market-data", "--from", "2025-03-03", "--to", "2025-03-03",
         "--max-bars", str(BARS), "--json"], env=_env(layout), cwd=ROOT, text=True,
        capture_output=True, timeout=120)
    assert market.returncode == 0, market.stderr
    assert json.loads(market.stdout) == {"published": BARS}
    execution = _result(_execution(tmp_path / "exec", layout))
    out, err = state.communicate(timeout=120)
    assert state.returncode == 0, err[-3000:]
    replica = json.loads(out)
    assert execution["hash"] == embedded["hash"] and execution["max_submits"] == 1
    assert execution["state_hash"] == embedded["state_hash"]
    assert replica["state_hash"] == execution["state_hash"] and replica["parked"] == 0
    assert "bus_sequence_gap" not in err  # every event mirrored once, numbered in order


def test_execution_sigkilled_before_its_ack_gets_the_bar_again_and_sends_nothing_twice(
        layout: BusLayout, tmp_path: Path, embedded: dict[str, Any]) -> None:
    md = JetStreamTransport(NATS_URL, layout, publisher="md-test", publishes=MARKET_DATA)
    try:
        publish_bars(md, svc_driver.day_bars(BARS))
    finally:
        md.close()
    folder = tmp_path / "exec"
    folder.mkdir()
    crashed = _execution(folder, layout, "after_submit:3")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    restarted = _result(_execution(folder, layout))
    assert restarted["max_submits"] == 1  # the redelivered bar sent no order again
    assert restarted["hash"] == embedded["hash"]


def _serve(folder: Path, layout: BusLayout) -> Runner:
    bus = JetStreamTransport(NATS_URL, layout, publisher=f"execution-{folder.name}",
                             publishes=EVENTS,
                             consumer=layout.consumer(MARKET_DATA, "execution", ordered=True))
    try:
        run, _ = svc_driver.runner(folder, MirrorTransport(bus))
        serve_execution(run, bus, idle_exit_seconds=0.5)
        return run
    finally:
        bus.close()


def test_execution_journals_a_parked_poison_bar_as_a_critical_alert_and_goes_on(
        layout: BusLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preloads = spy_preloads(monkeypatch)
    bars = svc_driver.day_bars(3)
    md = JetStreamTransport(NATS_URL, layout, publisher="md-test", publishes=MARKET_DATA)
    try:
        publish_bars(md, bars[:2])
        _serve(tmp_path, layout)
        _, headers = encode(bar_envelope(bars[2]), "md-test", 3)
        raw_publish(layout.subject(MARKET_DATA, "BarClosed"), b"\x00garbage",
                    {**headers, MSG_ID: "poison-1"})
        publish_bars(md, bars[2:])
    finally:
        md.close()
    run = _serve(tmp_path, layout)  # restarted: its state (last bar) from the journal
    alerts = [m for _, m in run.journal.read(1) if isinstance(m, AlertRaised)]
    assert [(a.code, a.severity) for a in alerts] == [("bus_poison_parked", Severity.CRITICAL)]
    assert run.state.last_bars["NIFTY"].ts_event == bars[2].ts
    assert len(preloads) == 2 and preloads[-1] is run  # each start warmed before its bars
