"""The execution service (:func:`live.svc.execution.serve_execution`) over one strategy on
the paper exchange without governance (like ``runner_driver.py``, which the crash tests
use), or the embedded runner over the same bars for reference; prints the state hashes and
the exchange's submit counts as JSON. Used as a real subprocess:

    svc_driver.py execution <folder> <stream_prefix> [<crash point>:<n>]
    svc_driver.py reference <folder> <bars>
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from live.adapters.paper import FillModel, PaperExchange
from live.bus import Transport
from live.db import make_engine
from live.journal import open_journal
from live.risk.interface import PassThroughRisk
from live.runner.deployments import build
from live.runner.feed import FeedBar, replay_bars, replay_frame
from live.runner.runner import Runner
from live.state import state_hash, trading_state_hash
from live.svc.execution import serve_execution
from live.svc.mirror import MirrorTransport
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import EVENTS, MARKET_DATA, BusLayout
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.integration.runner_driver import CrashAt

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2025, 3, 3)
NATS_URL = "nats://127.0.0.1:4222"
STRATEGY = "ema_cross"


def day_bars(count: int) -> list[FeedBar]:
    """The day's first ``count`` NIFTY bars."""
    frame = replay_frame(ROOT / "data/datasets/nse_index_1m.parquet", ["NIFTY"], DAY, DAY)
    return list(replay_bars(frame))[:count]


def runner(folder: Path, transport: Transport | None, crash_at: str = "") -> tuple[Runner, Any]:
    """The runner (and its paper exchange) on the stores in ``folder``."""
    spec = get_strategy(STRATEGY)
    config = {"strategy": STRATEGY, "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731 - record time, fixed
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    return Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                  clock=clock, risk=PassThroughRisk(), transport=transport,
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close),
                  crash_hook=CrashAt(crash_at) if crash_at else None), exchange


def report(run: Runner, exchange: Any) -> dict[str, Any]:
    keys = list(run.state.orders)
    return {"hash": trading_state_hash(run.state), "state_hash": state_hash(run.state),
            "orders": len(keys), "fills": len(run.state.trade_ids),
            "max_submits": max((exchange.submitted_count(k) for k in keys), default=0)}


def main(kind: str, workdir: str, arg: str, crash_at: str = "") -> None:
    folder = Path(workdir)
    if kind == "reference":
        run, exchange = runner(folder, None)
        run.recover()
        run.run(day_bars(int(arg)))
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
