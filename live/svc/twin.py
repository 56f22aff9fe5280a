"""The paper twin as a service (``stratops svc twin``): a paper runner of the execution
service's versions - its own journal, paper exchange and state - on the market-data stream,
through a durable consumer of its own. A process of its own: nothing it does can slow or
stop the execution service; a restart resumes it from its journal and the consumer's
unacknowledged bars (each bar acked once the twin asks for the next)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from live.runner.core import RunSummary
from live.runner.feed import FeedItem
from live.runner.runner import Runner
from live.svc.bar_feed import bus_bars
from live.transport.jetstream import JetStreamTransport


def serve_twin(runner: Runner, bus: JetStreamTransport, *,
               idle_exit_seconds: float | None = None,
               warm: Callable[[Iterable[FeedItem]], Iterable[FeedItem]] | None = None
               ) -> RunSummary:
    """Recover the twin's ``runner`` from its journal, then run it on ``bus``'s bars
    (preceded by a replay's warm-up when ``warm`` wraps them)."""
    runner.recover()
    bars: Iterable[FeedItem] = bus_bars(bus, idle_exit_seconds=idle_exit_seconds)
    return runner.run(bars if warm is None else warm(bars))
