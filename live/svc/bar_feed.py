"""The execution service's feed: bars received from the bus's durable market-data consumer,
yielded to the runner one at a time and each acked only when the runner asks for the next
item (its bar is processed and journaled). A bar delivered again after a crash between
receive and ack is processed again by the restarted runner, which keys everything by
deterministic trace ids: nothing is intended or sent twice. A redelivery of a bar this
process already handled is acked and skipped. While no bar comes, an :class:`Idle` marker
at the last bar's time lets the runner poll its controls (the feed contract)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from live.events import BarClosed
from live.runner.feed import FeedItem, Idle
from live.svc.market_data import feed_bar
from live.transport.jetstream import JetStreamTransport

FETCH_BATCH = 16  # bars taken per fetch: few, so none waits past the consumer's ack_wait


def bus_bars(transport: JetStreamTransport, *, idle_exit_seconds: float | None = None,
             idle_slice_seconds: float = 0.2,
             waiting: Callable[[], None] | None = None) -> Iterator[FeedItem]:
    """Bars from ``transport``'s consumer (see the module); ends after ``idle_exit_seconds``
    without a bar once one came (``None``: never, a live session). Before the first bar there
    is no market time for an :class:`Idle`: ``waiting`` is called at each empty fetch instead
    (the service's heartbeat: it beats only while the runner asks this feed for items)."""
    last: dict[str, datetime] = {}
    idle_seconds = 0.0
    while idle_exit_seconds is None or not last or idle_seconds < idle_exit_seconds:
        transport.flush()  # what the last Idle journaled, mirrored before waiting again
        batch = transport.fetch(FETCH_BATCH, idle_slice_seconds)
        if not batch:
            idle_seconds += idle_slice_seconds
            if last:
                yield Idle(max(last.values()))
            elif waiting is not None:
                waiting()
            continue
        idle_seconds = 0.0
        for item in batch:
            for message in item.envelope.messages:
                if not isinstance(message, BarClosed):
                    continue
                seen = last.get(message.symbol)
                if seen is None or message.ts_event > seen:
                    last[message.symbol] = message.ts_event
                    yield feed_bar(message)  # processed by the time the runner asks again
            transport.flush()  # the bar's mirrored events stored before the bar is acked
            transport.ack(item)
