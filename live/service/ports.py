"""What the service is given: a broker session check, a pager, and a factory that opens each
trading day (runner, feed, session check) and writes its backtest reconciliation.

The factory is the seam between feeds and brokers: ``replay:<dataset>`` + paper today
(:mod:`stratops.serve_ops`), the Kite live feed + the Kite broker once they exist. A Kite
factory returns a :class:`SessionCheck` that is ready only with a fresh access token (the
broker's token-freshness and ``profile()`` checks); the service never starts the runner
(which reconciles with the broker) before it is ready.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from live.events import Severity
from live.runner.feed import FeedItem
from live.runner.runner import Runner
from live.service.sessions import SessionWindow


class SessionCheck(Protocol):
    """Whether the broker session can trade now: ``(ready, why)``; never raises for a
    stale or rejected token (that is ``(False, why)``), and says why in words a desk reads."""

    def ready(self) -> tuple[bool, str]: ...


class AlwaysReady:
    """The paper exchange's session check: there is no broker login to wait for."""

    def ready(self) -> tuple[bool, str]:
        return True, "paper exchange: no broker session to log in to"


class Pager(Protocol):
    """Reaches a person (the on-call desk). Must not raise: a page that cannot be delivered
    is reported by the pager itself; the service holds either way."""

    def page(self, severity: Severity, code: str, message: str) -> None: ...


@dataclass
class OpenedDay:
    """One session's runner (built, not yet recovered), its broker session check, and its
    feed, made after recovery (it resumes after the journal's last bar; a live feed first
    catches up from the historical API so the indicators are warm)."""

    runner: Runner
    check: SessionCheck
    feed: Callable[[], Iterable[FeedItem]]
    notes: list[str] = field(default_factory=list)
    close: Callable[[], None] = lambda: None  # release the day's connections at its end


@dataclass(frozen=True, slots=True)
class BacktestReports:
    """The day's backtest reconciliation as written: files, breaks, one line per version."""

    files: tuple[str, ...]
    breaks: int
    lines: tuple[str, ...] = ()


class DayFactory(Protocol):
    """Opens each trading day and writes its backtest reconciliation (journal vs simulator).

    ``open_day`` may raise a :class:`~strategies.errors.StratopsError` (nothing may trade:
    no approved version, a journal that contradicts its checkpoints); the service pages and
    skips that session."""

    def open_day(self, window: SessionWindow) -> OpenedDay: ...

    def backtest_reports(self, day: OpenedDay, window: SessionWindow,
                         folder: Path) -> BacktestReports: ...
