"""Publishes sent without waiting for their acks (the execution service's mirror) over the
real NATS JetStream server: stored in order with consecutive sequence numbers once flushed,
the stream's position known after the flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from live.runner.feed import FeedBar
from live.svc.market_data import bar_envelope
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import MARKET_DATA, BusLayout
from tests.integration.jetstream import NATS_URL, layout

__all__ = ["layout"]
pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 3, 3, 45, tzinfo=UTC)


def test_pipelined_publishes_are_stored_in_order_once_flushed(layout: BusLayout) -> None:
    pub = JetStreamTransport(NATS_URL, layout, publisher="pipe", publishes=MARKET_DATA)
    con = JetStreamTransport(NATS_URL, layout, publisher="pipe-c",
                             consumer=layout.consumer(MARKET_DATA, "pipe", ordered=True))
    try:
        bars = [FeedBar("NIFTY", T0 + timedelta(minutes=i), 1.0, 2.0, 0.5, 1.5, 10.0)
                for i in range(200)]
        for b in bars:
            pub.publish(bar_envelope(b), wait=False)
        assert MARKET_DATA not in pub.stream_seq  # nothing known before the flush
        pub.flush()
        assert pub.stream_seq[MARKET_DATA] == 200
        pub.publish(bar_envelope(bars[0]), wait=False)  # again: JetStream drops it
        pub.flush()
        got = []
        while len(got) < 200:
            batch = con.fetch(64, 2.0)
            assert batch, f"only {len(got)} of 200 came"
            for item in batch:
                con.ack(item)
                got.append(item)
        assert [i.seq for i in got] == list(range(1, 201))
        assert [i.envelope.messages[0].ts_event for i in got] == [b.ts for b in bars]
        assert not con.fetch(8, 0.3)  # the repeat was not stored
    finally:
        pub.close()
        con.close()
