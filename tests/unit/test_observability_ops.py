"""The app layer's observability starter: the endpoint binds where the settings say, a taken
port refuses the start naming the key, the port is released at close, and ``live serve``'s
wall clock beats while it sleeps between sessions."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from live.service.clock import StopSignal
from stratops.errors import LiveSetupError
from stratops.observability_ops import MetricsPortError, Observability, metrics_url
from stratops.serve_ops import WallClock
from stratops.settings import Settings


@pytest.fixture(autouse=True)
def _port_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATOPS_OBSERVABILITY__METRICS__PORT", raising=False)  # conftest's 0


def settings_on(tmp_path: Path, port: int, **tracing: str) -> Settings:
    return Settings(root=tmp_path, observability={"metrics": {"port": port},
                                                  "tracing": tracing or {"exporter": "off"}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_observability_serves_metrics_on_the_configured_port_until_closed(
        tmp_path: Path) -> None:
    port = free_port()
    first = Observability(settings_on(tmp_path, port), service="test")
    assert first.url == f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(first.url, timeout=5) as response:
        assert b"stratops_heartbeat_timestamp_seconds" in response.read()
    first.close()
    again = Observability(settings_on(tmp_path, port), service="test")  # released
    again.close()


def test_observability_on_a_taken_port_refuses_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortError, match=f"127.0.0.1:{port}.*"
                                                   "STRATOPS_OBSERVABILITY__METRICS__PORT"):
            Observability(settings_on(tmp_path, port), service="test")


def test_observability_port_0_serves_nothing_and_the_watchdog_needs_a_url(
        tmp_path: Path) -> None:
    off = Observability(settings_on(tmp_path, 0), service="test")
    assert off.metrics is None and off.url is None
    off.close()
    with pytest.raises(LiveSetupError, match="give the watchdog --url"):
        metrics_url(settings_on(tmp_path, 0))


def test_observability_console_tracing_builds_a_span_emitter(tmp_path: Path) -> None:
    traced = Observability(settings_on(tmp_path, 0, exporter="console"), service="test")
    assert traced.emitter is not None and traced.processor is not None
    traced.close()


def test_wall_clock_beats_while_sleeping_between_sessions() -> None:
    beats: list[int] = []
    clock = WallClock(StopSignal(), beat=lambda: beats.append(1))
    clock.sleep(0.05)
    assert len(beats) >= 1
    stopped = StopSignal()
    stopped.set("SIGTERM received")
    WallClock(stopped, beat=lambda: beats.append(2)).sleep(10)  # returns at once
    assert 2 not in beats
