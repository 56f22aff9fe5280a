"""``stratops svc twin`` (live/svc/twin.py): the paper twin on the real NATS JetStream
market-data stream trades as the embedded twin on the same bars, and resumes after a
restart without trading a bar twice."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from live.events import BarClosed, OrderSubmitted
from live.runner.deployments import build
from live.state import trading_state_hash
from live.svc.market_data import publish_bars
from live.svc.twin import serve_twin
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import MARKET_DATA, BusLayout
from strategies.version_config import VersionConfig
from stratops.settings import Settings
from stratops.twin_ops import open_twin_runner
from tests.integration.jetstream import NATS_URL, layout
from tests.unit.test_runner_engine import day_bars, strategy_config

__all__ = ["layout"]
pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BARS = 90


def _twin(root: Path) -> Any:
    root.mkdir(exist_ok=True)
    for name in ("policy.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    deployed = [build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)]
    return open_twin_runner(Settings(root=root), "live", deployed)


def _serve(root: Path, layout: BusLayout) -> Any:
    runner = _twin(root)
    bus = JetStreamTransport(NATS_URL, layout, publisher="twin-test",
                             consumer=layout.consumer(MARKET_DATA, "twin-live", ordered=True))
    try:
        serve_twin(runner, bus, idle_exit_seconds=1.0)
    finally:
        bus.close()
        runner.journal.engine.dispose()
    return runner


def _publish(layout: BusLayout, bars: list[Any]) -> None:
    md = JetStreamTransport(NATS_URL, layout, publisher=f"md-{bars[0].ts:%H%M}",
                            publishes=MARKET_DATA)
    try:
        publish_bars(md, bars)
    finally:
        md.close()


def test_svc_twin_trades_as_the_embedded_twin_and_resumes_after_a_restart(
        tmp_path: Path, layout: BusLayout) -> None:
    bars = day_bars(BARS)
    embedded = _twin(tmp_path / "embedded")
    embedded.recover()
    embedded.run(bars)
    _publish(layout, bars[:50])
    _serve(tmp_path / "svc", layout)
    _publish(layout, bars[50:])  # the service restarted: its consumer resumes after bar 50
    served = _serve(tmp_path / "svc", layout)
    assert trading_state_hash(served.state) == trading_state_hash(embedded.state)
    journal = served.journal
    closed = [m.ts_event for _, m in journal.read() if isinstance(m, BarClosed)]
    assert closed == [b.ts for b in bars]
    assert sum(1 for _, m in journal.read() if isinstance(m, OrderSubmitted)) == sum(
        1 for _, m in embedded.journal.read() if isinstance(m, OrderSubmitted)) > 0
