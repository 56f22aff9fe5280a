"""What ``stratops svc <name>`` runs: the live side as processes over the NATS JetStream bus
(:mod:`live.svc`), built from the settings (``live.bus``)."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

from live.state import state_hash
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import (
    COMMANDS,
    EVENTS,
    MARKET_DATA,
    RISK,
    SIGNALS,
    BusLayout,
    ConsumerSpec,
)
from stratops.settings import Settings, SettingsError

log = logging.getLogger("stratops.svc")
SERVICES = ("market-data", "signal", "risk", "execution", "state", "twin")
RISK_MODES = ("local", "remote")  # svc execution --risk: the engine in process, or svc risk
SIGNAL_MODES = ("local", "remote")  # svc execution --signals: the kernels here, or svc signal


def svc_alert(code: str, message: str) -> None:
    """A service's bus alert (a gap, a hold, a parked poison message): CRITICAL log line."""
    log.critical("bus alert %s: %s", code, message)


def bus_transport(settings: Settings, service: str, publishes: str | None,
                  consumer: ConsumerSpec | None = None,
                  publish_deadline_seconds: float | None = None) -> JetStreamTransport:
    """A JetStream transport for ``service`` (a new publisher id each start), refusing a
    settings file whose bus is the in-process one."""
    bus = settings.live.bus
    if bus.transport != "jetstream":
        raise SettingsError(f"live.bus.transport is {bus.transport!r}: `stratops svc` needs "
                            "'jetstream' (README, Services over NATS JetStream)")
    return JetStreamTransport(bus.url, BusLayout(bus.stream_prefix),
                              publisher=f"{service}-{uuid.uuid4().hex[:12]}",
                              publishes=publishes, consumer=consumer, alert=svc_alert,
                              publish_deadline_seconds=publish_deadline_seconds or
                              bus.publish_deadline_seconds,
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
                  idle_exit_seconds: float | None, risk: str = "local",
                  risk_deadline_seconds: float = 0.5, signals: str = "local",
                  signal_deadline_seconds: float = 0.25) -> dict[str, Any]:
    """The runner of MODE (governed like ``stratops live run``; ``feed`` gives the caps'
    history and contracts) on the bus's bars; returns its summary. ``risk``: ``local`` (the
    engine in this process) or ``remote`` (``stratops svc risk`` answers each check within
    ``risk_deadline_seconds``, else entries are denied and exits checked here). ``signals``:
    ``local`` (the kernels in this process) or ``remote`` (``stratops svc signal`` publishes
    each bar's signals, awaited ``signal_deadline_seconds``, else no entry on that bar and
    its exits decided here; signals whose regime reading disagrees with this process's are
    not used either: :mod:`live.runner.remote_signal_room`)."""
    from live.events import BarSignals, RiskChecked
    from live.svc.execution import serve_execution
    from live.svc.mirror import MirrorTransport
    from live.svc.remote_risk import RemoteRisk
    from live.svc.remote_signals import RemoteSignals
    from stratops.live_ops import prepare
    from stratops.observability_ops import Observability

    if risk not in RISK_MODES:
        raise SettingsError(f"--risk {risk!r}: one of {RISK_MODES}")
    if signals not in SIGNAL_MODES:
        raise SettingsError(f"--signals {signals!r}: one of {SIGNAL_MODES}")
    layout = BusLayout(settings.live.bus.stream_prefix)
    observability = Observability(settings, service=f"svc-execution-{mode}")
    transport = bus_transport(settings, "execution", EVENTS,
                              layout.consumer(MARKET_DATA, f"execution-{mode}", ordered=True))
    risk_bus = None if risk == "local" else bus_transport(
        settings, "execution-risk", COMMANDS,
        layout.consumer(RISK, f"execution-{mode}-risk", topic=RiskChecked.KIND),
        publish_deadline_seconds=risk_deadline_seconds)

    signal_bus = None if signals == "local" else bus_transport(
        settings, "execution-signals", None,
        layout.consumer(SIGNALS, f"execution-{mode}-signals", topic=BarSignals.KIND))

    def remote(bus: Any, engine: Any, state: Any) -> RemoteRisk:
        assert risk_bus is not None
        return RemoteRisk(bus, engine, state, risk_bus=risk_bus, events_bus=transport,
                          deadline_seconds=risk_deadline_seconds)

    try:
        prepared = prepare(mode, feed, start, end, strategies, candidates, settings,
                           transport=MirrorTransport(transport), observability=observability,
                           risk_answers=None if risk_bus is None else remote,
                           signal_source=None if signal_bus is None else RemoteSignals(
                               signal_bus, deadline_seconds=signal_deadline_seconds))
        summary = serve_execution(prepared.runner, transport,
                                  idle_exit_seconds=idle_exit_seconds,
                                  warm=prepared.warm)
        runner = prepared.runner
        return {"mode": mode, "bars": summary.bars, "intents": summary.intents,
                "fills": summary.fills, "alerts": list(summary.alerts),
                "journal_seq": runner.journal.head()[0], "state_hash": state_hash(runner.state)}
    finally:
        transport.close()
        if risk_bus is not None:
            risk_bus.close()
        if signal_bus is not None:
            signal_bus.close()
        observability.close()


def run_signal(settings: Settings, mode: str, feed: str, start: date | None,
               end: date | None, strategies: list[str] | None, candidates: bool,
               idle_exit_seconds: float | None) -> dict[str, Any]:
    """The signal service of MODE: the versions ``stratops svc execution`` of the same
    arguments would deploy (``prepare``), their signals at every bar of the market-data
    stream (read from its start, after the replay's warm-up) published for ``svc execution
    --signals remote``; returns its summary. The journal is not written here."""
    from live.runner.feed import WarmBar
    from live.svc.signal import SignalService, serve_signal
    from stratops.live_ops import prepare
    from stratops.observability_ops import Observability

    layout = BusLayout(settings.live.bus.stream_prefix)
    transport = bus_transport(settings, "signal", SIGNALS,
                              layout.consumer(MARKET_DATA, f"signal-{mode}", from_start=True))
    observability = Observability(settings, service=f"svc-signal-{mode}")
    try:
        prepared = prepare(mode, feed, start, end, strategies, candidates, settings)
        runner = prepared.runner  # the deployed versions; the runner itself never runs
        runner.journal.engine.dispose()
        service = SignalService(runner.deployed, transport, max_sessions=runner.max_sessions)
        service.warm(item.bar for item in prepared.warm(()) if isinstance(item, WarmBar))
        metrics = observability.metrics
        serve_signal(service, idle_exit_seconds=idle_exit_seconds,
                     beat=None if metrics is None else lambda: metrics.tick(bar=False))
        return {"mode": mode, "published": service.published, "refused": service.refused,
                "parked": transport.parked}
    finally:
        transport.close()
        observability.close()


def run_risk(settings: Settings, mode: str, feed: str, start: date | None, end: date | None,
             strategies: list[str] | None, candidates: bool,
             idle_exit_seconds: float | None) -> dict[str, Any]:
    """The risk service of MODE: the pre-trade engine ``stratops svc execution`` of the same
    arguments would build (``prepare``: limits, policy, portfolio caps, impact budget,
    compliance controls), answering its checks over the state folded from the events
    stream; returns its summary. The journal is not written here."""
    from live.events import CheckRisk
    from live.svc.risk import RiskService, serve_risk
    from stratops.live_ops import prepare
    from stratops.observability_ops import Observability

    layout = BusLayout(settings.live.bus.stream_prefix)
    commands = bus_transport(settings, "risk", RISK,
                             layout.consumer(COMMANDS, f"risk-{mode}", topic=CheckRisk.KIND))
    events = bus_transport(settings, "risk-state", None,
                           layout.consumer(EVENTS, f"risk-{mode}-state", from_start=True))
    observability = Observability(settings, service=f"svc-risk-{mode}")
    try:
        prepared = prepare(mode, feed, start, end, strategies, candidates, settings)
        engine = prepared.runner.risk  # the configured engine; the runner itself never runs
        prepared.runner.journal.engine.dispose()
        metrics = observability.metrics
        service = serve_risk(RiskService(engine, commands, events),
                             idle_exit_seconds=idle_exit_seconds,
                             beat=None if metrics is None else lambda: metrics.tick(bar=False))
        return {"mode": mode, "answered": service.answered, "events_folded": service.position,
                "parked": commands.parked, "state_hash": state_hash(service.state)}
    finally:
        commands.close()
        events.close()
        observability.close()


def run_twin(settings: Settings, mode: str, feed: str, start: date | None, end: date | None,
             strategies: list[str] | None, candidates: bool,
             idle_exit_seconds: float | None) -> dict[str, Any]:
    """The paper twin of MODE as a service: the versions ``stratops svc execution`` of the
    same arguments would deploy (``prepare``), traded by a paper runner over the twin's own
    journal and exchange (:func:`stratops.twin_ops.open_twin_runner`) on the market-data
    stream; returns its summary. The live journal is not written here."""
    from live.svc.twin import serve_twin
    from stratops.live_ops import prepare
    from stratops.twin_ops import open_twin_runner

    layout = BusLayout(settings.live.bus.stream_prefix)
    transport = bus_transport(settings, "twin", None,
                              layout.consumer(MARKET_DATA, f"twin-{mode}", ordered=True))
    try:
        prepared = prepare(mode, feed, start, end, strategies, candidates, settings)
        prepared.runner.journal.engine.dispose()  # the versions; the live runner never runs
        twin = open_twin_runner(settings, mode, list(prepared.runner.deployed))
        try:
            summary = serve_twin(twin, transport, idle_exit_seconds=idle_exit_seconds,
                                 warm=prepared.warm)
            return {"mode": mode, "bars": summary.bars, "intents": summary.intents,
                    "fills": summary.fills, "journal_seq": twin.journal.head()[0],
                    "parked": transport.parked, "state_hash": state_hash(twin.state)}
        finally:
            twin.journal.engine.dispose()
    finally:
        transport.close()


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
