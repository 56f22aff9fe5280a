"""Run the live runner for one NSE session through Kite - the real ``KiteConnect`` and
``KiteTicker`` from the production builders (:func:`stratops.kite_ops.open_kite_broker`,
:func:`stratops.market_ops.kite_feed`) pointed at a fake Kite - or, for comparison, on the
paper exchange over the same day's replayed bars. Used as a real subprocess by
``test_kite_session.py``; prints the run's trades and trading-state hash as JSON.

``python -m tests.integration.kite_driver <workdir> kite|paper [crash_point:n]``; the
workdir holds ``run.json`` (roots, master file, dataset, day, start clock) and, for Kite,
``session.json`` (the 0600 credentials file).

Simulated time: the fake sends a minute's ticks when the test advances it; this process's
clock (:class:`TickClock`) follows the exchange time of the ticks it has received (the
last tick + 17 s: the 45 s tick of minute ``t`` moves it past ``t + 1 min + grace``, so
the bar closes on the clock, before the next minute's ticks - whose first one fills the
orders sent on that bar, as the paper exchange's ``next_open``). After each bar is
processed (the runner asks for the next item) its time is appended to ``progress``, as is
each feed alert's code and message, so the test moves in lock-step. A ``stop`` file ends
the feed (the runner finishes).

Governance: the runner is built directly (no approved deployment needed), as
``runner_driver.py`` does, but with the production risk path: the repository's
``policy.yaml`` and ``risk.yaml``, the real :class:`PreTradeRiskEngine` with the portfolio
caps of :func:`stratops.live_ops.portfolio_caps` (Kite's margin endpoints for the Kite
broker, the SPAN-like model for paper), the order rules and price bands; ``"risk":
"pass"`` in ``run.json`` swaps in ``PassThroughRisk`` (to measure the transport alone).
"""

from __future__ import annotations

import json
import queue
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import live.market.kite_feed as kite_feed_module
from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.events import OrderFilled, OrderIntended, RiskChecked
from live.governance.policy import load_policy
from live.journal import Journal, open_journal
from live.risk.interface import RiskEngine
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import build
from live.runner.feed import FeedAlert, FeedBar, FeedItem, replay_bars, replay_frame
from live.runner.runner import Runner
from live.state import trading_state_hash
from strategies.params import get_params
from strategies.roster import STRATEGIES, get_strategy
from strategies.version_config import VersionConfig
from stratops.instruments_ops import contract_book
from stratops.kite_ops import open_kite_broker
from stratops.live_ops import portfolio_caps
from stratops.market_ops import kite_feed
from stratops.settings import Settings
from tests.doubles import PassThroughRisk
from tests.integration.runner_driver import ROOT, CrashAt, _desk

TICK_LAG = timedelta(seconds=17)  # the last tick of a minute (45 s) + 17 s > its end + 2 s


class TickClock:
    """The feed's and runner's clock: the received ticks' exchange time (see the module
    docstring), moved only while the feed's inbox is empty (every tick that moved it has
    been handled: no tick turns late because the clock ran ahead of the queue)."""

    def __init__(self, start: datetime) -> None:
        self.committed = self.latest = start
        self.inbox: queue.Queue[Any] | None = None

    def saw(self, ts: datetime) -> None:
        self.latest = max(self.latest, ts + TICK_LAG)

    def __call__(self) -> datetime:
        if self.inbox is None or self.inbox.empty():
            self.committed = max(self.committed, self.latest)
        return self.committed


class WatchedInbox(queue.Queue[Any]):
    """The feed's inbox; each ticks message moves the clock after it is queued."""

    def __init__(self, clock: TickClock) -> None:
        super().__init__()
        self.clock = clock

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        if item[0] == "ticks":
            for raw in item[2]:
                ts = raw.get("exchange_timestamp")
                if isinstance(ts, datetime):
                    self.clock.saw(ts.astimezone())  # KiteTicker's naive local time


def lockstep(items: Iterable[FeedItem], folder: Path) -> Iterator[FeedItem]:
    progress, stop = folder / "progress", folder / "stop"
    for item in items:
        if stop.exists():
            return
        yield item  # the runner asks for the next item once this one is processed
        if isinstance(item, FeedBar):
            line = f"bar {item.ts.isoformat()}"
        elif isinstance(item, FeedAlert):
            line = f"alert {item.code} {item.message}"
        else:
            continue
        with progress.open("a") as out:
            out.write(line.replace("\n", " ") + "\n")


def _report(journal: Journal, runner: Runner) -> dict[str, Any]:
    messages = [m for _, m in journal.read()]
    intents = [{"key": m.client_key, "side": m.side.value, "qty": m.qty, "symbol": m.symbol,
                "type": m.order_type.value, "ts": m.ts_event.isoformat()}
               for m in messages if isinstance(m, OrderIntended)]
    fills = [{"key": m.client_key, "side": m.side.value, "qty": m.qty, "price": m.price,
              "symbol": m.symbol}
             for m in messages if isinstance(m, OrderFilled)]
    checks = [[m.check, m.passed] for m in messages if isinstance(m, RiskChecked)]
    return {"intents": intents, "fills": fills, "risk_checks": checks,
            "hash": trading_state_hash(runner.state),
            "positions": {s: p.net_qty for (_, s), p in runner.state.positions.items()}}


def main(workdir: str, venue: str, crash_at: str = "") -> None:
    folder = Path(workdir)
    run = json.loads((folder / "run.json").read_text())
    start = datetime.fromisoformat(run["start"])
    clock = TickClock(start)
    settings = Settings(root=ROOT, live={  # the repository's policy, risk and margin files
        "kite": {"root": run.get("rest_root", "http://127.0.0.1:1"),
                 "secret_file": str(folder / "session.json")},
        "market": {"ticker_url": run.get("ticker_root", "ws://127.0.0.1:1"),
                   "catchup": False, "record_ticks": False, "stale_after_seconds": 3600,
                   "reconnect_max_delay": 5},
        "clock": {"max_offset_ms": 60_000}},  # the tick-driven test clock lags the ticks
        instruments={"master_file": run["master_file"]})
    spec = get_strategy("ema_cross")
    config = {"strategy": "ema_cross", "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 0.0, "tick_size": 0.05}}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock)
    book = contract_book(settings)
    items: Iterable[FeedItem]
    if venue == "kite":
        broker: Any = open_kite_broker(settings, clock=clock)
        setattr(kite_feed_module, "IDLE_SLICE_SECONDS", 0.02)  # noqa: B010 - a fast test clock
        feed = kite_feed(settings, ["NIFTY"], "NSE", contracts=book, history=broker.client,
                         day=start.date(), clock=clock)
        clock.inbox = feed.inbox = WatchedInbox(clock)
        feed.on_order_update(broker.on_order_update)  # as stratops.live_ops.prepare wires it
        market = None
        items = feed
    else:
        broker = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                               fill_model=FillModel(fill="next_open", slippage_ticks=0.0,
                                                    tick_size=0.05))
        exchange = broker

        def market(bar: Any) -> None:
            exchange.on_bar(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)

        day = start.date()
        frame = replay_frame(Path(run["dataset"]), ["NIFTY"], day, day)
        items = replay_bars(frame.head(int(run.get("bars", len(frame)))))
    policy = load_policy(settings.path(settings.governance.policy_file), set(STRATEGIES))
    limits = load_risk_limits(settings.path(settings.governance.risk_file),
                              set(policy.rules.symbols), set(STRATEGIES))
    caps = portfolio_caps(settings, limits, policy, broker, book,
                          replay_frame(Path(run["dataset"]), ["NIFTY"], None, None))
    risk: RiskEngine = PassThroughRisk() if run.get("risk") == "pass" else \
        PreTradeRiskEngine(limits, policy, caps=caps)
    runner = Runner(journal=journal, broker=broker, deployed=[deployed], mode="live",
                    clock=clock, risk=risk,
                    policy=policy, order_rules=limits.orders,
                    price_band_pct=limits.pre_trade.price_band_pct, market=market,
                    contracts=book,
                    kill_commands=lambda last: [c for c in _desk(folder) if c.id > last],
                    crash_hook=CrashAt(crash_at) if crash_at else None)
    runner.recover()
    runner.run(lockstep(items, folder))
    print(json.dumps(_report(journal, runner)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
