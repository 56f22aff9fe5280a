"""``stratops live serve``: the long-lived service (README, Running as a service)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from stratops.cli_common import JsonOpt, print_json


def serve(
    mode: Annotated[str, typer.Option(help="shadow | canary | live")] = "shadow",
    feed: Annotated[str, typer.Option(help="replay:<dataset> | kite (with --broker kite: "
                                           "one session per process)")]
    = "replay:nse_futures_front_1m",
    broker: Annotated[str, typer.Option(help="paper | kite")] = "paper",
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s")] = None,
    candidates: Annotated[bool, typer.Option(
        help="shadow only: the latest registered (unapproved) versions")] = False,
    speed: Annotated[float, typer.Option(help="replay speed x real time; 0 = flat out")] = 0.0,
    sim_start: Annotated[str | None, typer.Option(
        help="simulated time from this instant (ISO with offset; a demo or a drill): sleeps "
             "jump, the replay moves the clock")] = None,
    sessions: Annotated[int | None, typer.Option(
        min=1, help="stop (exit 0) after this many sessions")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve session after session: wait for the NSE session, hold until the broker session
    is ready (paging), trade it, flatten at the cutoff, write the day's reconciliation,
    sleep to the next. SIGTERM/SIGINT stop it gracefully (exit 0)."""
    from live.service.clock import StopSignal
    from stratops.live_ops import MODES, LiveSetupError
    from stratops.observability_ops import Observability
    from stratops.settings import load_settings

    settings = load_settings()
    if mode not in MODES:
        raise LiveSetupError(f"--mode {mode!r}: one of {MODES}")
    if settings.live.ha.enabled:  # never an unfenced writer beside a fenced pair
        raise LiveSetupError("live serve does not run under the hot-standby lease: with "
                             "live.ha.enabled use `stratops live run [--standby]`")
    stop = StopSignal()
    observability = Observability(settings, service=f"live-serve-{mode}")
    try:
        _serve(settings, observability, stop, mode=mode, feed=feed, broker=broker,
               strategy=strategy, candidates=candidates, speed=speed, sim_start=sim_start,
               sessions=sessions, as_json=as_json)
    finally:
        observability.close()


def _serve(settings: Any, observability: Any, stop: Any, *, mode: str, feed: str, broker: str,
           strategy: list[str] | None, candidates: bool, speed: float, sim_start: str | None,
           sessions: int | None, as_json: bool) -> None:
    from live.service.clock import ServiceClock, SimulatedClock
    from live.service.service import LiveService, ServeConfig
    from stratops.serve_ops import (
        DeskWatch,
        WallClock,
        day_factory,
        install_stop_handlers,
        pager,
        stderr_log,
    )

    clock: ServiceClock = WallClock(stop, beat=observability.beat) if sim_start is None \
        else SimulatedClock(_instant(sim_start))
    log = stderr_log(clock)
    if observability.url is not None:
        log(f"metrics: {observability.url}")
    pagers = pager(settings, log)
    factory = day_factory(settings, mode=mode, feed=feed, broker=broker, strategies=strategy,
                          candidates=candidates, speed=speed, clock=clock, stop=stop,
                          pager=pagers, observability=observability)
    if feed == "kite":  # one KiteTicker per process: one session, then systemd restarts it
        sessions = 1
    knobs = settings.live.serve
    config = ServeConfig(
        report_dir=settings.path(knobs.report_dir) / mode,
        preopen=timedelta(minutes=knobs.preopen_minutes),
        page_every=timedelta(minutes=knobs.page_every_minutes),
        wake=timedelta(seconds=knobs.wake_seconds),
        flatten_wait=timedelta(minutes=knobs.flatten_wait_minutes), max_sessions=sessions)
    install_stop_handlers(stop, log)
    from stratops.attribution_ops import attribution_close_sink
    from stratops.compliance_ops import day_close_report
    from stratops.tca_ops import day_close_sink
    from stratops.twin_ops import twin_close_sink

    twin = twin_close_sink(settings, mode, log)  # live.paper_twin: beside live, daily report
    service = LiveService(factory=factory, clock=clock, stop=stop, pager=pagers,
                          config=config, log=log, desk_poll=DeskWatch(settings),
                          tca_sink=day_close_sink(settings, log),
                          attribution_sink=attribution_close_sink(settings, log),
                          compliance_sink=day_close_report(settings, mode, log),
                          twin_sink=twin, twin_feed=None if twin is None else twin.beside)
    log(f"stratops live serve: mode {mode}, feed {feed}, broker {broker} (SIGTERM stops it)")
    with _alerts_delivered(settings, mode):  # alerts.* (README, Alert delivery)
        result = service.serve()
    if as_json:
        print_json({"stopped": result.stop_reason, "days": [
            {"day": d.window.day.isoformat(), "status": d.status, "detail": d.detail,
             "flat_confirmed": d.confirmed, "report": None if d.report is None else str(d.report)}
            for d in result.days]})
        return
    for d in result.days:
        detail = f" - {d.detail}" if d.detail else ""
        report = "" if d.report is None else f"  reports {d.report}"
        typer.echo(f"{d.window.day}: {d.status}{detail}{report}")
    typer.echo(f"stopped: {result.stop_reason}")


@contextmanager
def _alerts_delivered(settings: Any, mode: str) -> Iterator[None]:
    """The alert-delivery worker over the mode's journal for the whole service (the days'
    alerts and the service's own holds, which it journals there)."""
    if not settings.alerts.enabled:
        yield
        return
    from stratops.alerts_ops import alert_delivery
    from stratops.live_ops import open_mode_journal

    journal = open_mode_journal(settings, mode)
    try:
        start = journal.head()[0]
    finally:
        journal.engine.dispose()
    with alert_delivery(settings, mode, start):
        yield


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"--sim-start {text!r} is not an ISO time") from None
    if when.tzinfo is None:
        raise typer.BadParameter(f"--sim-start {text!r} needs an offset (e.g. +05:30)")
    return when
