"""Run the live runner over a replayed span with one strategy on the paper exchange (no
governance: the crash tests exercise the journal, execution and recovery), then print the
trading-state hash and the exchange's submit counts as JSON. Used as a real subprocess.
An optional fifth argument is a JSON object of protective levels (``stop_points``, ...)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.journal import open_journal
from live.runner.deployments import build
from live.runner.engine import Runner
from live.runner.feed import replay_bars, replay_frame
from live.state import trading_state_hash
from strategies.params import get_params
from strategies.registry import get_strategy

ROOT = Path(__file__).resolve().parents[2]


def main(workdir: str, strategy: str, start: str, end: str, levels: str = "{}") -> None:
    folder = Path(workdir)
    spec = get_strategy(strategy)
    config = {"strategy": strategy, "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05,
                      **json.loads(levels)}}
    deployed = build(config, 1, "live", 1.0, "0" * 64)
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731 - record time, fixed
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    runner = Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                    clock=clock, market=lambda b: exchange.on_bar(
                        b.symbol, b.ts, b.open, b.high, b.low, b.close))
    runner.recover()
    frame = replay_frame(ROOT / "data/datasets/nse_index_1m.parquet", ["NIFTY"],
                         date.fromisoformat(start), date.fromisoformat(end))
    runner.run(replay_bars(frame))
    keys = list(runner.state.orders)
    protective = sum(o.protective for o in runner.state.orders.values())
    print(json.dumps({"hash": trading_state_hash(runner.state), "protective": protective,
                      "orders": len(keys), "fills": len(runner.state.trade_ids),
                      "max_submits": max((exchange.submitted_count(k) for k in keys),
                                         default=0)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
