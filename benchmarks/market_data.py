"""Live market data speed: ticks/s through the 1-minute bar builder, tick -> bar close ->
intent latency through the real runner, and memory.

1. Throughput. ``--instruments`` (default 3,000) instruments in full mode (five bid and
   five ask levels on every tick), ``--ticks`` ticks in all (default 600,000) spread over
   ``--minutes`` session minutes, in exchange-time order with 20 % of ticks moved inside
   their second (out of order) and 2 % sent twice (duplicates), generated from a seeded
   random walk. Timed on one core, medians of 3:
   ``MinuteBars.add`` alone (the aggregation), with the tick boundary in front
   (``TickGate.admit``: ``tick_problem`` per tick), and the whole per-tick path of the Kite
   feed from KiteTicker's dicts (``tick_from_kite`` -> gate -> aggregation) on a sample,
   without and with the tick recorder (every tick with depth to Parquet parts).
   The clock closes minutes every 1,000 ticks, as the feed's loop would. Target >= 50k
   ticks/s. The reference, in the same run, is pandas building the same bars in one batch
   (``groupby`` of instrument and minute: first/max/min/last price and the cumulative
   volume's rise) - what a bar builder costs when it need not stream.
2. Latency. A runner as ``stratops live run --broker paper`` builds it (ema_cross, default
   params, on the dataset's NIFTY minute bars; a SQLite journal, the paper exchange, the
   pre-trade engine with every portfolio cap - exposure, margin, VaR, open positions - from
   the repo's risk.yaml and policy.yaml, the policy and the guardrails) is fed by the bar
   builder: each NIFTY bar is replayed as four ticks (open, high, low, close) among the
   ticks of ``--background`` other instruments (default 3,000, each ticking
   ``--background-ticks`` times a minute, so the builder holds 3,000 open minutes). Before
   each closing tick (the next minute's first NIFTY tick), ``--lead-ms`` (20) of other
   instruments' ticks arrive paced at ``--rate`` (50,000) ticks/s on the same thread, and the
   closing tick is due right after them. Measured with ``perf_counter_ns`` from when the
   closing tick was due (time the loop is behind the stream counts) to the first
   ``OrderIntended`` of that bar committed to the journal (bar built, ``BarClosed``
   journaled, the paper exchange's bar, fills polled, signals, decision, governance, the
   risk check over the bus, the intent durably journaled - before the broker is called),
   and to ``Runner.run`` returning (the order sent to the paper exchange too). Target:
   intent p99 < 2 ms. Measured twice: stores (journal, exchange) on the repo's disk with
   ``synchronous=FULL``, and in ``/dev/shm`` (fsync is free there) to tell the disk apart
   from the compute; the thread's CPU time to the intent is shown too (what preemption by
   other processes on a shared machine adds is not in it). ``--days`` (3) sessions are
   timed: a few dozen intents, so p99 is close to the maximum (p90 and max are shown).
3. Memory: tracemalloc's peak over the throughput run's aggregation (3,000 instruments'
   open minutes) and the process's peak RSS.

Run: ``.venv/bin/python benchmarks/market_data.py [--ticks 600000] [--days 3]`` (about
three minutes on a 2-CPU machine). The last lines are ``name: value`` pairs, the headline
ratio last.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.events import OrderIntended
from live.journal import open_journal
from live.market.aggregator import MinuteBars
from live.market.recorder import TickRecorder
from live.market.ticks import Tick, TickGate, tick_from_kite
from live.runner.deployments import Deployed, build
from live.runner.feed import FeedBar, replay_bars, replay_frame
from live.runner.runner import Runner
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.venues import get_venue
from strategies.version_config import VersionConfig

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "data/datasets/nse_index_1m.parquet"
IST = ZoneInfo("Asia/Kolkata")
NSE = get_venue("NSE")
OPEN = datetime(2025, 3, 4, 9, 15, tzinfo=IST)
TICKS_TARGET_PER_S = 50_000
LATENCY_TARGET_MS = 2.0
SEED = 20251204


# --- 1. throughput -----------------------------------------------------------------------

def make_ticks(instruments: int, count: int, minutes: int, seed: int) -> list[Tick]:
    """``count`` full-mode ticks of ``instruments`` instruments over ``minutes`` minutes:
    exchange-time order with some ticks moved inside their second and some sent twice."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, instruments, count)
    seconds = np.sort(rng.uniform(0, minutes * 60, count))
    base = rng.uniform(50, 50_000, instruments)[tokens]
    prices = np.round(base * (1 + rng.normal(0, 2e-4, count)), 2)
    qty = rng.integers(1, 200, count)
    volume = np.zeros(count, dtype=np.int64)
    running = np.zeros(instruments, dtype=np.int64)
    for i, tok in enumerate(tokens):  # cumulative volume per instrument, in trade order
        running[tok] += qty[i]
        volume[i] = running[tok]
    depth = [tuple((100.0 - k, 75 * k, k) for k in range(1, 6)) for _ in range(64)]
    stamp = [OPEN + timedelta(seconds=int(s)) for s in range(minutes * 60 + 1)]
    ticks = [Tick(token=int(tokens[i]), symbol=f"I{tokens[i]}", ts=stamp[int(seconds[i])],
                  price=float(prices[i]), last_qty=int(qty[i]), volume=int(volume[i]),
                  oi=1000, bids=depth[i % 64], asks=depth[(i + 7) % 64])
             for i in range(count)]
    moved = rng.choice(count - 1, count // 5, replace=False)  # swap inside the second
    for i in moved:
        if ticks[i].ts == ticks[i + 1].ts:
            ticks[i], ticks[i + 1] = ticks[i + 1], ticks[i]
    for i in sorted(rng.choice(count, count // 50, replace=False), reverse=True):
        ticks.insert(i + 1, ticks[i])  # a duplicate right after
    return ticks


def aggregate(ticks: list[Tick], gate: TickGate | None) -> tuple[float, int]:
    """Seconds to build the bars of ``ticks`` (through ``gate`` first when given), bars."""
    bars = MinuteBars(NSE, grace_seconds=2.0)
    add, admit = bars.add, gate.admit if gate is not None else None
    emitted = 0
    start = time.perf_counter()
    for i, tick in enumerate(ticks):
        if admit is None or admit(tick, tick.ts):  # type: ignore[arg-type]
            add(tick)
        if i % 1000 == 0:
            bars.on_clock(tick.ts)  # type: ignore[arg-type]
            emitted += len(bars.drain())
    bars.flush()
    emitted += len(bars.drain())
    return time.perf_counter() - start, emitted


def kite_dicts(ticks: list[Tick]) -> list[dict[str, Any]]:
    """The ticks as KiteTicker's ``_parse_binary`` hands them over (naive local times)."""
    return [{"tradable": True, "mode": "full", "instrument_token": t.token,
             "last_price": t.price, "last_traded_quantity": t.last_qty,
             "average_traded_price": t.price, "volume_traded": t.volume,
             "total_buy_quantity": 1, "total_sell_quantity": 1,
             "ohlc": {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}, "change": 0.0,
             "last_trade_time": None, "oi": t.oi, "oi_day_high": 0, "oi_day_low": 0,
             "exchange_timestamp": datetime.fromtimestamp(t.ts.timestamp()),  # type: ignore[union-attr]
             "depth": {"buy": [{"quantity": q, "price": p, "orders": o}
                               for p, q, o in t.bids],
                       "sell": [{"quantity": q, "price": p, "orders": o}
                                for p, q, o in t.asks]}}
            for t in ticks]


def feed_path(raw: list[dict[str, Any]], symbols: dict[int, str], record: bool) -> float:
    """Seconds for the Kite feed's per-tick work: dict -> tick (-> recorder) -> gate ->
    aggregation; the recorder writes its parts to a temporary folder."""
    bars, gate = MinuteBars(NSE), TickGate(symbols)
    now = datetime.now(UTC)
    recv_ns = time.time_ns()
    with tempfile.TemporaryDirectory() as tmp:
        recorder = TickRecorder(Path(tmp)) if record else None
        start = time.perf_counter()
        for item in raw:
            tick = tick_from_kite(item, symbols)
            if recorder is not None:
                recorder.add(tick, recv_ns)
            if gate.admit(tick, now):
                bars.add(tick)
        if recorder is not None:
            recorder.close()
        return time.perf_counter() - start


def pandas_reference(ticks: list[Tick]) -> float:
    """Seconds for pandas to build the same bars in one batch."""
    frame = pd.DataFrame({"token": [t.token for t in ticks],
                          "ts": [t.ts.timestamp() for t in ticks],  # type: ignore[union-attr]
                          "price": [t.price for t in ticks],
                          "volume": [t.volume for t in ticks]})
    start = time.perf_counter()
    frame = frame.drop_duplicates().sort_values(["token", "ts", "volume", "price"])
    frame["minute"] = (frame["ts"] // 60).astype("int64")
    grouped = frame.groupby(["token", "minute"], sort=True)
    bars = grouped["price"].agg(["first", "max", "min", "last"])
    bars["volume"] = grouped["volume"].max() - grouped["volume"].min()
    assert len(bars)
    return time.perf_counter() - start


def _median(run: Callable[[], float], times: int = 3) -> float:
    results = []
    for _ in range(times):
        gc.collect()
        results.append(run())
    return statistics.median(results)


# --- 2. latency --------------------------------------------------------------------------

def live_risk(deployed: list[Deployed]) -> tuple[Any, Any, Any]:
    """The policy, the pre-trade engine with every portfolio cap and the guardrails, built
    as ``stratops live run --broker paper`` builds them (``stratops.live_ops.prepare``):
    the repo's risk.yaml and policy.yaml, the SPAN-like paper margins against risk.yaml's
    capital, the VaR/volatility history from the dataset's daily closes."""
    from live.governance.policy import load_policy
    from live.risk.daily_history import DailyCloses
    from live.risk.guardrails import Guardrails
    from live.risk.limits import load_risk_limits
    from live.risk.margin import load_margin_params
    from live.risk.margin_source import PaperMargins
    from live.risk.portfolio_caps import PortfolioCaps
    from live.risk.pretrade import PreTradeRiskEngine
    from live.runner.deployments import cost_rates, stage_capital
    from strategies.roster import STRATEGIES

    policy = load_policy(ROOT / "policy.yaml", set(STRATEGIES))
    limits = load_risk_limits(ROOT / "risk.yaml", set(policy.rules.symbols), set(STRATEGIES))
    params = load_margin_params(ROOT / limits.margin.params_file)
    caps = PortfolioCaps(limits, policy,
                         history=DailyCloses.from_bars(replay_frame(DATASET, ["NIFTY"],
                                                                    None, None)),
                         margins=PaperMargins(params, limits.margin.available_capital_inr),
                         rate=params.discount_rate)
    guardrails = Guardrails(limits, stage_capital(policy, deployed, "live"),
                            costs=cost_rates(deployed))
    return policy, PreTradeRiskEngine(limits, policy, caps=caps), guardrails


def nifty_runner(folder: Path) -> tuple[Runner, PaperExchange]:
    spec = get_strategy("ema_cross")
    config = {"strategy": "ema_cross", "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="close", slippage_ticks=1.0,
                                                  tick_size=0.05))
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}",
                           clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    policy, risk, guardrails = live_risk([deployed])
    runner = Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                    clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), risk=risk,
                    policy=policy, guardrails=guardrails,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    return runner, exchange


def bar_ticks(bar: FeedBar, volume_before: int) -> list[Tick]:
    """A dataset bar as four ticks inside its minute: open, high, low, close."""
    step = max(1, int(bar.volume) // 4)
    out = []
    for k, (sec, price) in enumerate(((1, bar.open), (15, bar.high), (30, bar.low),
                                      (50, bar.close))):
        qty = step if k < 3 else max(1, int(bar.volume) - 3 * step)
        volume_before += qty
        out.append(Tick(token=1, symbol="NIFTY", ts=bar.ts + timedelta(seconds=sec),
                        price=price, last_qty=qty, volume=volume_before, oi=None))
    return out


@dataclass
class Latency:
    """ns per NIFTY bar from the closing tick's (scheduled) arrival: to the runner done
    (every bar), to the first ``OrderIntended`` committed (bars that sent an order; wall
    and the thread's CPU time), to the bar built; and journal commits per intent bar up
    to its first intent, that intent's own included (each one fsync on disk)."""

    done: list[int] = field(default_factory=list)
    intent: list[int] = field(default_factory=list)
    intent_cpu: list[int] = field(default_factory=list)
    built: list[int] = field(default_factory=list)
    lag: list[int] = field(default_factory=list)
    commits: list[int] = field(default_factory=list)


def _spin_until(due: int) -> None:
    while time.perf_counter_ns() < due:
        pass


def latency(folder: Path, days: int, background: int, background_ticks: int,
            rate: int, lead_ms: float) -> Latency:
    """Per NIFTY bar of the last ``days`` sessions (the session before them runs untimed
    first: history warm, kernels compiled). Before each closing tick, ``lead_ms`` of other
    instruments' ticks arrive paced at ``rate`` ticks/s (one thread: the feed's loop), and
    the closing tick is due right after them: its latency runs from when it was due, so
    time the loop is behind the stream counts too. The ticks that arrive while the runner
    works are aggregated after it (they wait; the decision does not)."""
    frame = replay_frame(DATASET, ["NIFTY"], None, None)
    dates = sorted(frame["ts"].dt.date.unique())[-(days + 1):]
    bars = list(replay_bars(frame[frame["ts"].dt.date >= dates[0]]))
    first_timed = next(i for i, b in enumerate(bars) if b.ts.date() >= dates[1])
    runner, _ = nifty_runner(folder)
    runner.run(bars[:first_timed])
    # (wall, thread CPU) ns and the journal's commits so far at each journaled intent
    intended: list[tuple[int, int, int]] = []
    runner.bus.subscribe(OrderIntended.KIND, lambda e: intended.append(
        (time.perf_counter_ns(), time.thread_time_ns(), runner.journal.commits)))
    builder = MinuteBars(NSE, grace_seconds=2.0)
    rng = np.random.default_rng(SEED)
    noise_depth = tuple((99.0, 75, 1) for _ in range(5))
    lead = max(1, int(rate * lead_ms / 1000))
    gap_ns = 1_000_000_000 // rate
    out = Latency()
    volume = 0
    pending: list[Tick] = []

    def others(ts: datetime, count: int, span_s: float) -> list[Tick]:
        offsets = np.sort(rng.uniform(0, span_s, count))
        tokens = rng.integers(0, background, count)
        return [Tick(token=1000 + int(k), symbol=f"B{k}", ts=ts + timedelta(seconds=float(s)),
                     price=100.0 + int(k) % 7, last_qty=1, volume=j, oi=1, bids=noise_depth,
                     asks=noise_depth) for j, (k, s) in enumerate(zip(tokens, offsets,
                                                                       strict=True))]

    for bar in bars[first_timed:]:
        own = bar_ticks(bar, volume)
        volume = own[-1].volume or 0
        closer = own[0]
        before = others(bar.ts, lead, 0.9)  # this minute's first ticks, before the closer
        backlog = others(bar.ts + timedelta(seconds=1), lead, 0.5)
        noise = others(bar.ts + timedelta(seconds=2), background * background_ticks, 57.0)
        for tick in pending:  # the previous minute's last NIFTY ticks
            builder.add(tick)
        builder.drain()
        intended.clear()
        commits_before = runner.journal.commits
        t0 = time.perf_counter_ns()
        for i, tick in enumerate(before):  # the stream at ``rate``
            _spin_until(t0 + i * gap_ns)
            builder.add(tick)
            builder.drain()
        due = t0 + lead * gap_ns
        _spin_until(due)
        now = time.perf_counter_ns()
        cpu_start = time.thread_time_ns() - (now - due)  # lag counted as busy (conservative)
        builder.add(closer)  # the first tick of this minute closes the previous one
        built = [i for i in builder.drain() if isinstance(i, FeedBar) and i.symbol == "NIFTY"]
        mid = time.perf_counter_ns()
        runner.run(built)
        end = time.perf_counter_ns()
        if built:
            out.lag.append(now - due)
            out.built.append(mid - due)
            out.done.append(end - due)
            if intended:
                out.intent.append(intended[0][0] - due)
                out.intent_cpu.append(intended[0][1] - cpu_start)
                out.commits.append(intended[0][2] - commits_before)
        missed = min(len(backlog), int((end - due) // gap_ns))  # arrived meanwhile
        for tick in backlog[:missed]:
            builder.add(tick)
        builder.drain()
        for tick in noise:  # the rest of this minute's traffic of the other instruments
            builder.add(tick)
        builder.drain()
        pending = own[1:]
    runner.journal.seal()
    assert any(isinstance(m, OrderIntended) for _, m in runner.journal.read())
    return out


def _pct(values: list[int], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=3000)
    parser.add_argument("--ticks", type=int, default=600_000)
    parser.add_argument("--minutes", type=int, default=3,
                        help="session minutes the ticks span (3,000 x 66 ticks a minute "
                             "by default: a liquid full-mode book)")
    parser.add_argument("--days", type=int, default=3, help="NIFTY sessions in the latency run")
    parser.add_argument("--rate", type=int, default=TICKS_TARGET_PER_S,
                        help="ticks/s of the stream the closing tick arrives in")
    parser.add_argument("--lead-ms", type=float, default=20.0,
                        help="ms of that stream before each closing tick")
    parser.add_argument("--background", type=int, default=3000)
    parser.add_argument("--background-ticks", type=int, default=1,
                        help="ticks per minute of each background instrument")
    args = parser.parse_args()

    ticks = make_ticks(args.instruments, args.ticks, args.minutes, SEED)
    n = len(ticks)
    symbols = {i: f"I{i}" for i in range(args.instruments)}
    agg_s = _median(lambda: aggregate(ticks, None)[0])
    gated_s = _median(lambda: aggregate(ticks, TickGate(symbols))[0])
    raw = kite_dicts(ticks[:100_000])
    raw_n = len(raw)
    feed_s = _median(lambda: feed_path(raw, symbols, record=False))
    recorded_s = _median(lambda: feed_path(raw, symbols, record=True))
    ref_s = _median(lambda: pandas_reference(ticks))
    tracemalloc.start()
    _, emitted = aggregate(ticks, TickGate(symbols))
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    raw, ticks = [], []  # the live process holds no such lists: not in the GC's way
    gc.collect()
    with tempfile.TemporaryDirectory(dir=ROOT / "data") as tmp:  # the repo's disk, not tmpfs
        disk = latency(Path(tmp), args.days, args.background, args.background_ticks,
                       args.rate, args.lead_ms)
    mem_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # fsync costs nothing there
    with tempfile.TemporaryDirectory(dir=mem_dir) as tmp:
        mem = latency(Path(tmp), args.days, args.background, args.background_ticks,
                      args.rate, args.lead_ms)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    agg_rate, gated_rate = n / agg_s, n / gated_s
    feed_rate, ref_rate = raw_n / feed_s, n / ref_s
    recorded_rate = raw_n / recorded_s
    ip50, ip99 = _pct(disk.intent, 50), _pct(disk.intent, 99)
    mi50, mi99 = _pct(mem.intent, 50), _pct(mem.intent, 99)
    mc50, mc99 = _pct(mem.intent_cpu, 50), _pct(mem.intent_cpu, 99)
    p99, m99 = _pct(disk.done, 99), _pct(mem.done, 99)
    b99_us = _pct(mem.built, 99) * 1000
    lag99_us = _pct(mem.lag, 99) * 1000
    commits = statistics.median(disk.commits)
    fsync50 = max(0.0, ip50 - mi50)
    fsync99 = max(0.0, ip99 - mi99)
    print(f"{n:,} ticks of {args.instruments:,} instruments over {args.minutes} min "
          f"-> {emitted:,} bars")
    print(f"aggregation {agg_rate:,.0f} ticks/s; with the tick check {gated_rate:,.0f}; "
          f"the Kite feed's whole per-tick path (dict -> tick -> check -> bar) "
          f"{feed_rate:,.0f}, recording every tick with depth too {recorded_rate:,.0f}; "
          f"pandas batch reference {ref_rate:,.0f}")
    print(f"tick -> bar close -> intent committed, ema_cross on NIFTY through the real "
          f"runner (pre-trade engine with every portfolio cap, policy, guardrails, paper "
          f"exchange), closing tick due after {args.lead_ms:g} ms of a {args.rate:,} ticks/s "
          f"stream, {len(disk.done)} bars a run, {len(disk.intent)} of them sent an order:")
    print(f"  stores on disk (synchronous=FULL): intent p50 {ip50:.3f} ms, p90 "
          f"{_pct(disk.intent, 90):.3f}, p99 {ip99:.3f}, max {max(disk.intent) / 1e6:.3f}; "
          f"runner done p99 {p99:.3f} ms")
    print(f"  stores in memory ({mem_dir or 'tmp'}, fsync free): intent p50 {mi50:.3f} ms, p90 "
          f"{_pct(mem.intent, 90):.3f}, p99 {mi99:.3f}, max {max(mem.intent) / 1e6:.3f}; "
          f"thread CPU to the intent p50 {mc50:.3f}, p99 {mc99:.3f} ms (without preemption "
          f"by other processes); runner done p99 {m99:.3f} ms")
    print(f"  the disk's share: {commits:.0f} journal commits (each an fsync of the WAL) "
          f"up to the first intent of a bar, its own included, plus the paper exchange's "
          f"commit of the bar: "
          f"disk - memory = {fsync50:.3f} ms at p50, {fsync99:.3f} ms at p99")
    print(f"tick -> bar built (the feed's share): p99 {b99_us:.1f} us; closing tick's wait "
          f"behind the stream p99 {lag99_us:.1f} us")
    print(f"one core at {TICKS_TARGET_PER_S:,} ticks/s: {TICKS_TARGET_PER_S / gated_rate:.0%} "
          "busy with checked aggregation")
    print(f"memory: tracemalloc peak {peak_bytes / 2**20:.1f} MiB in aggregation; "
          f"peak RSS {rss_mb:.0f} MiB")
    print(f"ticks_per_s_aggregation: {agg_rate:.0f}")
    print(f"ticks_per_s_checked: {gated_rate:.0f}")
    print(f"ticks_per_s_kite_path: {feed_rate:.0f}")
    print(f"ticks_per_s_kite_path_recorded: {recorded_rate:.0f}")
    print(f"ticks_per_s_target_met: {gated_rate >= TICKS_TARGET_PER_S}")
    print(f"tick_to_bar_built_us_p99: {b99_us:.1f}")
    print(f"intent_samples: {len(disk.intent)}")
    print(f"tick_to_intent_ms_p50: {ip50:.3f}")
    print(f"tick_to_intent_ms_p99: {ip99:.3f}")
    print(f"tick_to_bar_done_ms_p99: {p99:.3f}")
    print(f"tick_to_intent_ms_p50_stores_in_memory: {mi50:.3f}")
    print(f"tick_to_intent_ms_p99_stores_in_memory: {mi99:.3f}")
    print(f"tick_to_intent_cpu_ms_p99_stores_in_memory: {mc99:.3f}")
    print(f"tick_to_bar_done_ms_p99_stores_in_memory: {m99:.3f}")
    print(f"journal_commits_before_intent: {commits:.0f}")
    print(f"disk_share_ms_p50: {fsync50:.3f}")
    print(f"disk_share_ms_p99: {fsync99:.3f}")
    print(f"latency_target_met: {ip99 < LATENCY_TARGET_MS}")
    print(f"latency_target_met_stores_in_memory: {mi99 < LATENCY_TARGET_MS}")
    print(f"latency_target_met_cpu: {mc99 < LATENCY_TARGET_MS}")
    print(f"aggregation_peak_mib: {peak_bytes / 2**20:.1f}")
    print(f"peak_rss_mib: {rss_mb:.0f}")
    print(f"aggregation_vs_pandas_batch: {agg_rate / ref_rate:.2f}")

if __name__ == "__main__":
    main()
