"""Risk engine timings: per-order pre-trade check latency, portfolio VaR refresh for 50
positions, and a kill-switch cancel-all on the paper exchange.

    .venv/bin/python benchmarks/risk_checks.py

The reference measured in the same run is a no-op risk engine (the pass-through) on the
same proposals, so the headline ratio is what the real checks cost on top of the call.
Targets: check p99 under 100 us; cancel-all dispatched under 1 s and reconciled under 5 s.
Ends with ``name: value`` lines, the headline last.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, OrderType, Side
from live.db import make_engine
from live.events import BarClosed
from live.risk.engine import OrderProposal, PassThroughRisk
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.risk.var import historical_var_cvar, parametric_var_cvar
from live.state import LiveState

ROOT = Path(__file__).resolve().parents[1]
N_CHECKS, N_VAR, N_ORDERS = 10_000, 50, 200


def _percentile(samples: list[int], q: float) -> float:
    return float(np.percentile(np.array(samples) / 1_000.0, q))  # ns -> us


def check_latency(engine: object, state: LiveState) -> list[int]:
    start = datetime(2025, 3, 4, 4, 0, tzinfo=UTC)
    out = []
    for i in range(N_CHECKS):
        ts = start + timedelta(seconds=i)  # one order a second: under the rate limit
        proposal = OrderProposal(strategy="ema_cross", symbol="NIFTY", side=1 if i % 2 else -1,
                                 qty=75, reference_price=24_000.0, reduces_exposure=False,
                                 ts=ts, lot_size=75, reference_ts=ts)
        state.last_bars["NIFTY"] = BarClosed(trace_id="", ts_event=ts, symbol="NIFTY",
                                             open=24_000.0, high=24_001.0, low=23_999.0,
                                             close=24_000.0, volume=1.0)
        t0 = time.perf_counter_ns()
        engine.check(proposal, state)  # type: ignore[attr-defined]
        out.append(time.perf_counter_ns() - t0)
    return out


def var_refresh() -> tuple[float, float]:
    rng = np.random.default_rng(7)
    symbols = [f"S{i:02d}" for i in range(N_VAR)]
    returns = pd.DataFrame(rng.normal(0, 0.01, (500, N_VAR)), columns=symbols)
    positions = {s: float(rng.uniform(-2e6, 2e6)) for s in symbols}
    timings: dict[str, list[float]] = {"historical": [], "parametric": []}
    for _ in range(30):
        for name, func in (("historical", historical_var_cvar),
                           ("parametric", parametric_var_cvar)):
            t0 = time.perf_counter()
            func(positions, returns, 0.99, 1)
            timings[name].append((time.perf_counter() - t0) * 1e3)
    return statistics.median(timings["historical"]), statistics.median(timings["parametric"])


def cancel_all(folder: Path) -> tuple[float, float]:
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'x.db'}"), seed=1,
                             fill_model=FillModel())
    ids = []
    for i in range(N_ORDERS):
        result = exchange.submit(OrderRequest(client_key=f"k{i:05d}", symbol="NIFTY",
                                              exchange="NFO", side=Side.BUY, qty=75,
                                              order_type=OrderType.LIMIT, limit_price=1.0))
        ids.append(result.broker_order_id)
    t0 = time.perf_counter()
    for broker_id in ids:
        exchange.cancel(broker_id)
    dispatched = time.perf_counter() - t0
    open_left = [o for o in exchange.orders() if o.state.value == "OPEN"]
    reconciled = time.perf_counter() - t0
    assert not open_left, f"{len(open_left)} orders still open"
    return dispatched, reconciled


def main() -> None:
    limits = load_risk_limits(ROOT / "risk.yaml")
    ours = check_latency(PreTradeRiskEngine(limits), LiveState())
    reference = check_latency(PassThroughRisk(), LiveState())
    hist_ms, para_ms = var_refresh()
    with tempfile.TemporaryDirectory() as tmp:
        dispatched, reconciled = cancel_all(Path(tmp))
    p50, p99 = _percentile(ours, 50), _percentile(ours, 99)
    ref50 = _percentile(reference, 50)
    print(f"pre-trade check: p50 {p50:.1f} us, p99 {p99:.1f} us over {N_CHECKS} orders "
          f"(pass-through p50 {ref50:.2f} us)")
    print(f"VaR refresh, {N_VAR} positions x 500 days: historical {hist_ms:.2f} ms, "
          f"parametric {para_ms:.2f} ms (medians of 30)")
    print(f"cancel-all of {N_ORDERS} working orders: dispatched {dispatched:.3f} s, "
          f"reconciled {reconciled:.3f} s")
    print(f"check_p99_us: {p99:.1f}")
    print(f"check_p99_under_100us: {p99 < 100}")
    print(f"var_historical_ms: {hist_ms:.2f}")
    print(f"var_parametric_ms: {para_ms:.2f}")
    print(f"cancel_all_dispatch_s: {dispatched:.3f}")
    print(f"cancel_all_reconcile_s: {reconciled:.3f}")
    print(f"check_over_passthrough: {p50 / ref50:.1f}")


if __name__ == "__main__":
    main()
