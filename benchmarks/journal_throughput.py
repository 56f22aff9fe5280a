"""Journal throughput: durable group commit vs one commit per event, and 1M-event replay.

Workload: a realistic message mix (bar, signal, risk check, intent, submission, fill) on a
SQLite journal in WAL mode with ``synchronous=FULL`` - every commit is fsynced before the
call returns. The reference, measured in the same run, is one commit per event (what a
naive runner does); group commit batches 100 or 1,000 events per commit. Then 1M events are
bulk-loaded (batches of 10,000) and the whole journal is verified and replayed into live
state in a fresh child process (whose peak RSS shows the read is streaming).

Run: ``.venv/bin/python benchmarks/journal_throughput.py [--runs 3] [--events 1000000]``.
The last lines are ``name: value`` pairs, the headline ratio last.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from live.broker import OrderType, Outcome, Side
from live.events import (
    BarClosed,
    Message,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    RiskChecked,
    SignalRaised,
    SignalSide,
    TradingMode,
    client_key,
    new_trace_id,
)
from live.journal import Journal, open_journal
from live.state import replay, state_hash

T0 = datetime(2025, 1, 6, 9, 15, tzinfo=ZoneInfo("Asia/Kolkata"))
MESSAGES_PER_TRADE = 6
BULK_BATCH = 10_000


def messages(start: int, count: int) -> Iterator[Message]:
    """``count`` messages of the mix, from message number ``start`` on (deterministic)."""
    for n in range(start, start + count):
        i, step = divmod(n, MESSAGES_PER_TRADE)
        yield _message(i, step)


def _message(i: int, step: int) -> Message:
    ts = T0 + timedelta(seconds=i)
    symbol = "NIFTY25JANFUT" if i % 2 else "BANKNIFTY25JANFUT"
    price = 23_500.0 + (i % 97) * 0.05
    side = Side.BUY if i % 2 else Side.SELL
    trace = new_trace_id("ema_cross", symbol, ts, i)
    key = client_key(trace)
    if step == 0:
        return BarClosed(trace_id="", ts_event=ts, symbol=symbol, open=price, high=price + 2,
                         low=price - 2, close=price + 0.5, volume=1_000.0 + i)
    if step == 1:
        return SignalRaised(trace_id=trace, ts_event=ts, strategy="ema_cross", version="3",
                            symbol=symbol, side=SignalSide.LONG if i % 2 else SignalSide.SHORT,
                            reason="entry")
    if step == 2:
        return RiskChecked(trace_id=trace, ts_event=ts, strategy="ema_cross", symbol=symbol,
                           passed=True, check="max_position", reason="")
    if step == 3:
        return OrderIntended(trace_id=trace, ts_event=ts, client_key=key, strategy="ema_cross",
                             version="3", symbol=symbol, exchange="NFO", side=side, qty=75,
                             order_type=OrderType.MARKET, mode=TradingMode.LIVE)
    if step == 4:
        return OrderSubmitted(trace_id=trace, ts_event=ts, client_key=key,
                              broker_order_id=f"B{i}", outcome=Outcome.CONFIRMED)
    return OrderFilled(trace_id=trace, ts_event=ts, client_key=key, broker_order_id=f"B{i}",
                       trade_id=f"T{i}", symbol=symbol, side=side, qty=75, price=price)


def appends_per_s(journal: Journal, start: int, count: int, batch: int) -> float:
    """Durable appends per second, ``batch`` messages per commit (1 = a commit each)."""
    pending = list(messages(start, count))
    began = time.perf_counter()
    if batch == 1:
        for message in pending:
            journal.append(message, ts_record=T0)
    else:
        for first in range(0, count, batch):
            journal.append_many(pending[first:first + batch], ts_record=T0)
    return count / (time.perf_counter() - began)


def median_rate(journal: Journal, counter: list[int], count: int, batch: int,
                runs: int) -> float:
    rates = []
    for _ in range(runs):
        rates.append(appends_per_s(journal, counter[0], count, batch))
        counter[0] += count
    return statistics.median(rates)


def bulk_load(url: str, total: int) -> float:
    journal = open_journal(url)
    began = time.perf_counter()
    for first in range(0, total, BULK_BATCH):
        journal.append_many(messages(first, min(BULK_BATCH, total - first)), ts_record=T0)
    return total / (time.perf_counter() - began)


def _verify_and_replay(url: str, out: mp.Queue) -> None:
    journal = open_journal(url)
    began = time.perf_counter()
    verdict = journal.verify()
    verified = time.perf_counter() - began
    began = time.perf_counter()
    state = replay(journal)
    replayed = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((verdict.ok, verdict.entries, verified, replayed, peak_mb, state_hash(state),
             state.events_applied))


def verify_and_replay(url: str) -> tuple[bool, int, float, float, float, str, int]:
    """Verify and replay in a fresh process, so its peak RSS is the read's alone."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    child = ctx.Process(target=_verify_and_replay, args=(url, out))
    child.start()
    result = out.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--single", type=int, default=300, help="events per single-commit run")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to replay")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="journal-bench-") as tmp:
        journal = open_journal(f"sqlite:///{Path(tmp) / 'commits.db'}")
        counter = [0]
        single = median_rate(journal, counter, args.single, 1, args.runs)
        group_100 = median_rate(journal, counter, 20_000, 100, args.runs)
        group_1000 = median_rate(journal, counter, 50_000, 1000, args.runs)
        print(f"single commit:      {single:12,.0f} appends/s (median of {args.runs})")
        print(f"group commit 100:   {group_100:12,.0f} appends/s")
        print(f"group commit 1000:  {group_1000:12,.0f} appends/s")
        assert journal.verify().ok

        url = f"sqlite:///{Path(tmp) / 'replay.db'}"
        loaded = bulk_load(url, args.events)
        print(f"bulk load {args.events:,} (batches of {BULK_BATCH:,}, building the messages too): "
              f"{loaded:,.0f} appends/s")
        ok, entries, verified_s, replayed_s, peak_mb, digest, applied = verify_and_replay(url)
        if not ok or entries != args.events or applied != args.events:
            raise SystemExit(f"verify/replay disagree: ok={ok} entries={entries} "
                             f"applied={applied}")
        print(f"verify {entries:,}: {verified_s:.1f} s ({entries / verified_s:,.0f} events/s)")
        print(f"replay {applied:,}: {replayed_s:.1f} s ({applied / replayed_s:,.0f} events/s), "
              f"child peak RSS {peak_mb:,.0f} MB, state {digest[:16]}")

    print(f"single_commit_appends_per_s: {single:.0f}")
    print(f"group_commit_100_appends_per_s: {group_100:.0f}")
    print(f"group_commit_1000_appends_per_s: {group_1000:.0f}")
    print(f"bulk_load_appends_per_s: {loaded:.0f}")
    print(f"verify_events_per_s: {entries / verified_s:.0f}")
    print(f"replay_events_per_s: {applied / replayed_s:.0f}")
    print(f"replay_seconds: {replayed_s:.2f}")
    print(f"replay_peak_rss_mb: {peak_mb:.0f}")
    print(f"group_commit_speedup: {group_1000 / single:.1f}")


if __name__ == "__main__":
    main()
