"""Start the observability of a long-running process from the settings
(``observability.*``): the Prometheus endpoint, the span exporter, and their attachment to
each runner the process builds (``live run``, ``live serve``'s sessions, ``svc
execution``); plus ``stratops trace show`` and ``stratops watchdog``'s assembly."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratops.clock import utc_now
from stratops.errors import LiveSetupError
from stratops.settings import Settings

if TYPE_CHECKING:
    from live.observability.pager import Pager


class MetricsPortError(LiveSetupError):
    """The metrics endpoint could not bind its address (taken, or not this host's)."""


class Observability:
    """The metrics endpoint and span exporter of one process; :meth:`attach` to each runner,
    :meth:`close` at the end (the port is released, queued spans flushed)."""

    def __init__(self, settings: Settings, *, service: str) -> None:
        from live.observability.metrics import RunnerMetrics

        knobs = settings.observability
        self.metrics: RunnerMetrics | None = None
        self.server: Any = None
        self.url: str | None = None
        self.processor: Any = None
        self.emitter: Any = None
        self.risk_every_s = knobs.metrics.risk_refresh_seconds
        if knobs.metrics.enabled:
            self.metrics = RunnerMetrics(wall=time.time, perf=time.perf_counter)
            self.server, self.url = _serve(self.metrics.registry, knobs.metrics.host,
                                           knobs.metrics.port)
        if knobs.tracing.exporter != "off":
            from live.observability.tracing import SpanEmitter

            self.processor = span_processor(knobs.tracing.exporter, knobs.tracing.endpoint)
            self.emitter = SpanEmitter(self.processor, service_name=knobs.tracing.service_name,
                                       attributes={"stratops.process": service})

    def attach(self, runner: Any, risk_rows: Callable[[], Sequence[Any]] | None = None) -> None:
        """Observe ``runner``: its journaled events (after the journal and the state's fold)
        and its loop's turns (the heartbeat)."""
        head = runner.journal.head()[0]
        if self.metrics is not None:
            self.metrics.attach(runner.state, head, risk_rows=risk_rows,
                                risk_every_s=self.risk_every_s)
            runner.bus.subscribe_all(self.metrics)
        if self.emitter is not None:
            self.emitter.attach(head)
            runner.bus.subscribe_all(self.emitter)
        observers = LoopObservers([self.metrics, self.emitter])
        runner.observer = observers if observers.observers else None

    def beat(self) -> None:
        """The heartbeat from a service's own loop between sessions (``live serve``)."""
        if self.metrics is not None:
            self.metrics.tick(bar=False)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.processor is not None:
            self.emitter.flush()  # the events noted since the last idle turn
            self.processor.shutdown()  # exports what is queued
            self.processor = None


class LoopObservers:
    """Everything told of the runner loop's turns: the metrics (the heartbeat) and the span
    emitter (spans built between bars)."""

    def __init__(self, observers: Sequence[Any]) -> None:
        self.observers = [o for o in observers if o is not None]

    def tick(self, *, bar: bool) -> None:
        for observer in self.observers:
            observer.tick(bar=bar)


def _serve(registry: Any, host: str, port: int) -> tuple[Any, str]:
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsPortError(
            f"the metrics endpoint cannot bind {host}:{port} ({exc.strerror or exc}): another "
            "process holds it or the address is not this host's; set "
            "observability.metrics.port (STRATOPS_OBSERVABILITY__METRICS__PORT; 0 = off) or "
            ".host") from exc
    bound = server.server_address[1]
    return server, f"http://{host}:{bound}/metrics"


def span_processor(exporter: str, endpoint: str) -> Any:
    """A batch processor around the ``console`` (stderr) or ``otlp`` (HTTP) exporter."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if exporter == "console":
        return BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5))


def risk_rows(settings: Settings, limits: Any, history: Any, deployed: Sequence[Any],
              state: Any) -> Callable[[], Sequence[Any]]:
    """The risk report's rows (:func:`live.risk.risk_report.risk_report`: what ``stratops
    risk report`` prints) for the runner's live state, for the utilisation gauges."""
    from live.risk.risk_report import risk_report

    lots = {symbol: d.lot_for(symbol) for d in deployed for symbol in d.symbols}

    def rows() -> Sequence[Any]:
        today = max((b.ts_event.date() for b in state.last_bars.values()),
                    default=date.today())
        return risk_report(state, limits, history, lots, settings.root, today)

    return rows


def metrics_url(settings: Settings) -> str:
    """The URL the watchdog scrapes: ``observability.watchdog.url``, else the endpoint of
    ``observability.metrics``."""
    knobs = settings.observability
    if knobs.watchdog.url is not None:
        return knobs.watchdog.url
    if not knobs.metrics.enabled:
        raise LiveSetupError("observability.metrics.port is 0 (no endpoint): give the "
                             "watchdog --url or observability.watchdog.url")
    host = "127.0.0.1" if knobs.metrics.host in ("0.0.0.0", "::") else knobs.metrics.host
    return f"http://{host}:{knobs.metrics.port}/metrics"


def run_watchdog(settings: Settings, url: str | None, budget_s: float | None,
                 page_file: Path | None, max_checks: int | None,
                 also: Sequence[Pager] = ()) -> int:
    """``stratops watchdog``: check until SIGTERM/SIGINT (or ``max_checks``); the pages sent
    (to the page file, and to ``also``: e.g. :func:`stratops.alerts_ops.watchdog_pagers`)."""
    import signal
    import threading
    from functools import partial

    from live.observability.pager import FanOutPager, FilePager
    from live.observability.watchdog import Watchdog, http_scrape

    knobs = settings.observability.watchdog
    target = url or metrics_url(settings)
    budget = budget_s if budget_s is not None else knobs.budget_seconds
    pager = FanOutPager([FilePager(page_file or settings.path(knobs.page_file), utc_now),
                         *also])
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    dog = Watchdog(partial(http_scrape, target, knobs.timeout_seconds), pager, wall=time.time,
                   budget_s=budget, target=target)
    print(f"stratops watchdog: {target} every {knobs.interval_seconds:g} s, heartbeat budget "
          f"{budget:g} s, timeout {knobs.timeout_seconds:g} s", file=sys.stderr, flush=True)
    return dog.run(interval_s=knobs.interval_seconds, sleep=stop.wait, stop=stop.is_set,
                   max_checks=max_checks)
