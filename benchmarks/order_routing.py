"""Order routing and retry overhead: a submit through the smart order router over two paper
venues against a submit straight to one paper exchange (the reference, same run, same kind
of SQLite store), the router's plan per order, and the retrier wrapped around a confirmed
call against the bare call.

    .venv/bin/python benchmarks/order_routing.py [--orders 300]

Ends with ``name: value`` lines, the headline (router submit / direct submit) last.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, Outcome, Side, SubmitResult
from live.db import make_engine
from live.orders.retry import Retrier, RetryPolicy
from live.sor.router import SmartOrderRouter
from live.sor.rules import ProRataSplit
from live.sor.venues import Venue


def _paper(folder: Path, name: str) -> PaperExchange:
    return PaperExchange(make_engine(f"sqlite:///{folder / f'{name}.db'}"), seed=1,
                         fill_model=FillModel(tick_size=0.05))


def _median_us(calls: list[Callable[[], object]]) -> float:
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def _submit(broker: PaperExchange | SmartOrderRouter, key: str, venue: str | None
            ) -> Callable[[], object]:
    request = OrderRequest(client_key=key, symbol="NIFTY", exchange="NFO", side=Side.BUY,
                           qty=75, venue=venue)
    return lambda: broker.submit(request)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    n = parser.parse_args().orders
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        direct = _paper(folder, "direct")
        router = SmartOrderRouter([
            Venue(name="a", broker=_paper(folder, "a"), account="A", depth_qty=1000),
            Venue(name="b", broker=_paper(folder, "b"), account="B", depth_qty=3000,
                  max_qty_per_order=900)], ProRataSplit())
        direct_us = _median_us([_submit(direct, f"d{i}", None) for i in range(n)])
        routed_us = _median_us([_submit(router, f"r{i}", "ab"[i % 2]) for i in range(n)])
    plan_us = _median_us([lambda: router.plan(qty=75 * 40, lot_size=75, price=22_000.0,
                                              freeze_qty=1800)] * 10_000)
    confirmed = SubmitResult(Outcome.CONFIRMED, "1")
    retrier = Retrier(RetryPolicy(), sleep=time.sleep, monotonic_s=time.monotonic)
    bare_us = _median_us([lambda: confirmed] * 10_000)
    wrapped_us = _median_us([lambda: retrier.run("k", lambda: confirmed, print)] * 10_000)
    print(f"direct paper submit median: {direct_us:.0f} us; via router: {routed_us:.0f} us")
    print(f"router plan of 40 lots over 2 venues median: {plan_us:.1f} us")
    print(f"confirmed call median bare: {bare_us:.2f} us; through the retrier: {wrapped_us:.2f} us")
    print(f"router_plan_us: {plan_us:.1f}")
    print(f"retrier_overhead_us: {wrapped_us - bare_us:.2f}")
    print(f"router_submit_vs_direct: {routed_us / direct_us:.2f}")


if __name__ == "__main__":
    main()
