"""A day factory for the service's tests: each session is a real runner over one folder's
SQLite journal and paper exchange, fed the synthetic NSE dataset's bars of that date, with
the service's (simulated or wall) clock; the session check is given."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.journal import Journal, open_journal
from live.runner.deployments import build
from live.runner.feed import FeedBar, FeedItem, paced, replay_bars, replay_frame
from live.runner.runner import Runner
from live.service.backtest_day import write_backtest_day
from live.service.clock import ServiceClock, SimulatedClock
from live.service.ports import AlwaysReady, BacktestReports, OpenedDay, SessionCheck
from live.service.sessions import SessionWindow
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.synthetic_datasets import nse_index_1m_path

STRATEGY = "ema_cross"


def strategy_config() -> dict[str, Any]:
    spec = get_strategy(STRATEGY)
    return {"strategy": STRATEGY, "params": get_params(spec.default_params()), "venue": "NSE",
            "cutoff": "venue", "symbols": ["NIFTY"],
            "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}


@dataclass
class ReplayDays:
    """Opens each session over ``folder``'s stores. ``bars``: keep only the first N bars of
    a day (a short day for calendar tests); ``speed``: pace the replay in real time (a
    subprocess to signal); ``on_bar(i)``: called before the i-th bar (from 0) is handed over."""

    folder: Path
    clock: ServiceClock
    check: SessionCheck = field(default_factory=AlwaysReady)
    bars: int | None = None
    speed: float = 0.0
    on_bar: Callable[[int], None] | None = None
    broker: Callable[[PaperExchange], Any] | None = None  # a view of the exchange (faults)
    on_end: Callable[[], None] | None = None  # the feed is exhausted
    checkpoints: Callable[[Journal], Any] | None = None  # a resumed Checkpointer per day
    opened: list[tuple[datetime, SessionWindow]] = field(default_factory=list)

    def journal(self) -> Journal:
        return open_journal(f"sqlite:///{self.folder / 'journal.db'}", clock=self.clock.now)

    def open_day(self, window: SessionWindow) -> OpenedDay:
        self.opened.append((self.clock.now(), window))
        exchange = PaperExchange(make_engine(f"sqlite:///{self.folder / 'exchange.db'}"), seed=3,
                                 fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                      tick_size=0.05))
        deployed = build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)
        broker = exchange if self.broker is None else self.broker(exchange)
        journal = self.journal()
        if self.checkpoints is not None:  # as prepare() does: resumed, then an open session
            journal.checkpoints = self.checkpoints(journal)
            journal.checkpoints.checkpoint(sealed=False)
        runner = Runner(journal=journal, broker=broker, deployed=[deployed],
                        mode="live", clock=self.clock.now, risk=PassThroughRisk(),
                        market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high,
                                                         b.low, b.close))
        frame = replay_frame(nse_index_1m_path(), ["NIFTY"], window.day, window.day)
        if self.bars is not None:
            frame = frame.iloc[:self.bars]
        return OpenedDay(runner, self.check, lambda: self._feed(frame))

    def _feed(self, frame: pd.DataFrame) -> Iterator[FeedItem]:
        bars: Iterator[FeedItem] = replay_bars(frame)
        if self.speed > 0:
            import time

            bars = paced(bars, speed=self.speed, sleep=time.sleep, monotonic=time.monotonic)
        count = 0
        for item in bars:
            if self.on_bar is not None and isinstance(item, FeedBar):
                self.on_bar(count)
                count += 1
            if isinstance(self.clock, SimulatedClock):
                self.clock.advance_to(item.ts + timedelta(minutes=1))
            yield item
        if self.on_end is not None:
            self.on_end()

    def backtest_reports(self, day: OpenedDay, window: SessionWindow,
                         folder: Path) -> BacktestReports:
        return write_backtest_day(day.runner.journal,
                                  lambda _n, _v: VersionConfig.from_json(strategy_config()),
                                  folder, window.day, max_sessions=5)
