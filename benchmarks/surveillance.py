"""The online abuse detectors' cost on the runner's path: a busy synthetic day of one
symbol (orders near the touch, a share cancelled, fills, minute bars, two strategies)
folded into the live state alone (the reference: what every journaled event already costs)
and into the state plus :class:`live.compliance.monitor.SurveillanceMonitor`.

    .venv/bin/python benchmarks/surveillance.py [--orders 5000] [--seed 7]

Ends with ``name: value`` lines, the headline last: the monitor's time per event in
microseconds and its cost as a multiple of the state's fold.

Measured (2026-12-06, 5,000 orders -> 10,375 events, loaded 2-core machine): state fold
20 ms; state + monitor 538 ms, i.e. ~50 us per journaled event (a journal append with its
fsync costs more); with two strategies crossing at the touch (4,297 wash findings) ~107 us.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import datetime, timedelta, timezone

from live.broker import OrderType, Side
from live.compliance.monitor import SurveillanceMonitor
from live.compliance.thresholds import SurveillanceThresholds
from live.events import (
    BarClosed,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    TradingMode,
)
from live.state import LiveState

IST = timezone(timedelta(hours=5, minutes=30))
REPEATS = 3


def busy_day(orders: int, seed: int, strategies: tuple[str, ...] = ("ema_cross",)
             ) -> list[Message]:
    """``orders`` orders over one session, ~40 % cancelled, the rest filled at the touch
    (two strategies: they cross each other at the touch within seconds - wash findings)."""
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, 9, 15, tzinfo=IST)
    step = timedelta(seconds=22_500 / orders)
    price, out, minute = 22_000.0, [], -1
    for i in range(orders):
        ts = start + step * i
        if int((ts - start).total_seconds() // 60) != minute:
            minute = int((ts - start).total_seconds() // 60)
            price *= 1 + rng.uniform(-0.0005, 0.0005)
            out.append(BarClosed(trace_id="", ts_event=ts, symbol="NIFTY", open=price,
                                 high=price + 2, low=price - 2, close=price, volume=50_000))
        side = rng.choice([Side.BUY, Side.SELL])
        key = f"so{i:016d}"
        out.append(OrderIntended(
            trace_id=f"tr{i}", ts_event=ts, client_key=key,
            strategy=strategies[i % len(strategies)], version="1", symbol="NIFTY",
            exchange="NFO", side=side, qty=75 * rng.randint(1, 4), order_type=OrderType.LIMIT,
            limit_price=round(price, 1), mode=TradingMode.LIVE))
        later = ts + step / 2
        if rng.random() < 0.4:
            out.append(OrderCancelled(trace_id=f"tr{i}", ts_event=later, client_key=key,
                                      broker_order_id=f"B{i}", reason="bench"))
        else:
            qty = out[-1].qty  # type: ignore[attr-defined]
            out.append(OrderFilled(trace_id=f"tr{i}", ts_event=later, client_key=key,
                                   broker_order_id=f"B{i}", trade_id=f"T{i}", symbol="NIFTY",
                                   side=side, qty=qty, price=round(price, 1)))
    return out


def fold(messages: list[Message], monitor: SurveillanceMonitor | None) -> float:
    state = LiveState()
    began = time.perf_counter()
    for message in messages:
        state.apply(message)
        if monitor is not None:
            monitor.observe(message)
            monitor.drain()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    messages = busy_day(args.orders, args.seed)
    base = statistics.median(fold(messages, None) for _ in range(REPEATS))
    cfg = SurveillanceThresholds()
    ours = statistics.median(fold(messages, SurveillanceMonitor(cfg)) for _ in range(REPEATS))
    per_event_us = ours / len(messages) * 1e6
    print(f"events {len(messages)}: state fold {base * 1e3:.1f} ms, state + monitor "
          f"{ours * 1e3:.1f} ms")
    crossing = busy_day(args.orders, args.seed, ("ema_cross", "atr_reversal"))
    monitor = SurveillanceMonitor(cfg)
    heavy = fold(crossing, monitor) - fold(crossing, None)
    print(f"two strategies crossing at the touch: {len(monitor.emitted)} findings, monitor "
          f"{heavy / len(crossing) * 1e6:.1f} us per event")
    print(f"events: {len(messages)}")
    print(f"monitor_us_per_event: {(ours - base) / len(messages) * 1e6:.1f}")
    print(f"total_us_per_event: {per_event_us:.1f}")
    print(f"cost_vs_state_fold: {ours / base:.1f}")


if __name__ == "__main__":
    main()
