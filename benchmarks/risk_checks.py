"""Risk engine timings: per-order pre-trade check latency, portfolio VaR refresh for 50
positions, a kill-switch cancel-all on the paper exchange, and kill-command latency in a
runner fed at real-time pace.

    .venv/bin/python benchmarks/risk_checks.py [--kill-trials 8] [--bar-seconds 60]

The reference measured in the same run is a no-op risk engine (the pass-through,
``tests.doubles.PassThroughRisk``) on the same proposals, so the headline ratio is what the
real checks cost on top of the call.
Kill latency: a runner (ema_cross on real NIFTY bars, the pre-trade engine, a SQLite
journal and the paper exchange) is short; its feed delivers one-minute bars ``bar_seconds``
apart in real time (``paced``: the wait in slices of 200 ms with an ``Idle`` marker after
each); shortly after a bar a desk head pulls a flatten through the real governance path
(``pull``, Ed25519-signed, audited) from another thread, at offsets spread over a slice.
Measured from just before ``pull`` is called to the ``KillSwitchChanged`` durably journaled
and to the flatten's market order answered by the exchange. The reference: the same with
the ``Idle`` markers dropped (polling at bars only, the old behaviour), on 3 s bar spacing.
Targets: check p99 under 100 us; cancel-all dispatched under 1 s and reconciled under 5 s;
kill to effect under 1 s. Ends with ``name: value`` lines, the headline last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.doubles

import numpy as np
import pandas as pd

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, OrderType, Side
from live.db import make_engine
from live.events import BarClosed, KillSwitchChanged
from live.governance.configs import ConfigFiles
from live.governance.identity import create_keys, load_actor, load_directory
from live.governance.kill import pull, verified_commands
from live.governance.promotion import GovernanceService
from live.journal import open_journal
from live.risk.interface import OrderProposal
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.risk.var import historical_var_cvar, parametric_var_cvar
from live.runner.deployments import build
from live.runner.feed import FeedItem, Idle, paced, replay_bars, replay_frame
from live.runner.runner import Runner
from live.state import LiveState
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk

ROOT = Path(__file__).resolve().parents[1]
N_CHECKS, N_VAR, N_ORDERS = 10_000, 50, 200
SHORT = 26  # NIFTY bars of 2025-03-03 fed flat out first: ema_cross is short after them


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


def utc_now() -> datetime:
    return datetime.now(UTC)  # the benchmark is the shell's edge: the wall clock is its own


def desk(folder: Path) -> tuple[GovernanceService, Any]:
    """A governance store with one desk head (bob) and bob's signer."""
    _, public = create_keys("bob", folder / "keys")
    (folder / "roles.yaml").write_text(
        f"version: 1\nusers:\n  bob: {{roles: [desk_head], public_key: '{public}'}}\n")
    directory = load_directory(folder / "roles.yaml")
    engine = make_engine(f"sqlite:///{folder / 'governance.db'}")
    svc = GovernanceService(engine=engine, directory=directory, registry=None,
                            configs=ConfigFiles(engine, {}), clock=utc_now)
    bob = load_actor(directory, "bob", folder / "keys")
    return svc, lambda payload: bob.sign(payload, now=utc_now(), ttl_seconds=900)


class KillTrial:
    """One runner, short, on its own journal and exchange; the desk pulls a flatten
    ``offset_s`` after the bar that follows the warm-up."""

    def __init__(self, folder: Path, svc: GovernanceService, signer: Any,
                 bars: list[Any], limits: Any) -> None:
        spec = get_strategy("ema_cross")
        config = {"strategy": "ema_cross", "params": get_params(spec.default_params()),
                  "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
                  "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0,
                          "tick_size": 0.05}}
        self.svc, self.signer, self.bars = svc, signer, bars
        self.exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"),
                                      seed=3, fill_model=FillModel(slippage_ticks=1.0,
                                                                   tick_size=0.05))
        journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=utc_now)
        self.runner = Runner(
            journal=journal, broker=self.exchange,
            deployed=[build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)],
            mode="live", clock=utc_now, risk=PreTradeRiskEngine(limits),
            market=lambda b: self.exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                  b.close),
            kill_commands=lambda last: verified_commands(svc.engine, svc.directory, last,
                                                         clock=utc_now))
        self.issued = self.journaled = self.sent = 0.0
        self._watch(journal)

    def _watch(self, journal: Any) -> None:
        append, submit = journal.append, self.exchange.submit

        def timed_append(message: Any, **kwargs: Any) -> int:
            seq = append(message, **kwargs)
            if isinstance(message, KillSwitchChanged):
                self.journaled = time.perf_counter()
            return seq

        def timed_submit(request: Any) -> Any:
            result = submit(request)
            if self.issued and not self.sent:
                self.sent = time.perf_counter()
            return result

        journal.append = timed_append
        self.exchange.submit = timed_submit  # type: ignore[method-assign]

    def _issue(self) -> None:
        self.issued = time.perf_counter()
        pull(self.svc, "ema_cross", "flatten", "benchmark", self.signer)

    def _feed(self, items: Iterable[FeedItem], offset_s: float, bar_only: bool
              ) -> Iterator[FeedItem]:
        timer = None
        for item in items:
            if bar_only and isinstance(item, Idle):
                continue  # the old runner: nothing between bars
            yield item
            if timer is None:  # the first bar is processed: the desk pulls shortly after
                timer = threading.Timer(offset_s, self._issue)
                timer.start()
            if self.sent:
                break
        if timer is not None:
            timer.join()

    def run(self, offset_s: float, bar_seconds: float, bar_only: bool = False
            ) -> tuple[float, float]:
        self.runner.recover()
        self.runner.run(self.bars[:SHORT])
        assert self.runner.net("ema_cross", "NIFTY") != 0, "the warm-up opened no position"
        feed = paced(self.bars[SHORT:], speed=60.0 / bar_seconds, sleep=time.sleep,
                     monotonic=time.monotonic)
        self.runner.run(self._feed(feed, offset_s, bar_only))
        assert self.sent, "the flatten was never sent"
        return (self.journaled - self.issued) * 1e3, (self.sent - self.issued) * 1e3


def kill_latency(folder: Path, trials: int, bar_seconds: float, bar_only: bool = False
                 ) -> tuple[list[float], list[float]]:
    """Latencies (ms) from issue to the journaled switch and to the flatten sent."""
    bars = list(replay_bars(replay_frame(ROOT / "data/datasets/nse_index_1m.parquet",
                                         ["NIFTY"], date(2025, 3, 3), date(2025, 3, 3))))
    limits = load_risk_limits(ROOT / "risk.yaml")
    to_switch, to_order = [], []
    for i in range(trials):
        trial_dir = folder / f"{'bar' if bar_only else 'idle'}-{i}"
        trial_dir.mkdir()
        svc, signer = desk(trial_dir)
        offset = 0.05 + 0.2 * i / trials  # spread over one polling slice
        switch_ms, order_ms = KillTrial(trial_dir, svc, signer, bars, limits).run(
            offset, bar_seconds, bar_only)
        to_switch.append(switch_ms)
        to_order.append(order_ms)
    return to_switch, to_order


def _kill_lines(trials: int, bar_seconds: float) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        to_switch, to_order = kill_latency(Path(tmp), trials, bar_seconds)
        ref_switch, _ = kill_latency(Path(tmp), 3, 3.0, bar_only=True)
    worst = max(max(to_switch), max(to_order))
    print(f"kill command -> effect, {trials} trials, bars {bar_seconds:g} s apart in real "
          f"time: switch journaled p50 {statistics.median(to_switch):.0f} ms, max "
          f"{max(to_switch):.0f} ms; flatten sent p50 {statistics.median(to_order):.0f} ms, "
          f"max {max(to_order):.0f} ms (polling at bars only, bars 3 s apart: p50 "
          f"{statistics.median(ref_switch):.0f} ms)")
    return [f"kill_to_switch_ms_p50: {statistics.median(to_switch):.0f}",
            f"kill_to_switch_ms_max: {max(to_switch):.0f}",
            f"kill_to_flatten_sent_ms_p50: {statistics.median(to_order):.0f}",
            f"kill_to_flatten_sent_ms_max: {max(to_order):.0f}",
            f"kill_to_effect_ms_max: {worst:.0f}",
            f"kill_under_1s: {worst < 1000}",
            f"bar_only_kill_to_switch_ms_p50: {statistics.median(ref_switch):.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-trials", type=int, default=8)
    parser.add_argument("--bar-seconds", type=float, default=60.0,
                        help="real seconds between one-minute bars in the kill trials")
    args = parser.parse_args()
    kill_lines = _kill_lines(args.kill_trials, args.bar_seconds)
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
    for line in kill_lines:
        print(line)
    print(f"check_over_passthrough: {p50 / ref50:.1f}")


if __name__ == "__main__":
    main()
