"""A real runner process with its metrics endpoint on (the app layer's
:class:`~stratops.observability_ops.Observability`, as ``stratops live run`` starts it): one
strategy on the synthetic NSE day 2025-03-03, paper exchange, over the folder's journal.

``flat`` replays the day flat out, prints ``done`` and then idles until its stdin closes
(the test scrapes the stopped runner's endpoint meanwhile); ``paced`` replays it at 60x real
time (a bar a second, an ``Idle`` marker every 200 ms: the heartbeat keeps beating) and
prints ``trading`` at the 3rd bar. The metrics URL is printed first (``metrics <url>``).
Environment: ``STRATOPS_OBSERVABILITY__METRICS__PORT`` (a free port the test picked)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.journal import open_journal
from live.risk.limits import load_risk_limits
from live.runner.deployments import build
from live.runner.feed import FeedBar, FeedItem, paced, replay_bars, replay_frame
from live.runner.runner import Runner
from strategies.version_config import VersionConfig
from stratops.observability_ops import Observability, risk_rows
from stratops.settings import load_settings
from tests.doubles import PassThroughRisk
from tests.serve_days import strategy_config
from tests.synthetic_datasets import nse_index_1m_path

DAY = date(2025, 3, 3)


def _told(items: Iterator[FeedItem], at_bar: int) -> Iterator[FeedItem]:
    count = 0
    for item in items:
        if isinstance(item, FeedBar):
            count += 1
            if count == at_bar:
                print("trading", flush=True)
        yield item


def main(kind: str, folder: Path) -> int:
    settings = load_settings()
    observability = Observability(settings, service="metrics-driver")
    print(f"metrics {observability.url}", flush=True)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))
    deployed = build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}",
                           clock=lambda: datetime.now(UTC))
    runner = Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                    clock=lambda: datetime.now(UTC), risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    history = replay_frame(nse_index_1m_path(), ["NIFTY"], None, None)
    limits = load_risk_limits(settings.path(settings.governance.risk_file))
    observability.attach(runner, risk_rows(settings, limits, history, [deployed],
                                           runner.state))
    runner.recover()
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], DAY, DAY)
    if kind == "flat":
        runner.run(replay_bars(frame))
        print("done", flush=True)
        sys.stdin.read()  # until the test closes it
    else:
        runner.run(_told(paced(replay_bars(frame), speed=60.0, sleep=time.sleep,
                               monotonic=time.monotonic), 3))
    observability.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
