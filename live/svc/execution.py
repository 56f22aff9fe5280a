"""The execution service: the runner (signals, governance, risk, journal-first execution -
the same objects as the embedded runner, not a second copy of their logic) fed by the bus's
market-data consumer, its events mirrored on the bus (:mod:`.mirror`), and the bus's alerts
(a sequence gap, a hold, a parked poison bar) journaled as the runner's own.

Signals and risk run inside it rather than as processes of their own: the runner decides
each bar in one pass - the risk answer is needed before the intent is journaled, and both
read the state the fills of that very bar just changed - so a request over the network per
check would add latency, and a second copy of that state, without removing any coupling."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from live.events import Severity
from live.runner.core import RunSummary
from live.runner.feed import FeedItem
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
    republish_tail(runner.journal, bus)
    observer = runner.observer  # live.observability, when attached: beat while no bar came

    def waiting() -> None:
        if observer is not None:
            observer.tick(bar=False)

    bars: Iterable[FeedItem] = bus_bars(bus, idle_exit_seconds=idle_exit_seconds,
                                        waiting=waiting)
    return runner.run(bars if warm is None else warm(bars))
