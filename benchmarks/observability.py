"""Observability overhead: the runner's decision latency with metrics and tracing on versus
off, on the same replay; then (unless ``--decision-only``) the alert delivery p99 for a
webhook and for e-mail (``benchmarks/alert_delivery.py``) and the operator page's update
latency (``benchmarks/observability_page.py``), each run as its own process and its
``name: value`` lines repeated here - issue 18's three numbers from one command.

1. Decision latency. Four strategies (ema_cross, atr_reversal, atr_divergence,
   range_breakout; default params, ``benchmarks/live_runner.py``'s ``deployed_four``) on the
   dataset's last ``--days`` NIFTY sessions of 1-minute bars, through the whole
   ``Runner.run`` (journal on SQLite ``synchronous=FULL``, paper exchange). Per bar we time,
   with ``perf_counter_ns``, from the feed handing the bar over to the runner asking for the
   next item: everything the runner does for that bar (bar -> signals -> risk -> journaled
   intent -> paper submit); an ``Idle`` marker follows each bar, as a live feed's wait does
   (untimed: the kill-command poll, and with tracing on the spans' building, happen there).
   "on" is the production wiring
   (:class:`stratops.observability_ops.Observability`'s attach): :class:`RunnerMetrics` and
   the :class:`SpanEmitter` on the bus after the journal, the heartbeat from the loop, the
   /metrics endpoint served on a loopback port and scraped every second by a thread, spans
   batched to the console exporter writing to /dev/null (the OTLP exporter's serialisation
   without a collector). "off" is the runner alone. Runs alternate off/on ``--reps`` times
   with fresh stores on tmpfs (``/dev/shm`` when present: the durable-disk fsync, which
   ``benchmarks/live_runner.py`` measures, would otherwise drown the difference in a shared
   disk's noise; without it the ratio is the harder one). Target: p99
   "on" under 1.10 x "off". The bar -> intent latency the metrics themselves record (its
   histogram) is printed beside it.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/observability.py [--days 2] [--reps 3]``
(about a minute). The last lines are ``name: value`` pairs, the headline ratio last.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from live_runner import deployed_four, feed_days  # benchmarks/ is the script's directory
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import start_http_server

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.journal import open_journal
from live.observability.metrics import RunnerMetrics
from live.observability.tracing import SpanEmitter
from live.runner.feed import FeedBar, FeedItem, Idle
from live.runner.runner import Runner
from stratops.observability_ops import LoopObservers
from tests.doubles import PassThroughRisk

TARGET_RATIO = 1.10
# the stores on tmpfs when there is one: fsync is then nearly free, so the runner's own work
# (and the observability's share of it) is what the times measure, not a shared disk's noise
STORE_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None
SCRAPE_EVERY_S = 1.0  # 5x the scrape rate of live/deploy/prometheus/prometheus.yml


def timed(bars: list[FeedBar], out: list[int]) -> Iterator[FeedItem]:
    """``bars``, timing each from its hand-over to the runner's next request; an ``Idle``
    marker after each, untimed (a live feed waits for the next bar: the runner polls its
    kill commands and builds the spans then)."""
    for bar in bars:
        start = time.perf_counter_ns()
        yield bar
        out.append(time.perf_counter_ns() - start)
        yield Idle(bar.ts)


class Scraper(threading.Thread):
    """Scrapes the endpoint every second (our Prometheus config scrapes every 5 s)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.scrapes = url, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.wait(SCRAPE_EVERY_S):
            with urllib.request.urlopen(self.url, timeout=2) as response:
                response.read()
            self.scrapes += 1


def one_run(folder: Path, warm: list[FeedBar], bars: list[FeedBar], observed: bool,
            traced: bool = True) -> tuple[list[int], dict[str, Any]]:
    clock = lambda: datetime.now(UTC)  # noqa: E731 - record time
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock)
    runner = Runner(journal=journal, broker=exchange, deployed=deployed_four(), mode="live",
                    clock=clock, risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    runner.history["NIFTY"] = runner.symbol_history("NIFTY")
    for bar in warm:  # steady-state history length, as benchmarks/live_runner.py does
        runner.history["NIFTY"].append(bar)
    extra: dict[str, Any] = {}
    server = scraper = metrics = None
    processor: Any = None
    devnull: Any = None
    emitter: Any = None
    if observed:
        metrics = RunnerMetrics(wall=time.time, perf=time.perf_counter)
        server, _ = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
        head = journal.head()[0]
        metrics.attach(runner.state, head)
        runner.bus.subscribe_all(metrics)
        if traced:
            devnull = open(os.devnull, "w")  # noqa: SIM115 - closed with the processor
            processor = BatchSpanProcessor(ConsoleSpanExporter(out=devnull))
            emitter = SpanEmitter(processor, service_name="bench")
            emitter.attach(head)
            runner.bus.subscribe_all(emitter)
            runner.observer = LoopObservers([metrics, emitter])
        if not traced:
            runner.observer = metrics
        scraper = Scraper(f"http://127.0.0.1:{server.server_address[1]}/metrics")
        scraper.start()
    times: list[int] = []
    runner.run(timed(bars, times))
    if observed:
        assert scraper is not None and server is not None and metrics is not None
        scraper.stop.set()
        scraper.join()
        server.shutdown()
        server.server_close()
        if processor is not None:
            emitter.flush()
            processor.shutdown()
            devnull.close()
        extra["scrapes"] = scraper.scrapes
        extra["intent_samples"] = _intent_latencies(metrics)
    journal.engine.dispose()
    return times, extra


def _intent_latencies(metrics: RunnerMetrics) -> tuple[float, float]:
    """(count, p99 upper bucket bound in ms) of the bar -> intent histogram."""
    counts: dict[float, float] = {}
    total = 0.0
    for family in metrics.registry.collect():
        if family.name != "stratops_bar_to_intent_seconds":
            continue
        for s in family.samples:
            if s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                counts[le] = counts.get(le, 0.0) + s.value
            elif s.name.endswith("_count"):
                total += s.value
    bound = next((le for le, c in sorted(counts.items()) if c >= 0.99 * total), float("nan"))
    return total, bound * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--decision-only", action="store_true",
                        help="skip the alert delivery and web page parts")
    args = parser.parse_args()
    warm, bars, dates = feed_days(4, args.days)
    print(f"decision latency: 4 strategies on NIFTY {dates[0]}..{dates[-1]} ({len(bars)} bars "
          f"a run), {args.reps} alternating off/on runs")
    configs = {"off": (False, False), "metrics": (True, False), "on": (True, True)}
    samples: dict[str, list[int]] = {name: [] for name in configs}
    scrapes, intents = 0, (0.0, float("nan"))
    for rep in range(args.reps):
        for name, (observed, traced) in configs.items():
            with tempfile.TemporaryDirectory(prefix="obs-bench-", dir=STORE_DIR) as tmp:
                times, extra = one_run(Path(tmp), warm, bars, observed, traced)
            samples[name] += times[1:]  # the first bar is cold (imports, compiles)
            scrapes += extra.get("scrapes", 0)
            intents = extra.get("intent_samples", intents)
            print(f"  rep {rep + 1} {name:>7}: p50 {np.percentile(times, 50) / 1e6:.3f} ms  "
                  f"p99 {np.percentile(times, 99) / 1e6:.3f} ms")
    off, metrics_only, on = (np.asarray(samples[k], dtype=np.float64) / 1e6
                             for k in configs)
    ratio_p99 = float(np.percentile(on, 99) / np.percentile(off, 99))
    ratio_p50 = float(np.percentile(on, 50) / np.percentile(off, 50))
    print(f"off: p50 {np.percentile(off, 50):.3f} ms  p99 {np.percentile(off, 99):.3f} ms")
    print(f"on : p50 {np.percentile(on, 50):.3f} ms  p99 {np.percentile(on, 99):.3f} ms  "
          f"({scrapes} scrapes served)")
    print(f"metrics only (no spans): p50 {np.percentile(metrics_only, 50):.3f} ms  p99 "
          f"{np.percentile(metrics_only, 99):.3f} ms")
    print(f"bar -> intent as the metrics record it (last on run): {intents[0]:.0f} intents, "
          f"p99 <= {intents[1]:.1f} ms (histogram bucket bound)")
    print(f"decision_off_p50_ms: {np.percentile(off, 50):.3f}")
    print(f"decision_off_p99_ms: {np.percentile(off, 99):.3f}")
    print(f"decision_on_p50_ms: {np.percentile(on, 50):.3f}")
    print(f"decision_on_p99_ms: {np.percentile(on, 99):.3f}")
    print(f"metrics_only_p99_ratio: "
          f"{np.percentile(metrics_only, 99) / np.percentile(off, 99):.3f}")
    print(f"observability_p50_ratio: {ratio_p50:.3f}")
    print(f"observability_target_met: {int(ratio_p99 < TARGET_RATIO)}")
    if not args.decision_only:
        for part in ("alert_delivery.py", "observability_page.py"):
            _part(part)
    print(f"observability_p99_ratio: {ratio_p99:.3f}")


def _part(script: str) -> None:
    """Run ``benchmarks/<script>`` as its own process; echo its ``name: value`` lines."""
    import os
    import subprocess
    import sys

    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": str(here.parent)}
    done = subprocess.run([sys.executable, str(here / script)], capture_output=True,
                          text=True, env=env, check=False, timeout=1800)
    if done.returncode != 0:
        print(f"{script}: failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")
        return
    for line in done.stdout.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name.replace("_", "").isalnum() and " " not in name:
            print(f"{Path(script).stem}.{name}: {value}")


if __name__ == "__main__":
    main()
