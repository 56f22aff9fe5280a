"""The bus over the real NATS JetStream server: round trip, de-duplication by message id,
redelivery of what was not acked (no second effect), poison parked on the dead-letter
stream, sequence gaps held, and a server restart in the middle of a session."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from live.bus import Envelope, MessageBus
from live.events import BarClosed
from live.journal import open_journal
from live.runner.feed import FeedBar
from live.state import LiveState
from live.svc.market_data import bar_envelope
from live.svc.mirror import record_id
from live.svc.state import ReplicaSink
from live.transport.jetstream import JetStreamTransport
from live.transport.subjects import DEAD, MARKET_DATA, BusLayout, ConsumerSpec
from live.transport.wire import encode
from tests.integration.jetstream import NATS_URL, layout, raw_publish, start_nats, stop_nats

__all__ = ["layout"]
pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)


def bar(i: int) -> FeedBar:
    return FeedBar("NIFTY", T0 + timedelta(minutes=i), 100.0 + i, 101.0 + i, 99.0 + i,
                   100.5 + i, 10.0)


class Alerts(list[tuple[str, str]]):
    def __call__(self, code: str, message: str) -> None:
        self.append((code, message))

    def codes(self) -> list[str]:
        return [c for c, _ in self]


@pytest.fixture
def alerts() -> Alerts:
    return Alerts()


def transport(layout: BusLayout, alerts: Alerts, consumer: ConsumerSpec | None = None,
              **kw: Any) -> JetStreamTransport:
    return JetStreamTransport(NATS_URL, layout, publisher=f"p{id(kw)}{time.monotonic_ns()}",
                              publishes=MARKET_DATA, consumer=consumer, alert=alerts, **kw)


@pytest.fixture
def pair(layout: BusLayout, alerts: Alerts) -> Iterator[tuple[JetStreamTransport,
                                                              JetStreamTransport]]:
    pub = transport(layout, alerts)
    con = transport(layout, alerts, layout.consumer(MARKET_DATA, "exec", ordered=True))
    try:
        yield pub, con
    finally:
        pub.close()
        con.close()


def fetch_all(con: JetStreamTransport, want: int, timeout_seconds: float = 10.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout_seconds
    while len(got) < want and time.monotonic() < deadline:
        for item in con.fetch(16, 0.2):
            con.ack(item)
            got.append(item)
    return got


def stream_messages(name: str) -> int:
    async def go() -> int:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            return int((await nc.jetstream().stream_info(name)).state.messages)
        finally:
            await nc.close()
    return asyncio.run(go())


def test_jetstream_round_trip_delivers_the_envelope_to_the_bus_subscriber(pair: Any) -> None:
    pub, con = pair
    heard: list[BarClosed] = []
    MessageBus(con).subscribe(BarClosed.KIND, heard.append)  # type: ignore[arg-type]
    pub.publish(bar_envelope(bar(0)))
    deadline = time.monotonic() + 5
    while not heard and time.monotonic() < deadline:
        con.poll(16, 0.2)
    assert [(e.symbol, e.ts_event, e.close) for e in heard] == [("NIFTY", T0, 100.5)]


def test_jetstream_same_message_id_twice_is_stored_and_delivered_once(
        pair: Any, layout: BusLayout) -> None:
    pub, con = pair
    pub.publish(bar_envelope(bar(0)))
    pub.publish(bar_envelope(bar(0)))  # a retry, or a restarted publisher
    pub.publish(bar_envelope(bar(1)))
    got = fetch_all(con, 2)
    assert [i.envelope.message_id for i in got] == [bar_envelope(bar(0)).message_id,
                                                   bar_envelope(bar(1)).message_id]
    assert [i.seq for i in got] == [1, 2]  # the duplicate used no sequence number
    assert stream_messages(layout.stream(MARKET_DATA).name) == 2


def test_jetstream_redelivery_after_the_effect_appends_nothing_twice(
        layout: BusLayout, alerts: Alerts, tmp_path: Path) -> None:
    pub = transport(layout, alerts)
    spec = ConsumerSpec(layout.stream(MARKET_DATA).name, "state", f"{layout.prefix}.md.>",
                        ack_wait_seconds=1.0)
    con = transport(layout, alerts, spec)
    url = f"sqlite:///{tmp_path / 'replica.db'}"
    clock = lambda: T0  # noqa: E731 - record time, fixed
    try:
        event = bar_envelope(bar(0)).messages[0]
        pub.publish(Envelope(event.KIND, record_id(event), (event,)))
        (first,) = fetch_all_unacked(con, 1)
        ReplicaSink(open_journal(url, clock=clock), LiveState())(first.envelope)  # effect
        # ... and the process dies before its ack: JetStream delivers it again
        restarted = ReplicaSink(open_journal(url, clock=clock), LiveState())
        (again,) = fetch_all_unacked(con, 1, timeout_seconds=5)
        restarted(again.envelope)
        con.ack(again)
        assert again.deliveries == 2 and again.envelope == first.envelope
        assert restarted.appended == 0 and restarted.journal.head()[0] == 1
    finally:
        pub.close()
        con.close()


def fetch_all_unacked(con: JetStreamTransport, want: int, timeout_seconds: float = 5.0
                      ) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout_seconds
    while len(got) < want and time.monotonic() < deadline:
        got.extend(con.fetch(16, 0.2))
    return got


@pytest.mark.parametrize("payload", [b"\xff not json", b'[{"kind": "Nope", "fields": {}}]'],
                         ids=["undecodable", "invalid"])
def test_jetstream_poison_is_parked_alerted_and_does_not_block_the_stream(
        pair: Any, layout: BusLayout, alerts: Alerts, payload: bytes) -> None:
    pub, con = pair
    _, headers = encode(bar_envelope(bar(0)), "poisoner", 1)
    raw_publish(layout.subject(MARKET_DATA, "BarClosed"), payload, headers)
    pub.publish(bar_envelope(bar(1)))
    got = fetch_all(con, 1)
    assert [i.envelope.message_id for i in got] == [bar_envelope(bar(1)).message_id]
    assert con.parked == 1 and "bus_poison_parked" in alerts.codes()
    assert stream_messages(layout.stream(DEAD).name) == 1


def test_jetstream_handler_failing_every_delivery_is_parked_after_max_deliver(
        layout: BusLayout, alerts: Alerts) -> None:
    pub = transport(layout, alerts)
    spec = ConsumerSpec(layout.stream(MARKET_DATA).name, "failing", f"{layout.prefix}.md.>",
                        max_deliver=2)
    con = transport(layout, alerts, spec, nak_delay_seconds=0.05)
    tries: list[str] = []

    def refuse(envelope: Envelope) -> None:
        tries.append(envelope.message_id)
        raise RuntimeError("handler down")

    con.attach(refuse)
    try:
        pub.publish(bar_envelope(bar(0)))
        deadline = time.monotonic() + 5
        while con.parked == 0 and time.monotonic() < deadline:
            con.poll(16, 0.2)
        assert len(tries) == 2 and con.parked == 1
        assert stream_messages(layout.stream(DEAD).name) == 1
    finally:
        pub.close()
        con.close()


def test_jetstream_sequence_gap_holds_then_fails_closed_until_filled(
        layout: BusLayout, alerts: Alerts) -> None:
    con = transport(layout, alerts, layout.consumer(MARKET_DATA, "ordered", ordered=True),
                    gap_timeout_seconds=0.3)
    subject = layout.subject(MARKET_DATA, "BarClosed")
    try:
        for seq in (1, 3):  # #2 lost on the way
            raw_publish(subject, *encode(bar_envelope(bar(seq)), "md-1", seq))
        assert [i.seq for i in fetch_all(con, 2, timeout_seconds=1.0)] == [1]
        time.sleep(0.4)
        assert fetch_all(con, 1, timeout_seconds=0.5) == []
        assert {"bus_sequence_gap", "bus_sequence_hold"} <= set(alerts.codes())
        assert con.held_publishers == {"md-1"}
        raw_publish(subject, *encode(bar_envelope(bar(2)), "md-1", 2))  # redelivered at last
        assert [i.seq for i in fetch_all(con, 2)] == [2, 3]
        assert con.held_publishers == set()
    finally:
        con.close()


def test_jetstream_server_restart_mid_session_loses_nothing(pair: Any) -> None:
    pub, con = pair
    for i in range(3):
        pub.publish(bar_envelope(bar(i)))
    assert len(fetch_all(con, 3)) == 3
    sent: list[int] = []
    try:
        stop_nats()
        def publish_while_down() -> None:
            pub.publish(bar_envelope(bar(3)))
            sent.append(3)

        during = threading.Thread(target=publish_while_down)
        during.start()  # blocks, retrying, while the server is away
        time.sleep(0.5)
    finally:
        start_nats()
    during.join(timeout=30)
    for i in (4, 5):
        pub.publish(bar_envelope(bar(i)))
    got = fetch_all(con, 3, timeout_seconds=20)
    assert sent == [3]
    assert [i.envelope.messages[0].ts_event for i in got] == [bar(i).ts for i in (3, 4, 5)]


def test_jetstream_restarted_ordered_consumer_resumes_at_the_first_unacked_in_order(
        layout: BusLayout, alerts: Alerts) -> None:
    spec = ConsumerSpec(layout.stream(MARKET_DATA).name, "exec", f"{layout.prefix}.md.>",
                        ack_wait_seconds=1.0, ordered=True)
    pub = transport(layout, alerts)
    try:
        for i in range(3):
            pub.publish(bar_envelope(bar(i)))
        first = transport(layout, alerts, spec)
        got = fetch_all_unacked(first, 3)
        first.ack(got[0])  # then dies holding #2 and #3 unacked
        first.close()
        pub.publish(bar_envelope(bar(3)))  # delivered at once; #2 and #3 only after ack_wait
        second = transport(layout, alerts, spec)
        try:
            resumed = fetch_all(second, 3)
        finally:
            second.close()
        assert [i.seq for i in resumed] == [2, 3, 4]
        assert "bus_sequence_gap" not in alerts.codes()
    finally:
        pub.close()


def test_bus_bars_before_the_first_bar_calls_waiting_then_yields_the_bar(
        pair: Any) -> None:
    """The execution service's heartbeat before market data flows: each empty fetch calls
    ``waiting`` (there is no market time for an Idle yet); the first bar then comes through."""
    from live.svc.bar_feed import bus_bars

    pub, con = pair
    calls: list[int] = []
    feed = bus_bars(con, idle_slice_seconds=0.05, waiting=lambda: calls.append(1))

    def publish_soon() -> None:
        time.sleep(0.5)
        pub.publish(bar_envelope(bar(1)))

    threading.Thread(target=publish_soon, daemon=True).start()
    first = next(feed)
    assert isinstance(first, FeedBar) and first.ts == bar(1).ts
    assert len(calls) >= 3  # beat while nothing came
