"""The execution service: the runner (signals, governance, risk, journal-first execution -
the same objects as the embedded runner, not a second copy of their logic) fed by the bus's
market-data consumer, its events mirrored on the bus (:mod:`.mirror`), and the bus's alerts
(a sequence gap, a hold, a parked poison bar) journaled as the runner's own.

Signals run inside it (the runner decides each bar in one pass). Risk runs inside it by
default; built with :class:`~live.svc.remote_risk.RemoteRisk` as the runner's ``CheckRisk``
handler (``stratops svc execution --risk remote``) each check goes to the risk service
(:mod:`.risk`) instead, and this process journals its answer. What the first order
would otherwise load on its path (session calendars, compiled kernels, codecs) is loaded
before the first bar (:func:`live.runner.preload.preload`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from live.events import Severity
from live.runner.core import RunSummary
from live.runner.feed import FeedItem
from live.runner.preload import preloaded
from live.runner.runner import Runner
from live.svc.bar_feed import bus_bars
from live.svc.mirror import republish_tail
from live.transport.jetstream import Alert, JetStreamTransport


def journaled_alerts(runner: Runner, fallback: Alert) -> Alert:
    """A bus alert journaled by ``runner`` (CRITICAL, at its last bar's time) and passed to
    ``fallback`` (the pager) too; before any bar, ``fallback`` only."""

    def alert(code: str, message: str) -> None:
        fallback(code, message)
        bars = runner.state.last_bars.values()
        if bars:
            runner.alert(max(b.ts_event for b in bars), Severity.CRITICAL, code, message)

    return alert


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
    observer = runner.observer  # live.observability, when attached: beat while no bar came

    def waiting() -> None:
        if observer is not None:
            observer.tick(bar=False)

    bars: Iterable[FeedItem] = bus_bars(bus, idle_exit_seconds=idle_exit_seconds,
                                        waiting=waiting)
    with preloaded(runner):  # calendars, kernels, codecs: not on the first order's path
        return runner.run(bars if warm is None else warm(bars))
