"""A recorded session replayed tick by tick through the live bar builder.

Each recorded tick passes the same boundary (:class:`~live.market.ticks.TickGate`) and the
same :class:`~live.market.aggregator.MinuteBars` as live, and the recorded arrival times
drive the aggregator's clock, so the bars (and the late ticks, gaps and refusals) are those
the live session saw. It obeys the feed contract of :mod:`live.runner.feed` as a flat-out
replay: bars and alerts, no pacing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from live.market.aggregator import MinuteBars
from live.market.recorder import read_ticks
from live.market.ticks import TickGate
from live.runner.feed import FeedItem
from strategies.venues import Venue


def tick_replay(folder: Path, venue: Venue, *, symbols: Mapping[int, str] | None = None,
                grace_seconds: float = 2.0) -> Iterator[FeedItem]:
    """The bars of the recorded day in ``folder`` (``<ticks dir>/<YYYY-MM-DD>``).
    ``symbols`` is the subscription (token -> symbol); None takes every token the
    recording names a symbol for."""
    ticks = list(read_ticks(folder))
    subscribed = symbols if symbols is not None else {
        t.token: t.symbol for _, t in ticks if t.symbol}
    gate = TickGate(subscribed)
    bars = MinuteBars(venue, grace_seconds=grace_seconds)
    for recv_ns, tick in ticks:
        now = datetime.fromtimestamp(recv_ns / 1e9, UTC)
        bars.on_clock(now)
        if gate.admit(tick, now):
            bars.add(tick)
        if gate.alerts:
            yield from gate.alerts
            gate.alerts.clear()
        yield from bars.drain()
    bars.flush()
    yield from bars.drain()
