"""Each fault the fake Kite injects, seen through the real kiteconnect clients (and the Kite
adapter where the outcome matters): HTTP 429 / 5xx, slow answers, token expiry, dropped and
half-open WebSockets."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect, KiteTicker
from kiteconnect import exceptions as kex
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from live.adapters.kite import KiteBroker
from live.broker import OrderRequest, OrderState, Outcome, Side
from tests.fake_kite import FakeKite
from tests.fake_kite.market import IST
from tests.fake_kite.reactor import close_ticker, connect_ticker, on_reactor
from tests.unit.test_fake_kite_rest import T0, minute_bars


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    with FakeKite(minute_bars(), heartbeat_s=0.05) as running:
        yield running


@pytest.fixture
def kite(fake: FakeKite) -> KiteConnect:
    return KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)


def _request(fake: FakeKite, key: str = "fault-1") -> OrderRequest:
    return OrderRequest(client_key=key, symbol=str(fake.instruments[0]["tradingsymbol"]),
                        exchange="NFO", side=Side.BUY, qty=75)


def _ws_url(fake: FakeKite, token: str | None = None) -> str:
    return (f"{fake.ticker_root}?api_key={fake.api_key}"
            f"&access_token={token or fake.access_token}")


# --- HTTP --------------------------------------------------------------------------------------

def test_429_raises_the_clients_exception_once(fake: FakeKite, kite: KiteConnect) -> None:
    fake.faults.http_error(429)
    with pytest.raises(kex.GeneralException, match="Too many requests") as raised:
        kite.orders()
    assert raised.value.code == 429
    assert kite.orders() == []


@pytest.mark.parametrize(("status", "exc"), [(500, kex.GeneralException),
                                             (502, kex.DataException),
                                             (503, kex.NetworkException),
                                             (504, kex.NetworkException)])
def test_5xx_raises_kite_exception_with_code(fake: FakeKite, kite: KiteConnect, status: int,
                                             exc: type[Exception]) -> None:
    fake.faults.http_error(status, count=2)
    for _ in range(2):
        with pytest.raises(exc) as raised:
            kite.trades()
        assert raised.value.code == status  # type: ignore[attr-defined]
    assert kite.trades() == []


def test_fault_on_a_path_prefix_leaves_other_paths_alone(fake: FakeKite,
                                                         kite: KiteConnect) -> None:
    fake.faults.http_error(500, path_prefix="/portfolio")
    assert kite.orders() == []
    with pytest.raises(kex.GeneralException):
        kite.positions()


def test_5xx_after_processing_places_the_order_and_adapter_says_unknown(
        fake: FakeKite, kite: KiteConnect) -> None:
    broker = KiteBroker(kite)
    fake.faults.http_error(503, path_prefix="/orders/regular", after_processing=True)
    result = broker.submit(_request(fake))
    found = broker.status(client_key="fault-1")
    assert result.outcome is Outcome.UNKNOWN
    assert found is not None and found.state is OrderState.OPEN


def test_429_on_place_is_rejected_by_the_adapter_and_nothing_is_booked(
        fake: FakeKite, kite: KiteConnect) -> None:
    broker = KiteBroker(kite)
    fake.faults.http_error(429, path_prefix="/orders")
    assert broker.submit(_request(fake)).outcome is Outcome.REJECTED
    assert broker.orders() == []


def test_slow_answer_times_the_client_out_then_recovers(fake: FakeKite) -> None:
    kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root,
                       timeout=0.2)
    fake.faults.slow(1.0, count=1, path_prefix="/orders")
    assert kite.positions() == {"net": [], "day": []}
    with pytest.raises(requests.ReadTimeout):
        kite.orders()
    assert kite.orders() == []


def test_rest_faults_can_be_cleared(fake: FakeKite, kite: KiteConnect) -> None:
    fake.faults.http_error(500, count=5)
    fake.faults.clear()
    assert kite.orders() == []


# --- token expiry ------------------------------------------------------------------------------

def test_expired_token_is_a_token_exception_on_rest(fake: FakeKite, kite: KiteConnect) -> None:
    fake.faults.expire_token()
    with pytest.raises(kex.TokenException):
        kite.orders()


def test_expired_token_makes_the_adapter_refuse_to_send(fake: FakeKite,
                                                       kite: KiteConnect) -> None:
    broker = KiteBroker(kite)
    fake.faults.expire_token()
    assert broker.submit(_request(fake)).outcome is Outcome.REJECTED
    assert broker.session_invalid


def test_expired_token_refuses_the_ticker_handshake_with_403(fake: FakeKite) -> None:
    fake.faults.expire_token()
    with pytest.raises(InvalidStatus) as raised:
        ws_connect(_ws_url(fake), open_timeout=5)
    assert raised.value.response.status_code == 403
    assert fake.ticker.refused_handshakes == 1


def test_a_new_session_after_expiry_restores_rest_and_ticker(fake: FakeKite,
                                                             kite: KiteConnect) -> None:
    fake.faults.expire_token()
    kite.generate_session(fake.issue_request_token(), fake.api_secret)
    assert kite.orders() == []
    with ws_connect(_ws_url(fake, kite.access_token), open_timeout=5) as socket:
        assert socket.recv(timeout=5) == b"\x00"  # a heartbeat


def test_bad_ticker_token_is_refused_with_403(fake: FakeKite) -> None:
    with pytest.raises(InvalidStatus) as raised:
        ws_connect(_ws_url(fake, "guessed"), open_timeout=5)
    assert raised.value.response.status_code == 403


# --- WebSocket faults --------------------------------------------------------------------------

def test_half_open_socket_goes_silent_but_stays_connected(fake: FakeKite) -> None:
    with ws_connect(_ws_url(fake), open_timeout=5, close_timeout=0.1) as socket:
        socket.send(json.dumps({"a": "subscribe", "v": [fake.instruments[0]["instrument_token"]]}))
        assert socket.recv(timeout=5) == b"\x00"
        assert fake.faults.half_open() == 1
        _drain(socket)
        fake.advance(T0 + timedelta(minutes=2))
        with pytest.raises(TimeoutError):
            socket.recv(timeout=0.5)  # ten heartbeat periods and eight ticks: nothing
        assert fake.ticker.connections == 1
        with ws_connect(_ws_url(fake), open_timeout=5) as fresh:
            assert fresh.recv(timeout=5) == b"\x00"  # a new connection works


def _drain(socket: Any) -> None:
    """Read what was in flight before the socket went half-open."""
    try:
        while True:
            socket.recv(timeout=0.2)
    except TimeoutError:
        return


def test_disconnect_drops_every_socket(fake: FakeKite) -> None:
    with ws_connect(_ws_url(fake), open_timeout=5) as one, \
            ws_connect(_ws_url(fake), open_timeout=5) as two:
        assert one.recv(timeout=5) == two.recv(timeout=5) == b"\x00"
        assert fake.faults.disconnect() == 2
        for socket in (one, two):
            with pytest.raises(Exception, match=r"no close frame|closed"):
                while True:
                    socket.recv(timeout=5)
    assert fake.ticker.connections == 0


def test_kiteticker_reconnects_and_resubscribes_after_disconnect(fake: FakeKite) -> None:
    token = int(fake.instruments[0]["instrument_token"])
    events: queue.Queue[str] = queue.Queue()
    ticks: queue.Queue[dict[str, Any]] = queue.Queue()
    ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ticker_root)

    def on_connect(ws: KiteTicker, _: object) -> None:
        ws.factory.initialDelay = ws.factory.delay = 0.1
        ws.factory.factor = 1.5
        if not ws.subscribed_tokens:
            ws.subscribe([token])
            ws.set_mode(ws.MODE_FULL, [token])
        events.put("connected")

    ticker.on_connect = on_connect
    ticker.on_close = lambda ws, code, reason: events.put("closed")
    ticker.on_ticks = lambda ws, got: [ticks.put(t) for t in got]
    connect_ticker(ticker)
    try:
        assert events.get(timeout=10) == "connected"
        _wait(lambda: fake.ticker.subscriptions() == [{token: "full"}])
        fake.faults.disconnect()
        assert events.get(timeout=10) == "closed"
        assert events.get(timeout=10) == "connected"
        _wait(lambda: fake.ticker.subscriptions() == [{token: "full"}])  # resubscribed
        fake.advance(T0 + timedelta(minutes=1))
        assert ticks.get(timeout=10)["mode"] == "full"
    finally:
        close_ticker(ticker)


def test_kiteticker_handshake_refused_after_token_expiry(fake: FakeKite) -> None:
    events: queue.Queue[str] = queue.Queue()
    ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ticker_root)

    def on_connect(ws: KiteTicker, _: object) -> None:
        ws.factory.initialDelay = ws.factory.delay = 0.1
        ws.factory.factor = 1.5
        events.put("connected")

    ticker.on_connect = on_connect
    connect_ticker(ticker)
    try:
        assert events.get(timeout=10) == "connected"
        _wait(lambda: fake.ticker.connections == 1)  # the server has registered the socket
        fake.faults.expire_token()
        _wait(lambda: fake.ticker.refused_handshakes >= 1)
        assert events.empty() and fake.ticker.connections == 0
    finally:
        close_ticker(ticker)


def _wait(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_garbled_margin_answer_reaches_the_client_as_wrong_data(fake: FakeKite,
                                                               kite: KiteConnect) -> None:
    fake.faults.garble(path_prefix="/margins/orders", data=[{"total": "n/a"}])
    order = {"exchange": "NFO", "tradingsymbol": str(fake.instruments[0]["tradingsymbol"]),
             "transaction_type": "BUY", "variety": "regular", "product": "NRML",
             "order_type": "LIMIT", "quantity": 75, "price": 100.0}
    assert kite.order_margins([order]) == [{"total": "n/a"}]
    assert kite.order_margins([order])[0]["total"] == pytest.approx(75 * 100.0 * 0.15)


def test_non_json_answer_is_a_data_exception(fake: FakeKite, kite: KiteConnect) -> None:
    fake.faults.garble(path_prefix="/user/margins", raw=b"<html>bad gateway</html>")
    with pytest.raises(kex.DataException, match="Couldn't parse"):
        kite.margins()


def test_kiteticker_recovers_from_half_open_by_dropping_its_connection(fake: FakeKite) -> None:
    """What a stale-feed detector does: abort the silent socket on the reactor thread; the
    ticker's factory reconnects and KiteTicker resubscribes by itself."""
    token = int(fake.instruments[0]["instrument_token"])
    events: queue.Queue[str] = queue.Queue()
    ticks: queue.Queue[dict[str, Any]] = queue.Queue()
    ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ticker_root)

    def on_connect(ws: KiteTicker, _: object) -> None:
        ws.factory.initialDelay = ws.factory.delay = 0.1
        ws.factory.factor = 1.5
        if not ws.subscribed_tokens:
            ws.subscribe([token])
            ws.set_mode(ws.MODE_FULL, [token])
        events.put("connected")

    ticker.on_connect = on_connect
    ticker.on_ticks = lambda ws, got: [ticks.put(t) for t in got]
    connect_ticker(ticker)
    try:
        assert events.get(timeout=10) == "connected"
        _wait(lambda: fake.ticker.subscriptions() == [{token: "full"}])
        assert fake.faults.half_open() == 1
        fake.advance(T0 + timedelta(minutes=1))
        with pytest.raises(queue.Empty):
            ticks.get(timeout=0.3)  # silent: the ticks went nowhere
        on_reactor(lambda: ticker.ws.dropConnection(abort=True))
        assert events.get(timeout=10) == "connected"
        # the half-open socket is still held by the server: wait for the second one
        _wait(lambda: fake.ticker.subscriptions().count({token: "full"}) == 2)
        fake.advance(T0 + timedelta(minutes=2))
        assert ticks.get(timeout=10)["exchange_timestamp"].astimezone(IST) == T0 + timedelta(
            minutes=1)
    finally:
        close_ticker(ticker)


def test_ticker_error_message_reaches_kitetickers_on_error(fake: FakeKite) -> None:
    errors: queue.Queue[tuple[int, str]] = queue.Queue()
    connected: queue.Queue[str] = queue.Queue()
    ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ticker_root)
    ticker.on_connect = lambda ws, _: connected.put("connected")
    ticker.on_error = lambda ws, code, reason: errors.put((code, reason))
    connect_ticker(ticker)
    try:
        assert connected.get(timeout=10) == "connected"
        _wait(lambda: fake.ticker.connections == 1)  # the server has registered the socket
        fake.faults.ticker_error("Too many instruments subscribed")
        assert errors.get(timeout=10) == (0, "Too many instruments subscribed")
    finally:
        close_ticker(ticker)
