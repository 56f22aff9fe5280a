"""The market-data service: each bar of a feed published as a ``BarClosed`` envelope whose
message id is the bar's own key (``bar:<symbol>:<ts>``), so a restarted publisher replaying
the same bars stores none of them twice (JetStream's de-duplication window)."""

from __future__ import annotations

from collections.abc import Iterable

from live.bus import Envelope, Transport
from live.events import BarClosed
from live.runner.feed import FeedBar, FeedItem


def bar_envelope(bar: FeedBar) -> Envelope:
    """``bar`` as a one-message ``BarClosed`` envelope keyed by symbol and time."""
    event = BarClosed(trace_id="", ts_event=bar.ts, symbol=bar.symbol, open=bar.open,
                      high=bar.high, low=bar.low, close=bar.close, volume=bar.volume)
    return Envelope(BarClosed.KIND, f"bar:{bar.symbol}:{bar.ts.isoformat()}", (event,))


def feed_bar(event: BarClosed) -> FeedBar:
    """The runner's bar for a ``BarClosed`` received from the bus."""
    return FeedBar(event.symbol, event.ts_event, event.open, event.high, event.low,
                   event.close, event.volume)


def publish_bars(transport: Transport, items: Iterable[FeedItem]) -> int:
    """Publish every bar of ``items`` (a feed's other markers are its own) in order;
    returns how many."""
    published = 0
    for item in items:
        if isinstance(item, FeedBar):
            transport.publish(bar_envelope(item))
            published += 1
    return published
