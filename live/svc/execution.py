"""The execution service: the runner (signals, governance, risk, journal-first execution -
the same objects as the embedded runner, not a second copy of their logic) fed by the bus's
market-data consumer, its events mirrored on the bus (:mod:`.mirror`).

Signals and risk run inside it rather than as processes of their own: the runner decides
each bar in one pass - the risk answer is needed before the intent is journaled, and both
read the state the fills of that very bar just changed - so a request over the network per
check would add latency, and a second copy of that state, without removing any coupling."""

from __future__ import annotations

from live.runner.core import RunSummary
from live.runner.runner import Runner
from live.svc.bar_feed import bus_bars
from live.svc.mirror import republish_tail
from live.transport.jetstream import JetStreamTransport


def serve_execution(runner: Runner, bus: JetStreamTransport, *,
                    idle_exit_seconds: float | None = None) -> RunSummary:
    """Recover ``runner`` (built with a :class:`~live.svc.mirror.MirrorTransport` over
    ``bus``), republish its journal's tail, then run it on the bus's bars."""
    runner.recover()
    republish_tail(runner.journal, bus)
    return runner.run(bus_bars(bus, idle_exit_seconds=idle_exit_seconds))
