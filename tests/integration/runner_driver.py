"""Run the live runner over a replayed span with one strategy on the paper exchange (no
governance: the crash tests exercise the journal, execution and recovery), then print the
trading-state hash and the exchange's submit counts as JSON. Used as a real subprocess.
An optional fifth argument is a JSON object of protective levels (``stop_points``, ...); an
optional sixth, a bar index: 20 s after that bar (an ``Idle`` marker) the desk pulls a
flatten kill (the command list lives in ``desk.json``, which survives a restart like the
governance store). An optional seventh, ``<point>:<n>``, SIGKILLs the process the n-th time
the runner reaches crash point ``point`` (a test-only ``crash_hook``: the production runner
has none)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# the repo root on the path, for tests.doubles when run as a script without PYTHONPATH (the
# README's crash walk-through does)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.events import KillSwitchChanged, OrderIntended
from live.governance.kill import KillCommand
from live.journal import Journal, open_journal
from live.runner.deployments import build
from live.runner.feed import FeedBar, FeedItem, Idle, replay_bars, replay_frame
from live.runner.runner import Runner
from live.state import trading_state_hash
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk, submitted_count

ROOT = Path(__file__).resolve().parents[2]
KILL_DELAY = timedelta(seconds=20)
CRASH_POINTS = ("before_intent", "after_intent", "after_submit", "after_ack", "after_fill",
                "after_modify")


class CrashAt:
    """A crash hook: a real SIGKILL (nothing gets to clean up) the ``after``-th time the
    runner reaches ``point``."""

    def __init__(self, spec: str) -> None:
        point, _, count = spec.partition(":")
        if point not in CRASH_POINTS or not count.isdigit() or int(count) < 1:
            raise ValueError(f"crash point {spec!r}: use <point>:<n>, point in {CRASH_POINTS}")
        self.point, self.after, self.seen = point, int(count), 0

    def __call__(self, point: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen == self.after:
            os.kill(os.getpid(), signal.SIGKILL)


def _desk(folder: Path) -> list[KillCommand]:
    desk = folder / "desk.json"
    return [KillCommand(**c) for c in json.loads(desk.read_text())] if desk.exists() else []


def _feed(bars: list[FeedBar], folder: Path, strategy: str, kill_after: int | None
          ) -> Iterator[FeedItem]:
    for i, bar in enumerate(bars):
        yield bar
        if i == kill_after:
            desk = folder / "desk.json"
            if not desk.exists():
                desk.write_text(json.dumps([{"id": 1, "scope": strategy, "mode": "flatten",
                                             "actor": "ops", "reason": "driver",
                                             "created_at": ""}]))
            yield Idle(bar.ts + KILL_DELAY)


def _kill_report(journal: Journal) -> dict[str, object]:
    """The between-bar flatten's place among the intents (1-based) and how many orders
    were intended after the kill switch was journaled."""
    messages = [m for _, m in journal.read()]
    kill = next((i for i, m in enumerate(messages) if isinstance(m, KillSwitchChanged)), None)
    if kill is None:
        return {}
    intents = [m for m in messages if isinstance(m, OrderIntended)]
    at = messages[kill].ts_event
    return {"kill_intent": next((n for n, m in enumerate(intents, 1) if m.ts_event == at),
                                None),
            "intents_after_kill": sum(isinstance(m, OrderIntended) for m in messages[kill:])}


def main(workdir: str, strategy: str, start: str, end: str, levels: str = "{}",
         kill_after: str = "", crash_at: str = "") -> None:
    folder = Path(workdir)
    spec = get_strategy(strategy)
    config = {"strategy": strategy, "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05,
                      **json.loads(levels)}}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731 - record time, fixed
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    runner = Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                    clock=clock, risk=PassThroughRisk(), market=lambda b: exchange.on_bar(
                        b.symbol, b.ts, b.open, b.high, b.low, b.close),
                    kill_commands=lambda last: [c for c in _desk(folder) if c.id > last],
                    crash_hook=CrashAt(crash_at) if crash_at else None)
    runner.recover()
    frame = replay_frame(ROOT / "data/datasets/nse_index_1m.parquet", ["NIFTY"],
                         date.fromisoformat(start), date.fromisoformat(end))
    runner.run(_feed(list(replay_bars(frame)), folder, strategy,
                     int(kill_after) if kill_after else None))
    keys = list(runner.state.orders)
    protective = sum(o.protective for o in runner.state.orders.values())
    print(json.dumps({"hash": trading_state_hash(runner.state), "protective": protective,
                      "orders": len(keys), "fills": len(runner.state.trade_ids),
                      "max_submits": max((submitted_count(exchange, k) for k in keys),
                                         default=0),
                      "positions": {s: p.net_qty for (_, s), p in runner.state.positions.items()},
                      **_kill_report(journal)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
