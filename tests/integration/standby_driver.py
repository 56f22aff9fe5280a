"""One instance of a hot-standby pair, run as a real subprocess by the hot-standby tests:
the live runner on a PostgreSQL journal, fenced by the leader lease (:mod:`live.lease`),
following the journal as a standby until it leads (:mod:`live.standby`), then trading one
replayed session on a paper exchange whose store is a PostgreSQL database both instances
share (the single broker: what it saw twice, it saw twice).

Arguments: journal URL, exchange URL, holder name, seconds per bar, an optional hook
``pause:<point>:<n>`` and a folder: in the first leader (epoch 1), the n-th time the
runner reaches crash point ``point`` the process writes ``<folder>/<holder>.paused`` (its
wall time) and stops itself (SIGSTOP), as a process frozen between its journal append and
its broker call. Prints JSON lines:
``ready``, ``leading`` (when it took the lease) and ``done``; a fenced instance prints
``FENCED`` on stderr and exits 4 (5: the journal failed while the lease looked valid).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.journal import JournalWriteError, open_journal
from live.lease import FencedError, LeaderLease
from live.runner.deployments import build
from live.runner.feed import FeedBar, replay_bars, replay_frame
from live.runner.runner import Runner
from live.standby import Standby, fence_runner
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk

ROOT = Path(__file__).resolve().parents[2]
SPAN = ("ema_cross", "2025-03-03")
TTL_SECONDS = 3.0
LEASE_NAME = "live"
SESSION_BARS = 60  # ema_cross enters and exits at bars 22, 30 and 32 of the day
EXIT_FENCED = 4
EXIT_JOURNAL_FAILED = 5


class PauseAt:
    """A crash hook that freezes the process (SIGSTOP) the ``after``-th time at ``point``."""

    def __init__(self, spec: str, marker: Path) -> None:
        _, point, count = spec.split(":")
        self.point, self.after, self.seen, self.marker = point, int(count), 0, marker

    def __call__(self, point: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen == self.after:
            self.marker.write_text(str(time.time()))
            os.kill(os.getpid(), signal.SIGSTOP)


class HookedExchange:
    """The paper exchange with crash point ``in_submit`` inside the broker call - after the
    fence's deadline check, before the order reaches the book (the window no client-side
    fence closes)."""

    def __init__(self, exchange: PaperExchange, hook: Callable[[str], None]) -> None:
        self._exchange, self._hook = exchange, hook

    def submit(self, request: Any) -> Any:
        self._hook("in_submit")
        return self._exchange.submit(request)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._exchange, attr)


def _paced(bars: list[FeedBar], runner: Runner, pace_seconds: float) -> Iterator[FeedBar]:
    for bar in bars:
        resumed = runner.recovered_last.get(bar.symbol)
        if resumed is None or bar.ts >= resumed:  # bars journaled before: skipped at once
            time.sleep(pace_seconds)
        yield bar


def build_runner(journal_url: str, exchange_url: str,
                 crash_hook: Callable[[str], None] | None = None) -> Runner:
    """The runner of one instance: ema_cross on NIFTY, the shared paper exchange."""
    strategy = SPAN[0]
    config = {"strategy": strategy, "params": get_params(get_strategy(strategy).default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731 - record time, fixed
    journal = open_journal(journal_url, clock=clock)
    exchange = PaperExchange(make_engine(exchange_url), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    broker: Any = exchange if crash_hook is None else HookedExchange(exchange, crash_hook)
    return Runner(journal=journal, broker=broker, deployed=[deployed], mode="live",
                  clock=clock, risk=PassThroughRisk(), market=lambda b: exchange.on_bar(
                      b.symbol, b.ts, b.open, b.high, b.low, b.close), crash_hook=crash_hook)


def main(journal_url: str, exchange_url: str, holder: str, pace: str, hook: str = "",
         marker_dir: str = "") -> None:
    day = SPAN[1]
    pause = PauseAt(hook, Path(marker_dir) / f"{holder}.paused") if hook else None
    runner = build_runner(journal_url, exchange_url,
                          lambda point: None if pause is None else pause(point))
    frame = replay_frame(ROOT / "data/datasets/nse_index_1m.parquet", ["NIFTY"],
                         date.fromisoformat(day), date.fromisoformat(day))
    bars = list(replay_bars(frame))[:SESSION_BARS]
    lease = LeaderLease(journal_url, name=LEASE_NAME, holder=holder, ttl_seconds=TTL_SECONDS)
    fence_runner(runner, lease)
    print(json.dumps({"event": "ready", "holder": holder, "at": time.time()}), flush=True)
    try:
        takeover = Standby(runner, lease, poll_seconds=0.05).follow_until_leader()
        print(json.dumps({"event": "leading", "holder": holder, "at": time.time(),
                          "epoch": takeover.acquired.epoch,
                          "deposed": takeover.acquired.previous_holder,
                          "followed": takeover.rows_followed}), flush=True)
        if takeover.acquired.epoch != 1:
            pause = None  # the hook freezes the first leader only
        runner.recover()
        summary = runner.run(_paced(bars, runner, float(pace)))
    except JournalWriteError as exc:  # FencedError, or the journal's connection dropped
        fenced = isinstance(exc, FencedError) or not lease.valid()
        print(f"{'FENCED' if fenced else 'JOURNAL FAILED'}: {exc}", file=sys.stderr,
              flush=True)
        sys.exit(EXIT_FENCED if fenced else EXIT_JOURNAL_FAILED)
    lease.close()
    print(json.dumps({"event": "done", "holder": holder, "bars": summary.bars, "at": time.time(),
                      "intents": summary.intents}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
