"""Services over NATS JetStream: end-to-end latency across processes, durable bus throughput,
and (when their modules are present) restart-from-snapshot and failover times.

1. Latency. The execution service runs as its own process (``tests/integration/svc_driver.py
   execution``: ema_cross on the paper exchange, the same code ``stratops svc execution``
   runs, without governance) on a durable market-data consumer; this process publishes the
   NIFTY bars of ``--days`` trading days from 2025-03-03 one at a time on the market-data
   stream, each 10 ms after the previous bar's last event came back (live bars are a minute
   apart: the service is idle when one comes, as here), and reads the events the service
   mirrors back on the events stream. **Bar -> order** is timed from the publish call here to
   the service's broker call (the paper exchange notes ``perf_counter_ns`` as an order reaches
   it: the host's monotonic clock, one for every process): bar -> JetStream -> execution
   (journal, signal, risk, journaled intent) -> the broker. Also timed here: bar -> its
   ``OrderSubmitted`` mirrored back (two bus hops and the rest of the bar: an upper bound)
   and bar -> its last event (every bar). Which bars send orders and how many events each bar
   journals come from the embedded runner over the same bars first - also the reference: its
   per-bar processing time (in-process bus, same journal and exchange). Target: p99 < 5 ms on
   loopback. The first order of the fresh service process is cold (its session calendar and
   kernel are warmed before the first bar, as the embedded runner's are here, but not the
   rest of its code): ``_warm`` leaves it out; with ~100 orders (8 days) the plain p99 is not
   that one order either.
   The embedded runner also runs alternately with deferred appends (one commit per bar
   before the broker) and with one commit per event envelope (the reference, as before),
   ``--rounds`` times each: ``order_bar_p50_deferred_vs_per_event_<mode>`` is their ratio.
   Every latency is measured twice, with the journal and the exchange store at
   ``synchronous=FULL`` (the default: an fsync per commit) and then ``NORMAL`` (the
   ``live.sqlite_synchronous`` knob: no fsync per commit, durable against a killed process
   only), each printed with the journal commits per bar (one per quiet bar; a bar sending
   one order commits its events with the intent before the broker call, then the answer).
2. Throughput: envelopes published with JetStream's ack awaited (durable: on disk), then
   fetched and acked by a durable consumer.
3. Restart time from a snapshot at 1M events (``benchmarks/snapshot_restart.py``'s
   ``measure_restart``) and failover time (``benchmarks/failover.py``'s
   ``measure_failover``), if those modules exist.

Needs the NATS server at 127.0.0.1:4222 (JetStream enabled); its streams use a unique prefix
and are deleted at the end. Run: ``PYTHONPATH=. .venv/bin/python benchmarks/services.py
[--days 8] [--bars 375] [--msgs 3000]`` (about five minutes). The last lines are
``name: value`` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from live.events import BarClosed, Message, OrderSubmitted
from live.runner.feed import FeedBar
from live.svc.market_data import bar_envelope
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import EVENTS, MARKET_DATA, BusLayout
from tests.integration.svc_driver import SYNCHRONOUS_ENV

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests/integration/svc_driver.py"
NATS_URL = "nats://127.0.0.1:4222"
sys.path.insert(0, str(ROOT))


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


COMMITS: dict[tuple[str, str], list[int]] = {}  # (run folder, order|quiet) -> per bar


def embedded(bars: list[FeedBar], folder: Path, pretrade: bool = False, defer: bool = True
             ) -> tuple[list[float], dict[datetime, int], set[datetime]]:
    """The embedded runner over ``bars`` (``pretrade``: with the risk.yaml engine, the split
    topology's reference): per-bar ms (in bar order), events journaled per bar, and the
    times of the bars that sent an order. ``defer=False``: the reference of one commit per
    event envelope (the journal sink's behaviour before deferred appends)."""
    from live.bus import JournalSink
    from live.runner.preload import preload
    from tests.integration.svc_driver import pretrade_engine, runner

    run, _ = runner(folder, None, engine=pretrade_engine() if pretrade else None)
    run.recover()
    preload(run)  # as the service does: no cold calendar, kernel or codec in the numbers
    if not defer:
        for sink in run.bus._sinks:  # the reference only: the runner has no such switch
            if isinstance(sink, JournalSink):
                sink.deferred = frozenset()
    times: list[float] = []
    commits: dict[datetime, int] = {}

    def timed() -> Any:
        for bar in bars:
            t0, c0 = time.perf_counter_ns(), run.journal.commits
            yield bar
            times.append((time.perf_counter_ns() - t0) / 1e6)
            commits[bar.ts] = run.journal.commits - c0

    run.run(timed())
    events: dict[datetime, int] = {}
    ordered: set[datetime] = set()
    current: datetime | None = None
    for _, message in run.journal.read(1):
        if isinstance(message, BarClosed):
            current = message.ts_event
        if current is not None:
            events[current] = events.get(current, 0) + 1
            if isinstance(message, OrderSubmitted):
                ordered.add(current)
    for kind, bar_set in (("order", ordered), ("quiet", set(commits) - ordered)):
        COMMITS[(folder.name, kind)] = sorted(commits[ts] for ts in bar_set)
    return times, events, ordered


PACE_S = 0.01  # between a bar's last event and the next bar: the service's ack done


def to_broker(published_ns: list[int], report: dict[str, Any]) -> list[float]:
    """Bar -> order (ms): from each bar's publish call in this process to the service's first
    broker call after it (the ``submit_ns`` of its report; ``perf_counter_ns`` is the host's
    monotonic clock, one for every process), for the bars that sent an order."""
    first: dict[int, int] = {}
    for ns in report["submit_ns"]:
        bar = bisect.bisect_right(published_ns, ns) - 1
        if bar >= 0:
            first.setdefault(bar, ns)
    return [(ns - published_ns[bar]) / 1e6 for bar, ns in sorted(first.items())]


def across_processes(bars: list[FeedBar], layout: BusLayout, folder: Path,
                     events: dict[datetime, int], ordered: set[datetime], split: bool = False
                     ) -> tuple[list[float], list[float], list[float], dict[str, Any]]:
    """Through the execution service in its own process (``split``: asking the risk
    service, a third process, about every order): bar -> broker call (:func:`to_broker`),
    bar -> OrderSubmitted mirrored back and bar -> last event latencies (ms), and its final
    report. Bars come one at a time, each ``PACE_S`` after the previous bar's last event
    came back (live bars are a minute apart: the service is idle when one comes)."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "",
           SYNCHRONOUS_ENV: os.environ.get(SYNCHRONOUS_ENV, "full")}
    risk = None
    if split:
        risk = subprocess.Popen([sys.executable, str(DRIVER), "risk", "-", layout.prefix],
                                cwd=ROOT, text=True, stdout=subprocess.PIPE, env=env)
        assert risk.stdout is not None and risk.stdout.readline().strip() == "ready"
    service = subprocess.Popen([sys.executable, str(DRIVER),
                                "execution-remote" if split else "execution", str(folder),
                                layout.prefix, *(["1.5"] if split else [])], cwd=ROOT,
                               text=True, stdout=subprocess.PIPE, env=env)
    md = JetStreamTransport(NATS_URL, layout, publisher="bench-md", publishes=MARKET_DATA)
    mirror = JetStreamTransport(NATS_URL, layout, publisher="bench-evt",
                                consumer=layout.consumer(EVENTS, "bench"))
    to_order: list[float] = []
    to_done: list[float] = []
    published: list[int] = []
    try:
        for bar in bars:
            want = events.get(bar.ts, 1)
            time.sleep(PACE_S)
            t0 = time.perf_counter_ns()
            published.append(t0)
            md.publish(bar_envelope(bar))
            got = 0
            while got < want:
                for item in mirror.fetch(64, 30.0):
                    mirror.ack(item)
                    message: Message = item.envelope.messages[0]
                    if getattr(message, "ts_event", None) is None:
                        continue
                    if isinstance(message, BarClosed) and message.ts_event == bar.ts:
                        got = 1
                    elif got:
                        got += 1
                        if isinstance(message, OrderSubmitted) and bar.ts in ordered:
                            to_order.append((time.perf_counter_ns() - t0) / 1e6)
            to_done.append((time.perf_counter_ns() - t0) / 1e6)
        out, _ = service.communicate(timeout=120)
        report = json.loads(out.strip().splitlines()[-1])
        return to_broker(published, report), to_order, to_done, report
    finally:
        if service.poll() is None:
            service.kill()
        if risk is not None:
            risk.kill()
            risk.wait()
        md.close()
        mirror.close()


def throughput(layout: BusLayout, n: int, bars: list[FeedBar]) -> tuple[float, float]:
    """Durable publishes/s (ack awaited) and consumed-and-acked messages/s."""
    pub = JetStreamTransport(NATS_URL, layout, publisher="bench-tp", publishes=MARKET_DATA)
    con = JetStreamTransport(NATS_URL, layout, publisher="bench-tc",
                             consumer=layout.consumer(MARKET_DATA, "bench-tp"))
    try:
        envelopes = [bar_envelope(bars[i % len(bars)]) for i in range(n)]
        envelopes = [type(e)(e.topic, f"tp:{i}", e.messages) for i, e in enumerate(envelopes)]
        t0 = time.perf_counter()
        for e in envelopes:
            pub.publish(e)
        published = n / (time.perf_counter() - t0)
        got = 0
        t0 = time.perf_counter()
        while got < n:
            for item in con.fetch(256, 2.0):
                con.ack(item)
                got += 1
        return published, got / (time.perf_counter() - t0)
    finally:
        pub.close()
        con.close()


def bus_hop(layout: BusLayout, n: int, bars: list[FeedBar]) -> list[float]:
    """Milliseconds from a publish call (JetStream's ack awaited) to the message fetched by
    a durable consumer (another connection), one message at a time."""
    pub = JetStreamTransport(NATS_URL, layout, publisher="bench-hp", publishes=MARKET_DATA)
    con = JetStreamTransport(NATS_URL, layout, publisher="bench-hc",
                             consumer=layout.consumer(MARKET_DATA, "bench-hop"))
    try:
        for item in con.fetch(256, 0.5):  # the throughput run's leftovers, if any
            con.ack(item)
        out: list[float] = []
        for i in range(n):
            e = bar_envelope(bars[i % len(bars)])
            t0 = time.perf_counter_ns()
            pub.publish(type(e)(e.topic, f"hop:{i}", e.messages))
            got = con.fetch(1, 5.0)
            out.append((time.perf_counter_ns() - t0) / 1e6)
            for item in got:
                con.ack(item)
        return out
    finally:
        pub.close()
        con.close()


def optional(module: str, function: str, *args: Any) -> dict[str, float] | None:
    path = ROOT / "benchmarks" / f"{module}.py"
    if not path.exists():
        print(f"{module}.{function}: not measured: module missing ({path})")
        return None
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    result = getattr(loaded, function)(*args)
    return result if isinstance(result, dict) else {function: float(result)}


def commit_grouping(bars: list[FeedBar], tmp_dir: str | None, rounds: int
                    ) -> dict[str, float]:
    """The embedded runner's bars sending an order, deferred appends against one commit per
    event envelope (the reference), alternated ``rounds`` times on fresh stores (the medians
    of each round's p50 and p99)."""
    mode = os.environ.get(SYNCHRONOUS_ENV, "full")
    stats: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
    for _ in range(rounds):
        for defer in (False, True):
            with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
                times, _, ordered = embedded(bars, Path(tmp) / "embedded", defer=defer)
            order = [ms for bar, ms in zip(bars, times, strict=True) if bar.ts in ordered]
            stats[defer].append((pct(order, .5), pct(order, .99),
                                 sum(COMMITS[("embedded", "order")])))
    out: dict[str, float] = {}
    for defer, name in ((False, "per_event"), (True, "deferred")):
        p50 = pct([r[0] for r in stats[defer]], .5)
        p99 = pct([r[1] for r in stats[defer]], .5)
        out |= {f"embedded_order_bar_p50_ms_{name}_{mode}": p50,
                f"embedded_order_bar_p99_ms_{name}_{mode}": p99}
        print(f"embedded runner, {mode.upper()}, {name} commits: bars sending an order p50 "
              f"{p50:.2f} ms, p99 {p99:.2f} ms ({stats[defer][0][2]} journal commits over "
              f"them; median of {rounds} rounds)")
    out[f"order_bar_p50_deferred_vs_per_event_{mode}"] = (
        out[f"embedded_order_bar_p50_ms_deferred_{mode}"]
        / out[f"embedded_order_bar_p50_ms_per_event_{mode}"])
    return out


def latency(bars: list[FeedBar], layout: BusLayout, tmp_dir: str | None, suffix: str
            ) -> dict[str, float]:
    """The embedded reference, the merged and the split topology over ``bars``, under the
    stores' durability mode set in the environment (``suffix`` names it in the keys)."""
    mode = os.environ.get(SYNCHRONOUS_ENV, "full")
    with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
        ref, events, ordered = embedded(bars, Path(tmp) / "embedded")
        (Path(tmp) / "svc").mkdir()
        try:
            to_broker_ms, to_order, to_done, report = across_processes(
                bars, layout, Path(tmp) / "svc", events, ordered)
        finally:
            from tests.integration.jetstream import delete_streams

            asyncio.run(delete_streams(NATS_URL, layout))
        split_ref, split_events, split_ordered = embedded(bars, Path(tmp) / "emb-risk",
                                                          pretrade=True)
        (Path(tmp) / "split").mkdir()
        split_layout = BusLayout(f"{layout.prefix}s")
        try:
            split_broker, split_order, split_done, split_report = across_processes(
                bars, split_layout, Path(tmp) / "split", split_events, split_ordered,
                split=True)
        finally:
            from tests.integration.jetstream import delete_streams

            asyncio.run(delete_streams(NATS_URL, split_layout))
    ref_order = [ms for bar, ms in zip(bars, ref, strict=True) if bar.ts in ordered]
    order_commits, quiet_commits = COMMITS[("embedded", "order")], COMMITS[("embedded", "quiet")]
    print(f"--- stores synchronous={mode.upper()} ---")
    print(f"journal commits per bar (embedded): bars sending an order p50 "
          f"{pct(order_commits, .5)}, max {max(order_commits)} (over {len(order_commits)}); "
          f"other bars p50 {pct(quiet_commits, .5)}, max {max(quiet_commits)}")
    print(f"embedded runner per bar (reference): p50 {pct(ref, .5):.2f} ms, "
          f"p99 {pct(ref, .99):.2f} ms over {len(ref)} bars; bars sending an order: "
          f"p50 {pct(ref_order, .5):.2f} ms, p99 {pct(ref_order, .99):.2f} ms")
    print(f"across processes, bar -> order (the publish call here -> the service's broker "
          f"call): p50 {pct(to_broker_ms, .5):.2f} ms, p90 {pct(to_broker_ms, .9):.2f} ms, "
          f"p99 {pct(to_broker_ms, .99):.2f} ms "
          f"over {len(to_broker_ms)} bars sending an order (warm p99 "
          f"{pct(to_broker_ms[1:] or to_broker_ms, .99):.2f}); the slowest: "
          + ", ".join(f"{v:.1f}" for v in sorted(to_broker_ms)[-4:])
          + f"; first order {to_broker_ms[0]:.1f} ms (a fresh process)")
    print(f"across processes, bar -> OrderSubmitted mirrored back: p50 "
          f"{pct(to_order, .5):.2f} ms, p99 {pct(to_order, .99):.2f} ms over "
          f"{len(to_order)} orders; bar -> its last event: p50 {pct(to_done, .5):.2f} ms, "
          f"p99 {pct(to_done, .99):.2f} ms; orders {report['orders']}, max submits "
          f"{report['max_submits']}")
    split_ref_order = [ms for bar, ms in zip(bars, split_ref, strict=True)
                       if bar.ts in split_ordered]
    print(f"split (execution + risk service), bar -> order: p50 "
          f"{pct(split_broker, .5):.2f} ms, p99 {pct(split_broker, .99):.2f} ms over "
          f"{len(split_broker)} bars (warm p99 "
          f"{pct(split_broker[1:] or split_broker, .99):.2f})")
    print(f"split (execution + risk service), bar -> OrderSubmitted mirrored back: p50 "
          f"{pct(split_order, .5):.2f} ms, p99 {pct(split_order, .99):.2f} ms over "
          f"{len(split_order)} orders (warm p99 "
          f"{pct(split_order[1:] or split_order, .99):.2f}); bar -> its last event: p50 "
          f"{pct(split_done, .5):.2f} ms, p99 {pct(split_done, .99):.2f} ms; orders "
          f"{split_report['orders']}, unanswered {split_report['unanswered']}; embedded "
          f"with the same engine, order bars: p50 {pct(split_ref_order, .5):.2f} ms, "
          f"p99 {pct(split_ref_order, .99):.2f} ms")
    out = {"embedded_bar_p99_ms": pct(ref, .99),
           "embedded_order_bar_p50_ms": pct(ref_order, .5),
           "embedded_order_bar_p99_ms": pct(ref_order, .99),
           "embedded_order_bar_commits_max": float(max(order_commits)),
           "svc_bar_to_order_p50_ms": pct(to_broker_ms, .5),
           "svc_bar_to_order_p90_ms": pct(to_broker_ms, .9),
           "svc_bar_to_order_p99_ms": pct(to_broker_ms, .99),
           "svc_bar_to_order_p99_warm_ms": pct(to_broker_ms[1:] or to_broker_ms, .99),
           "svc_bar_to_mirrored_order_p50_ms": pct(to_order, .5),
           "svc_bar_to_mirrored_order_p99_ms": pct(to_order, .99),
           "svc_bar_to_done_p99_ms": pct(to_done, .99),
           "embedded_pretrade_order_bar_p50_ms": pct(split_ref_order, .5),
           "embedded_pretrade_order_bar_p99_ms": pct(split_ref_order, .99),
           "split_bar_to_order_p50_ms": pct(split_broker, .5),
           "split_bar_to_order_p99_ms": pct(split_broker, .99),
           "split_bar_to_order_p99_warm_ms": pct(split_broker[1:] or split_broker, .99),
           "split_bar_to_mirrored_order_p99_ms": pct(split_order, .99),
           "split_bar_to_done_p99_ms": pct(split_done, .99)}
    return {f"{key}{suffix}": value for key, value in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=375, help="bars of each day")
    parser.add_argument("--days", type=int, default=8,
                        help="trading days from 2025-03-03 (8: ~100 bars sending an order, "
                             "so the p99 is not simply the slowest one)")
    parser.add_argument("--msgs", type=int, default=3000)
    parser.add_argument("--restart-events", type=int, default=1_000_000)
    parser.add_argument("--tmp", default=None,
                        help="folder for the journals and exchange (e.g. /dev/shm: no disk "
                             "fsync, to separate the bus's cost from the journal's)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternated embedded runs, deferred vs per-event commits")
    parser.add_argument("--latency-only", action="store_true",
                        help="skip the restart and failover measurements")
    args = parser.parse_args()
    from tests.integration.svc_driver import day_bars

    bars = day_bars(args.bars, args.days)
    layout = BusLayout(f"bench{uuid.uuid4().hex[:8]}")
    lines: dict[str, float] = {}
    try:
        for mode in ("full", "normal"):
            os.environ[SYNCHRONOUS_ENV] = mode  # this process's runners and the services'
            lines.update(commit_grouping(bars, args.tmp, args.rounds))
            lines.update(latency(bars, BusLayout(f"{layout.prefix}{mode[0]}"), args.tmp,
                                 "" if mode == "full" else "_normal"))
        published, consumed = throughput(layout, args.msgs, bars)
        print(f"bus throughput: {published:,.0f} durable publishes/s (ack awaited), "
              f"{consumed:,.0f} consumed+acked/s over {args.msgs} messages")
        hop = bus_hop(layout, 500, bars)
        print(f"one bus hop (publish, ack awaited -> fetched by a durable consumer): p50 "
              f"{pct(hop, .5):.2f} ms, p99 {pct(hop, .99):.2f} ms over {len(hop)}")
        lines.update({"bus_hop_p50_ms": pct(hop, .5), "bus_hop_p99_ms": pct(hop, .99),
                      "bus_publish_msgs_per_s": published,
                      "bus_consume_msgs_per_s": consumed})
    finally:
        from tests.integration.jetstream import delete_streams

        asyncio.run(delete_streams(NATS_URL, layout))
    extras = () if args.latency_only else (
        ("restart", lambda: optional("snapshot_restart", "measure_restart",
                                     args.restart_events)),
        ("failover", lambda: optional("failover", "measure_failover")))
    for name, measure in extras:
        result = measure()
        for key, value in (result or {}).items():
            lines[f"{name}_{key}"] = float(value)
    lines["svc_normal_p99_vs_5ms_target"] = lines["svc_bar_to_order_p99_ms_normal"] / 5.0
    lines["svc_p99_vs_5ms_target"] = lines["svc_bar_to_order_p99_ms"] / 5.0
    for name, value in lines.items():
        print(f"{name}: {value:.4g}")


if __name__ == "__main__":
    main()
