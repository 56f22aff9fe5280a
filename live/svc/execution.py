"""The execution service: the runner (signals, governance, risk, journal-first execution -
the same objects as the embedded runner, not a second copy of their logic) fed by the bus's
market-data consumer, its events mirrored on the bus (:mod:`.mirror`), and the bus's alerts
(a sequence gap, a hold, a parked poison bar) journaled as the runner's own.

Signals run inside it (the runner decides each bar in one pass). Risk runs inside it by
default; built with :class:`~live.svc.remote_risk.RemoteRisk` as the runner's ``CheckRisk``
handler (``stratops svc execution --risk remote``) each check goes to the risk service
(:mod:`.risk`) instead, and this process journals its answer. The venues' session calendars
and the strategies' compiled kernels are loaded before the first bar (:func:`warm_sessions`,
:func:`warm_kernels`), not on its path, and what start-up allocated is frozen out of the
garbage collector's scans (``gc.freeze``: a full collection mid-bar would otherwise walk
every object pandas and numba loaded)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from live.events import Severity
from live.runner.core import RunSummary
from live.runner.deployments import Deployed
from live.runner.feed import FeedItem, in_session
from live.runner.runner import Runner
from live.svc.bar_feed import bus_bars
from live.svc.mirror import republish_tail
from live.transport.jetstream import Alert, JetStreamTransport
from strategies.bars import Bars
from strategies.venues import get_venue

log = logging.getLogger(__name__)


def journaled_alerts(runner: Runner, fallback: Alert) -> Alert:
    """A bus alert journaled by ``runner`` (CRITICAL, at its last bar's time) and passed to
    ``fallback`` (the pager) too; before any bar, ``fallback`` only."""

    def alert(code: str, message: str) -> None:
        fallback(code, message)
        bars = runner.state.last_bars.values()
        if bars:
            runner.alert(max(b.ts_event for b in bars), Severity.CRITICAL, code, message)

    return alert


def warm_sessions(runner: Runner) -> int:
    """Load each deployed venue's session calendar for the last bar's day (a restart) or
    today, before the first bar: its first load (pandas_market_calendars, about a second)
    would otherwise delay the first bar's orders. Returns how many venues."""
    bars = runner.state.last_bars.values()
    day = max((b.ts_event for b in bars), default=datetime.now(UTC))
    venues = {d.venue for d in runner.deployed}
    for venue in map(get_venue, venues):
        for ts in (day, day + timedelta(days=1)):
            in_session(venue, ts)
    return len(venues)


def warm_kernels(runner: Runner) -> int:
    """Run each of ``runner``'s strategies' signal kernels once before the first bar
    (:func:`warm_deployed`); returns how many ran."""
    return warm_deployed(runner.deployed)


def warm_deployed(deployed: Iterable[Deployed]) -> int:
    """Run each deployed strategy's signal kernel once on synthetic bars before the first
    bar: its first call loads the compiled numba code (about a second), which would
    otherwise delay the first order. Nothing is decided or kept. Returns how many ran."""
    ran = 0
    for d in deployed:
        n = d.spec.warmup(d.params) + 2
        price = 100.0 + np.sin(np.arange(n) / 5.0)
        flags = np.zeros(n, dtype=bool)
        bars = Bars(symbol="warm", ts=pd.date_range("2020-01-01", periods=n, freq="min",
                                                    tz="UTC"),
                    open=price, high=price + 0.5, low=price - 0.5, close=price,
                    volume=np.ones(n), session=np.zeros(n, dtype=np.int64),
                    bar_in_session=np.arange(n, dtype=np.int64), entry_ok=~flags,
                    entry_ok_at_close=~flags, cutoff_exit=flags, session_last=flags.copy())
        try:
            d.spec.signals(bars, d.params)
            ran += 1
        except Exception as exc:  # a warm-up only: the first bar loads it instead
            log.warning("%s: kernel warm-up failed (%r); loaded at the first bar",
                        d.strategy, exc)
    return ran


def serve_execution(runner: Runner, bus: JetStreamTransport, *,
                    idle_exit_seconds: float | None = None,
                    warm: Callable[[Iterable[FeedItem]], Iterable[FeedItem]] | None = None
                    ) -> RunSummary:
    """Recover ``runner`` (built with a :class:`~live.svc.mirror.MirrorTransport` over
    ``bus``), republish its journal's tail, then run it on the bus's bars (preceded by a replay's
    warm-up from stored data when ``warm`` wraps them: :meth:`LiveRun.warm`)."""
    bus.alert = journaled_alerts(runner, bus.alert)
    runner.recover()
    bus.flush()  # recovery's own events mirrored first: the tail below repeats them (stored once)
    republish_tail(runner.journal, bus)
    warm_sessions(runner)
    warm_kernels(runner)
    gc.collect()
    gc.freeze()  # what start-up loaded (pandas, numba, calendars): never scanned again
    observer = runner.observer  # live.observability, when attached: beat while no bar came

    def waiting() -> None:
        if observer is not None:
            observer.tick(bar=False)

    bars: Iterable[FeedItem] = bus_bars(bus, idle_exit_seconds=idle_exit_seconds,
                                        waiting=waiting)
    return runner.run(bars if warm is None else warm(bars))
