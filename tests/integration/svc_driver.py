"""The execution service (:func:`live.svc.execution.serve_execution`) over one strategy on
the paper exchange without governance (like ``runner_driver.py``, which the crash tests
use), or the embedded runner over the same bars for reference; prints the state hashes and
the exchange's submit counts as JSON. Used as a real subprocess:

    svc_driver.py execution <folder> <stream_prefix> [<crash point>:<n>]
    svc_driver.py reference <folder> <bars>
    svc_driver.py execution-remote <folder> <stream_prefix> <idle exit s>
    svc_driver.py risk <folder> <stream_prefix>
    svc_driver.py signal - <stream_prefix> [<idle exit s>]
    svc_driver.py execution-signals <folder> <stream_prefix> <idle exit s>
    svc_driver.py signal-governed <seed> <stream_prefix>
    svc_driver.py execution-governed <folder> <stream_prefix> <idle exit s>

``execution-remote`` asks the risk service (``risk``: the repository's ``risk.yaml``
pre-trade engine in a process of its own, :mod:`live.svc.risk`) instead of its own engine;
the embedded reference of that split is ``runner(..., engine=pretrade_engine())``.
``execution-signals`` decides on the signals the signal service (``signal``:
:mod:`live.svc.signal`) publishes instead of running the strategy's kernel itself
(:mod:`live.svc.remote_signals`, deadline :data:`SIGNAL_DEADLINE_S`); its embedded
reference is ``reference``. The ``-governed`` pair deploys the version with a tiny regime
classifier (:func:`tests.regime_tiny.tiny_governance`: ``seed`` for the signal service, 0 for
execution), so a signal service of another seed runs another classifier.
The journal and the exchange store are ``synchronous=FULL`` unless the
environment sets ``SVC_DRIVER_SYNCHRONOUS=normal`` (the benchmark's second run).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, SubmitResult
from live.bus import Transport
from live.db import make_engine
from live.journal import open_journal
from live.risk.interface import RiskEngine
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import Deployed, build
from live.runner.feed import FeedBar, replay_bars, replay_frame
from live.runner.preload import warm_deployed
from live.runner.runner import Runner
from live.state import state_hash, trading_state_hash
from live.svc.execution import serve_execution
from live.svc.mirror import MirrorTransport
from live.svc.remote_risk import RemoteRisk
from live.svc.remote_signals import RemoteSignals
from live.svc.risk import RiskService, serve_risk
from live.svc.signal import SignalService, serve_signal
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import COMMANDS, EVENTS, MARKET_DATA, RISK, SIGNALS, BusLayout
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk, submitted_count
from tests.integration.runner_driver import CrashAt
from tests.regime_tiny import tiny_governance

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2025, 3, 3)
IST = ZoneInfo("Asia/Kolkata")
NATS_URL = "nats://127.0.0.1:4222"
STRATEGY = "ema_cross"
SIGNAL_DEADLINE_S = 0.3
SYNCHRONOUS_ENV = "SVC_DRIVER_SYNCHRONOUS"  # the stores' durability: full (default) | normal


def day_bars(count: int, days: int = 1) -> list[FeedBar]:
    """The first ``count`` NIFTY bars of each of the ``days`` trading days from :data:`DAY`."""
    frame = replay_frame(ROOT / "data/datasets/nse_index_1m.parquet", ["NIFTY"], DAY,
                         DAY + timedelta(days=2 * days + 7))
    by_day: dict[date, list[FeedBar]] = {}
    for bar in replay_bars(frame):
        by_day.setdefault(bar.ts.astimezone(IST).date(), []).append(bar)
    return [bar for day in sorted(by_day)[:days] for bar in by_day[day][:count]]


def pretrade_engine() -> RiskEngine:
    """The repository's ``risk.yaml`` pre-trade engine (reads the state: positions, orders)."""
    return PreTradeRiskEngine(load_risk_limits(ROOT / "risk.yaml"))


def deployment(governance_seed: int | None = None) -> Deployed:
    """The one deployed version (ema_cross on NIFTY; no governance, or the tiny classifier
    of ``governance_seed``)."""
    spec = get_strategy(STRATEGY)
    config = {"strategy": STRATEGY, "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}
    return build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64,
                 None if governance_seed is None else tiny_governance(governance_seed))


class TimedExchange(PaperExchange):
    """The paper exchange noting the host's monotonic clock (``perf_counter_ns``: one clock
    for every process on the host) as each order reaches it: the benchmark's bar -> order
    latency ends there, the broker call itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.submit_ns: list[int] = []

    def submit(self, request: OrderRequest) -> SubmitResult:
        self.submit_ns.append(time.perf_counter_ns())
        return super().submit(request)


def runner(folder: Path, transport: Transport | None, crash_at: str = "", *,
           engine: RiskEngine | None = None, risk_answers: Any = None,
           signal_source: Any = None, governance_seed: int | None = None
           ) -> tuple[Runner, Any]:
    """The runner (and its paper exchange) on the stores in ``folder``."""
    deployed = deployment(governance_seed)
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731 - record time, fixed
    sync = os.environ.get(SYNCHRONOUS_ENV, "full")  # the benchmark measures both modes
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock, synchronous=sync)
    exchange = TimedExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}",
                                         synchronous=sync), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    return Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                  clock=clock, risk=engine or PassThroughRisk(), transport=transport,
                  risk_answers=risk_answers, signal_source=signal_source,
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close),
                  crash_hook=CrashAt(crash_at) if crash_at else None), exchange


def report(run: Runner, exchange: Any) -> dict[str, Any]:
    keys = list(run.state.orders)
    return {"hash": trading_state_hash(run.state), "state_hash": state_hash(run.state),
            "orders": len(keys), "fills": len(run.state.trade_ids),
            "max_submits": max((submitted_count(exchange, k) for k in keys), default=0),
            "submit_ns": exchange.submit_ns}


def main(kind: str, workdir: str, arg: str, crash_at: str = "") -> None:
    folder = Path(workdir)
    if kind == "reference":
        run, exchange = runner(folder, None)
        run.recover()
        run.run(day_bars(int(arg)))
    elif kind == "risk":
        layout = BusLayout(arg)
        commands = JetStreamTransport(NATS_URL, layout, publisher=f"risk-{uuid.uuid4().hex}",
                                      publishes=RISK, consumer=layout.consumer(
                                          COMMANDS, "risk", topic="CheckRisk"))
        events = JetStreamTransport(NATS_URL, layout, publisher=f"risk-s-{uuid.uuid4().hex}",
                                    consumer=layout.consumer(EVENTS, "risk-state",
                                                             from_start=True))
        service = RiskService(pretrade_engine(), commands, events)
        service.catch_up()  # the events stream folded: ready to answer
        print("ready", flush=True)
        serve_risk(service)
        print(json.dumps({"answered": service.answered}))
        return
    elif kind in ("signal", "signal-governed"):
        layout = BusLayout(arg)
        bars = JetStreamTransport(NATS_URL, layout, publisher=f"signal-{uuid.uuid4().hex}",
                                  publishes=SIGNALS, consumer=layout.consumer(
                                      MARKET_DATA, "signal", from_start=True))
        service = SignalService([deployment(
            int(workdir) if kind == "signal-governed" else None)], bars)
        warm_deployed(service.deployed)  # before "ready" (serve_signal does it again: cheap)
        service.catch_up()  # the bars already on the stream read: ready for the next
        print("ready", flush=True)
        serve_signal(service, idle_exit_seconds=float(crash_at) if crash_at else None)
        bars.close()
        print(json.dumps({"published": service.published}))
        return
    elif kind in ("execution-signals", "execution-governed"):
        layout = BusLayout(arg)
        bus = JetStreamTransport(NATS_URL, layout, publisher=f"execution-{uuid.uuid4().hex}",
                                 publishes=EVENTS,
                                 consumer=layout.consumer(MARKET_DATA, "execution",
                                                          ordered=True))
        sig_bus = JetStreamTransport(NATS_URL, layout, publisher=f"ex-s-{uuid.uuid4().hex}",
                                     consumer=layout.consumer(SIGNALS, "execution-signals",
                                                              topic="BarSignals"))
        remote = RemoteSignals(sig_bus, deadline_seconds=SIGNAL_DEADLINE_S)
        run, exchange = runner(folder, MirrorTransport(bus), signal_source=remote,
                               governance_seed=0 if kind == "execution-governed" else None)
        serve_execution(run, bus, idle_exit_seconds=float(crash_at or 1.5))
        bus.close()
        sig_bus.close()
        print(json.dumps({**report(run, exchange), "missing": remote.missing,
                          "stale": remote.stale}))
        return
    elif kind == "execution-remote":
        layout = BusLayout(arg)
        bus = JetStreamTransport(NATS_URL, layout, publisher=f"execution-{uuid.uuid4().hex}",
                                 publishes=EVENTS,
                                 consumer=layout.consumer(MARKET_DATA, "execution",
                                                          ordered=True))
        risk_bus = JetStreamTransport(NATS_URL, layout, publisher=f"ex-r-{uuid.uuid4().hex}",
                                      publishes=COMMANDS, publish_deadline_seconds=0.5,
                                      consumer=layout.consumer(RISK, "execution-risk",
                                                               topic="RiskChecked"))
        run, exchange = runner(folder, MirrorTransport(bus), engine=pretrade_engine(),
                               risk_answers=lambda b, e, s: RemoteRisk(
                                   b, e, s, risk_bus=risk_bus, events_bus=bus,
                                   deadline_seconds=0.5))
        serve_execution(run, bus, idle_exit_seconds=float(crash_at or 1.5))
        bus.close()
        risk_bus.close()
        unanswered = [m.message for _, m in run.journal.read(1)
                      if getattr(m, "code", "") == "risk_unanswered"]
        print(json.dumps({**report(run, exchange), "unanswered": len(unanswered)}))
        return
    else:
        layout = BusLayout(arg)
        bus = JetStreamTransport(NATS_URL, layout, publisher=f"execution-{uuid.uuid4().hex}",
                                 publishes=EVENTS,
                                 consumer=layout.consumer(MARKET_DATA, "execution",
                                                          ordered=True))
        run, exchange = runner(folder, MirrorTransport(bus), crash_at)
        serve_execution(run, bus, idle_exit_seconds=1.5)
        bus.close()
    print(json.dumps(report(run, exchange)))


if __name__ == "__main__":
    main(*sys.argv[1:])
