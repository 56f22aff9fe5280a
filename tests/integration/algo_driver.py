"""Run the live runner with one execution algo on the paper exchange over a short warmed
span (2025-03-03's first 45 minutes as warm-up, then 2025-03-04's first 30 bars), then print
the trading-state hash and the exchange's submit counts as JSON. Used as a real subprocess;
arguments: work folder, the algo spec as JSON, and optionally ``<point>:<n>``, a real SIGKILL
the n-th time the runner reaches crash point ``point`` (:class:`runner_driver.CrashAt`)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.events import ParentOrderStarted
from live.journal import open_journal
from live.runner.deployments import build
from live.runner.feed import FeedItem, WarmBar, replay_bars, replay_frame
from live.runner.runner import Runner
from live.state import trading_state_hash
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk, submitted_count
from tests.integration.runner_driver import CrashAt

ROOT = Path(__file__).resolve().parents[2]


def _feed() -> list[FeedItem]:
    frame = replay_frame(ROOT / "data/datasets/nse_index_1m.parquet", ["NIFTY"],
                         date(2025, 3, 3), date(2025, 3, 4))
    bars = list(replay_bars(frame))
    day2 = next(i for i, b in enumerate(bars) if b.ts.date() == date(2025, 3, 4))
    return [*(WarmBar(b) for b in bars[:45]), *bars[day2:day2 + 30]]


def main(workdir: str, execution: str, crash_at: str = "") -> None:
    folder = Path(workdir)
    config = {"strategy": "ema_cross", "params": get_params(get_strategy("ema_cross")
                                                            .default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 4, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05},
              "execution": json.loads(execution)}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731 - record time, fixed
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    runner = Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                    clock=clock, risk=PassThroughRisk(), market=lambda b: exchange.on_bar(
                        b.symbol, b.ts, b.open, b.high, b.low, b.close),
                    crash_hook=CrashAt(crash_at) if crash_at else None)
    runner.recover()
    runner.run(_feed())
    keys = list(runner.state.orders)
    parents = sum(isinstance(m, ParentOrderStarted) for _, m in journal.read())
    print(json.dumps({"hash": trading_state_hash(runner.state), "orders": len(keys),
                      "parents": parents,
                      "max_submits": max((submitted_count(exchange, k) for k in keys),
                                         default=0)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
