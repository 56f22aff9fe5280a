"""What ``stratops svc <name>`` runs: the live side as processes over the NATS JetStream bus
(:mod:`live.svc`), built from the settings (``live.bus``)."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

from live.state import state_hash
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import EVENTS, MARKET_DATA, BusLayout, ConsumerSpec
from stratops.settings import Settings, SettingsError

log = logging.getLogger("stratops.svc")
SERVICES = ("market-data", "signal", "risk", "execution", "state")
MERGED = {  # services that run inside another, and why (README, Services over NATS JetStream)
    "signal": "execution",
    "risk": "execution",
}


def svc_alert(code: str, message: str) -> None:
    """A service's bus alert (a gap, a hold, a parked poison message): CRITICAL log line."""
    log.critical("bus alert %s: %s", code, message)


def bus_transport(settings: Settings, service: str, publishes: str | None,
                  consumer: ConsumerSpec | None = None) -> JetStreamTransport:
    """A JetStream transport for ``service`` (a new publisher id each start), refusing a
    settings file whose bus is the in-process one."""
    bus = settings.live.bus
    if bus.transport != "jetstream":
        raise SettingsError(f"live.bus.transport is {bus.transport!r}: `stratops svc` needs "
                            "'jetstream' (README, Services over NATS JetStream)")
    return JetStreamTransport(bus.url, BusLayout(bus.stream_prefix),
                              publisher=f"{service}-{uuid.uuid4().hex[:12]}",
                              publishes=publishes, consumer=consumer, alert=svc_alert,
                              publish_deadline_seconds=bus.publish_deadline_seconds,
                              gap_timeout_seconds=bus.gap_timeout_seconds)


def run_market_data(settings: Settings, dataset: str, start: date | None, end: date | None,
                    symbols: list[str], max_bars: int | None) -> int:
    """Publish a replayed dataset's bars; returns how many."""
    from itertools import islice

    from live.runner.feed import replay_bars, replay_frame
    from live.svc.market_data import publish_bars
    from pipelines.datasets.catalog import find_dataset

    frame = replay_frame(find_dataset(settings.root, dataset).path, symbols, start, end)
    transport = bus_transport(settings, "market-data", MARKET_DATA)
    try:
        return publish_bars(transport, islice(replay_bars(frame), max_bars))
    finally:
        transport.close()


def run_execution(settings: Settings, mode: str, feed: str, start: date | None,
                  end: date | None, strategies: list[str] | None, candidates: bool,
                  idle_exit_seconds: float | None) -> dict[str, Any]:
    """The runner of MODE (governed like ``stratops live run``; ``feed`` gives the caps'
    history and contracts) on the bus's bars; returns its summary."""
    from live.svc.execution import serve_execution
    from live.svc.mirror import MirrorTransport
    from stratops.live_ops import prepare
    from stratops.observability_ops import Observability

    layout = BusLayout(settings.live.bus.stream_prefix)
    observability = Observability(settings, service=f"svc-execution-{mode}")
    transport = bus_transport(settings, "execution", EVENTS,
                              layout.consumer(MARKET_DATA, f"execution-{mode}", ordered=True))
    try:
        prepared = prepare(mode, feed, start, end, strategies, candidates, settings,
                           transport=MirrorTransport(transport), observability=observability)
        summary = serve_execution(prepared.runner, transport,
                                  idle_exit_seconds=idle_exit_seconds,
                                  warm=prepared.warm)
        runner = prepared.runner
        return {"mode": mode, "bars": summary.bars, "intents": summary.intents,
                "fills": summary.fills, "alerts": list(summary.alerts),
                "journal_seq": runner.journal.head()[0], "state_hash": state_hash(runner.state)}
    finally:
        transport.close()
        observability.close()


def run_state(settings: Settings, journal_url: str, durable: str,
              idle_exit_seconds: float | None) -> dict[str, Any]:
    """The replica journal at ``journal_url`` fed by the mirrored events; its summary."""
    from live.journal import open_journal
    from live.svc.state import serve_state
    from stratops.clock import utc_now
    from stratops.observability_ops import Observability

    layout = BusLayout(settings.live.bus.stream_prefix)
    observability = Observability(settings, service="svc-state")
    transport = bus_transport(settings, "state", None, layout.consumer(EVENTS, durable))
    try:
        sink = serve_state(open_journal(journal_url, settings.root, clock=utc_now), transport,
                           idle_exit_seconds=idle_exit_seconds, metrics=observability.metrics)
        return {"appended": sink.appended, "journal_seq": sink.journal.head()[0],
                "parked": transport.parked, "state_hash": state_hash(sink.state)}
    finally:
        transport.close()
        observability.close()
