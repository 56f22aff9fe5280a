"""Assemble ``stratops live serve``: the wall clock and the signal handlers (the shell's
edge), the day factory for the chosen feed and broker, the pagers and the desk watch.

The feed and broker come through a :class:`~live.service.ports.DayFactory`: today
``replay:<dataset>`` + paper (:class:`ReplayPaperDays`, which opens each day with the same
``prepare()`` as ``stratops live run``: one session date of the dataset per calendar
session); the Kite live feed + Kite broker plug in as another factory whose session check
is the broker's token-freshness check.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from live.runner.feed import FeedItem
from live.service.clock import ServiceClock, SimulatedClock, StopSignal
from live.service.ports import AlwaysReady, BacktestReports, OpenedDay, Pager
from live.service.sessions import SessionWindow
from stratops.clock import utc_now
from stratops.errors import LiveSetupError
from stratops.settings import Settings

BROKERS = ("paper", "kite")


class WallClock:
    """Real time; a sleep returns early when the stop signal is set (SIGTERM wakes it)."""

    def __init__(self, stop: StopSignal) -> None:
        self.stop = stop

    def now(self) -> datetime:
        return utc_now()

    def sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)


def install_stop_handlers(stop: StopSignal, log: Callable[[str], None]) -> None:
    """SIGTERM and SIGINT set ``stop`` (nothing is interrupted mid-write: the loops see it
    between bars and between sleeps); one signal is enough, a second changes nothing."""

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log(f"{name}: already stopping ({stop.reason})")
            return
        stop.set(f"{name} received")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


class ReplayPaperDays:
    """``replay:<dataset>`` + the paper exchange: each session replays the dataset's bars of
    that date (in simulated time with ``--sim-start``: the clock moves with the bars)."""

    def __init__(self, settings: Settings, *, mode: str, feed: str, strategies: list[str] | None,
                 candidates: bool, speed: float, clock: ServiceClock) -> None:
        self.settings, self.mode, self.feed_spec = settings, mode, feed
        self.strategies, self.candidates, self.speed, self.clock = (strategies, candidates,
                                                                    speed, clock)

    def open_day(self, window: SessionWindow) -> OpenedDay:
        from stratops.live_ops import prepare

        prepared = prepare(self.mode, self.feed_spec, window.day, window.day, self.strategies,
                           self.candidates, self.settings)
        notes = list(prepared.notes) + [f"refused {r.strategy}: {r.reason}"
                                        for r in prepared.refused]
        def close() -> None:  # the exchange's store is released with the runner
            prepared.runner.journal.engine.dispose()

        return OpenedDay(prepared.runner, AlwaysReady(), lambda: self._bars(prepared.frame),
                         notes, close)

    def _bars(self, frame: Any) -> Iterable[FeedItem]:
        from live.runner.feed import replay_bars
        from stratops.live_ops import paced_feed

        bars: Iterable[FeedItem] = replay_bars(frame)
        if isinstance(self.clock, SimulatedClock):
            bars = following_clock(bars, self.clock)
        return paced_feed(bars, self.speed)

    def backtest_reports(self, day: OpenedDay, window: SessionWindow,
                         folder: Path) -> BacktestReports:
        from live.service.backtest_day import write_backtest_day
        from stratops.governance_ops import registry

        versions = registry(self.settings, create=False)
        return write_backtest_day(day.runner.journal, versions.load_config, folder, window.day,
                                  max_sessions=self.settings.live.max_history_sessions)


def following_clock(bars: Iterable[Any], clock: SimulatedClock) -> Iterator[Any]:
    """Simulated time follows the replay: each bar arrives at its close."""
    for bar in bars:
        clock.advance_to(bar.ts + timedelta(minutes=1))
        yield bar


def day_factory(settings: Settings, *, mode: str, feed: str, broker: str,
                strategies: list[str] | None, candidates: bool, speed: float,
                clock: ServiceClock) -> ReplayPaperDays:
    """The factory for ``feed`` x ``broker``; refused (exit 2) for a pair this build lacks."""
    from live.runner.feed import parse_feed

    if broker not in BROKERS:
        raise LiveSetupError(f"--broker {broker!r}: one of {BROKERS}")
    if broker != "paper" or not feed.startswith("replay:"):
        raise LiveSetupError(
            f"--feed {feed} --broker {broker}: this build serves replay:<dataset> with the paper "
            "broker only; the Kite live feed and broker plug in as a live.service.ports."
            "DayFactory (their session check is the access token's freshness)")
    parse_feed(feed)  # refused before anything sleeps
    return ReplayPaperDays(settings, mode=mode, feed=feed, strategies=strategies,
                           candidates=candidates, speed=speed, clock=clock)


def pager(settings: Settings, log: Callable[[str], None]) -> Pager:
    """The log line, then the configured page command (``live.serve.page_command``)."""
    from live.service.pager import CommandPager, LogPager, Pagers

    pagers: list[Pager] = [LogPager(log)]
    command = settings.live.serve.page_command
    if command:
        pagers.append(CommandPager(command, log))
    return Pagers(pagers)


class DeskWatch:
    """Between sessions: the desk's kill commands issued since the service started, logged
    as pending (the runner applies them at the next session's start, journaled there)."""

    def __init__(self, settings: Settings) -> None:
        from live.db import make_engine

        self.engine = make_engine(settings.governance.db_url, settings.root)
        self.last: int | None = None

    def __call__(self) -> list[str]:
        from live.governance.kill import latest_command_id, verified_commands

        try:
            if self.last is None:  # the first look only learns where the desk is
                self.last = latest_command_id(self.engine)
                return []
            commands = verified_commands(self.engine, None, self.last)
        except Exception as exc:  # a desk store we cannot read: said, never fatal to sleeping
            return [f"desk commands unreadable: {type(exc).__name__}: {exc}"]
        notes = [f"desk command K{c.id} {c.mode} {c.scope} by {c.actor} ({c.reason}): applied "
                 "at the next session's start" for c in commands]
        self.last = max([self.last, *(c.id for c in commands)])
        return notes


def stderr_log(clock: ServiceClock) -> Callable[[str], None]:
    """One line per event, stamped with the service clock (journald keeps them)."""

    def write(line: str) -> None:
        print(f"{clock.now().isoformat(timespec='seconds')} {line}", file=sys.stderr,
              flush=True)

    return write
