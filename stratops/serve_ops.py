"""Assemble ``stratops live serve``: the wall clock and the signal handlers (the shell's
edge), the day factory for the chosen feed and broker, the pagers and the desk watch.

The feed and broker come through a :class:`~live.service.ports.DayFactory`:
``replay:<dataset>`` + paper (:class:`ReplayPaperDays`, which opens each day with the same
``prepare()`` as ``stratops live run``: one session date of the dataset per calendar
session), or ``kite`` + the Kite broker (:class:`KiteDays`: it holds and pages until the
access token is fresh and accepted - :class:`KiteSessionCheck` - before ``prepare()`` opens
the broker and the live feed; one session per process, as twisted's reactor cannot
restart).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from live.runner.feed import FeedBar, FeedItem
from live.service.clock import ServiceClock, SimulatedClock, StopSignal
from live.service.ports import AlwaysReady, BacktestReports, OpenedDay, Pager
from live.service.sessions import SessionWindow
from stratops.clock import utc_now
from stratops.errors import LiveSetupError
from stratops.settings import Settings

BROKERS = ("paper", "kite")


BEAT_SLICE_S = 1.0  # a service sleeping between sessions beats at least this often


class WallClock:
    """Real time; a sleep returns early when the stop signal is set (SIGTERM wakes it).
    ``beat``: called from the sleeping loop at least every second (the metrics' heartbeat
    between sessions: the service's own loop, so a hung service stops beating)."""

    def __init__(self, stop: StopSignal, beat: Callable[[], None] | None = None) -> None:
        self.stop, self.beat = stop, beat

    def now(self) -> datetime:
        return utc_now()

    def sleep(self, seconds: float) -> None:
        if self.beat is None:
            self.stop.wait(seconds)
            return
        end = time.monotonic() + seconds
        while not self.stop.is_set():
            self.beat()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, BEAT_SLICE_S))


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
                 candidates: bool, speed: float, clock: ServiceClock,
                 observability: Any = None) -> None:
        self.settings, self.mode, self.feed_spec = settings, mode, feed
        self.strategies, self.candidates, self.speed, self.clock = (strategies, candidates,
                                                                    speed, clock)
        self.observability = observability

    def open_day(self, window: SessionWindow) -> OpenedDay:
        from stratops.live_ops import prepare

        prepared = prepare(self.mode, self.feed_spec, window.day, window.day, self.strategies,
                           self.candidates, self.settings, observability=self.observability)
        notes = list(prepared.notes) + [f"refused {r.strategy}: {r.reason}"
                                        for r in prepared.refused]
        def close() -> None:  # the exchange's store is released with the runner
            prepared.runner.journal.engine.dispose()

        return OpenedDay(prepared.runner, AlwaysReady(), lambda: self._bars(prepared),
                         notes, close)

    def _bars(self, prepared: Any) -> Iterable[FeedItem]:
        from live.runner.feed import replay_bars
        from stratops.live_ops import paced_feed

        bars: Iterable[FeedItem] = prepared.warm(replay_bars(prepared.frame))
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
        if isinstance(bar, FeedBar):  # a warm-up bar (past data) moves no clock
            clock.advance_to(bar.ts + timedelta(minutes=1))
        yield bar


class KiteSessionCheck:
    """The Kite broker session can trade now: the access token is fresh (no network:
    :func:`~stratops.kite_ops.kite_token_problem`) and Kite accepts it (``profile()``).
    Never raises for a missing, stale or rejected token: ``(False, why)``, no secret in it."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime], *,
                 connect: Callable[..., Any] | None = None) -> None:
        self.settings, self.clock, self.connect = settings, clock, connect

    def ready(self) -> tuple[bool, str]:
        from live.adapters.kite.credentials import KiteCredentialsError, KiteTokenStaleError
        from stratops.kite_ops import (
            KiteSessionRejectedError,
            kite_token_problem,
            session_status,
        )

        problem = kite_token_problem(self.settings, self.clock())
        if problem is not None:
            return False, problem
        try:
            status = session_status(self.settings, clock=self.clock, connect=self.connect)
        except (KiteCredentialsError, KiteTokenStaleError, KiteSessionRejectedError) as exc:
            return False, str(exc)
        return True, (f"Kite session of {status.user_id}, access token valid until "
                      f"{status.expires_at.isoformat()}")


class KiteDays:
    """``kite`` + the Kite broker. ``open_day`` first holds (the service's hold loop:
    journaled, paged every ``page_every``) until :class:`KiteSessionCheck` is ready - so a
    stale token never reaches ``prepare()``, which would refuse the day - then opens the day
    with ``prepare()`` (the Kite broker, the live feed on the master's contracts). A session
    that never becomes ready, or a stop while holding, opens nothing (refused: paged).
    One session per process: a second ``open_day`` is refused (the service runs one session
    and exits; systemd starts the next)."""

    def __init__(self, settings: Settings, *, mode: str, strategies: list[str] | None,
                 candidates: bool, clock: ServiceClock, stop: StopSignal, pager: Pager,
                 page_every: timedelta, poll: timedelta, check: Any = None,
                 prepare: Callable[..., Any] | None = None, observability: Any = None) -> None:
        self.settings, self.mode, self.strategies = settings, mode, strategies
        self.candidates, self.clock, self.stop, self.pager = candidates, clock, stop, pager
        self.page_every, self.poll = page_every, poll
        self.check = check if check is not None else KiteSessionCheck(settings, clock.now)
        self._prepare = prepare
        self.observability = observability
        self.opened = False

    def open_day(self, window: SessionWindow) -> OpenedDay:
        from live.service.hold import Held, hold_until_ready
        from stratops.live_ops import prepare

        if self.opened:
            raise LiveSetupError("one Kite session per process (twisted's reactor cannot "
                                 "restart): the service exits after it and systemd starts "
                                 "the next")
        held = hold_until_ready(self.check, self.clock, self.stop, until=window.close,
                                page_every=self.page_every, poll=self.poll,
                                not_ready=lambda why, n: self._not_ready(window, why, n))
        if held.held is not Held.READY:
            raise LiveSetupError(f"{window.day}: not traded, the Kite session never became "
                                 f"ready: {held.why} ({held.pages} pages)")
        self.opened = True
        prepared = (self._prepare or prepare)(self.mode, "kite", None, None, self.strategies,
                                              self.candidates, self.settings, broker="kite",
                                              observability=self.observability)
        notes = [f"broker session ready: {held.why}", *prepared.notes,
                 *(f"refused {r.strategy}: {r.reason}" for r in prepared.refused)]

        def close() -> None:
            prepared.runner.journal.engine.dispose()

        return OpenedDay(prepared.runner, self.check, lambda: prepared.feed, notes, close)

    def _not_ready(self, window: SessionWindow, why: str, n: int) -> None:
        """Journaled in the mode's journal (as the service's own hold does) and paged."""
        from live.events import AlertRaised, Severity
        from stratops.live_ops import open_mode_journal

        message = (f"{window.day}: holding, not trading: the Kite session is not ready "
                   f"({why}); log in (stratops kite login) - page {n}, again every "
                   f"{self.page_every}")
        try:
            journal = open_mode_journal(self.settings, self.mode)
            try:
                journal.append(AlertRaised(trace_id="", ts_event=self.clock.now(),
                                           severity=Severity.CRITICAL,
                                           code="broker_session_not_ready", message=message))
            finally:
                journal.engine.dispose()
        except Exception as exc:  # the page still goes out: a person must log in
            message += f" (not journaled: {type(exc).__name__}: {exc})"
        self.pager.page(Severity.CRITICAL, "broker_session_not_ready", message)

    def backtest_reports(self, day: OpenedDay, window: SessionWindow,
                         folder: Path) -> BacktestReports:
        from live.service.backtest_day import write_backtest_day
        from stratops.governance_ops import registry

        versions = registry(self.settings, create=False)
        return write_backtest_day(day.runner.journal, versions.load_config, folder, window.day,
                                  max_sessions=self.settings.live.max_history_sessions)


def day_factory(settings: Settings, *, mode: str, feed: str, broker: str,
                strategies: list[str] | None, candidates: bool, speed: float,
                clock: ServiceClock, stop: StopSignal | None = None,
                pager: Pager | None = None, observability: Any = None
                ) -> ReplayPaperDays | KiteDays:
    """The factory for ``feed`` x ``broker``: ``replay:<dataset>`` + paper, or ``kite`` +
    kite (wall clock only; ``stop`` and ``pager`` for its hold); other pairs are refused
    (exit 2)."""
    from live.runner.feed import parse_feed

    if broker not in BROKERS:
        raise LiveSetupError(f"--broker {broker!r}: one of {BROKERS}")
    if feed == "kite" and broker == "kite":
        if isinstance(clock, SimulatedClock):
            raise LiveSetupError("--feed kite --broker kite runs on the wall clock: "
                                 "--sim-start is for replays")
        if stop is None or pager is None:
            raise LiveSetupError("the Kite day factory needs the stop signal and the pager")
        knobs = settings.live.serve
        return KiteDays(settings, mode=mode, strategies=strategies, candidates=candidates,
                        clock=clock, stop=stop, pager=pager,
                        page_every=timedelta(minutes=knobs.page_every_minutes),
                        poll=timedelta(seconds=knobs.wake_seconds), observability=observability)
    if broker != "paper" or not feed.startswith("replay:"):
        raise LiveSetupError(
            f"--feed {feed} --broker {broker}: the service serves replay:<dataset> with the "
            "paper broker, or kite with the kite broker")
    parse_feed(feed)  # refused before anything sleeps
    return ReplayPaperDays(settings, mode=mode, feed=feed, strategies=strategies,
                           candidates=candidates, speed=speed, clock=clock,
                           observability=observability)


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
