"""The fake Kite ticker: a WebSocket server (``websockets``) on its own asyncio loop thread.

A client connects to ``ws://127.0.0.1:PORT?api_key=..&access_token=..``; a handshake whose
key/token the fake does not accept is refused with HTTP 403. The client sends JSON text
``{"a": "subscribe", "v": [tokens]}`` (mode ``quote``, as on Kite), ``{"a": "unsubscribe",
...}`` and ``{"a": "mode", "v": [mode, [tokens]]}``. The server sends binary tick frames
(see :mod:`tests.fake_kite.packets`), a 1-byte heartbeat every second, and order postbacks
as text ``{"type": "order", "data": {...}}``. :meth:`TickerServer.send_step` and
:meth:`TickerServer.send_text` return once the frames are written to every socket, so a
test that advances the market then reads the REST books sees a consistent state; and a
client whose handshake was answered (``KiteTicker.on_connect`` fired) gets everything sent
after it (sends wait for such sockets to be registered).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fake_kite.market import Tick
from tests.fake_kite.packets import HEARTBEAT, MODES, frame

Encode = Callable[[int, Tick, str], bytes]  # (token, tick, mode) -> packet
_SEND_TIMEOUT_S = 5.0
_HANDSHAKE_SETTLE_S = 1.0


@dataclass(eq=False)
class Connection:
    """One client: its subscriptions (token -> mode) and whether it went half-open."""

    socket: ServerConnection
    modes: dict[int, str] = field(default_factory=dict)
    muted: bool = False


class TickerServer:
    """The WebSocket side of the fake. ``authorize(api_key, access_token)`` gates handshakes."""

    def __init__(self, host: str, authorize: Callable[[str, str], bool], *,
                 heartbeat_s: float = 1.0) -> None:
        self.host = host
        self.port = 0
        self.refused_handshakes = 0
        self._authorize = authorize
        self._heartbeat_s = heartbeat_s
        self._connections: list[Connection] = []
        self._handshaking: dict[int, float] = {}  # accepted sockets whose handler not yet ran
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-kite-ticker",
                                        daemon=True)
        self._server: Server | None = None

    # --- lifecycle (caller's thread) --------------------------------------------------------

    def start(self) -> int:
        self._thread.start()
        self.port = self._call(self._start())
        return self.port

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    # --- what the fake drives ---------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Open connections (half-open ones included)."""
        return len(self._connections)

    def subscriptions(self) -> list[dict[int, str]]:
        """Each connection's token -> mode map (copies)."""
        return [dict(c.modes) for c in self._connections]

    def send_step(self, ticks: Mapping[int, Tick], encode: Encode) -> None:
        """Send one frame per connection with the subscribed tokens among ``ticks``."""
        if not self._connections and not self._handshaking:
            return  # nobody listens: skip the round trip to the loop
        self._call(self._send_step(dict(ticks), encode))

    def send_text(self, payload: Mapping[str, Any]) -> None:
        if not self._connections and not self._handshaking:
            return
        self._call(self._broadcast(json.dumps(payload, default=str)))

    def drop_all(self) -> int:
        return int(self._call(self._drop_all()))

    def half_open_all(self) -> int:
        return int(self._call(self._half_open_all()))

    # --- loop side --------------------------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    async def _start(self) -> int:
        self._server = await serve(self._handle, self.host, 0,
                                   process_request=self._check_handshake, ping_interval=None,
                                   compression=None)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        await self._drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _check_handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        query = parse_qs(urlsplit(request.path).query)
        api_key = query.get("api_key", [""])[0]
        token = query.get("access_token", [""])[0]
        if self._authorize(api_key, token):
            self._handshaking[id(socket)] = self._loop.time()
            return None
        self.refused_handshakes += 1
        return socket.respond(HTTPStatus.FORBIDDEN, "Incorrect `api_key` or `access_token`.\n")

    async def _handle(self, socket: ServerConnection) -> None:
        conn = Connection(socket)
        self._connections.append(conn)
        self._handshaking.pop(id(socket), None)
        beat = asyncio.create_task(self._heartbeat(conn))
        try:
            async for message in socket:
                if isinstance(message, str):
                    self._on_text(conn, message)
        except ConnectionClosed:
            pass
        finally:
            beat.cancel()
            if conn in self._connections:
                self._connections.remove(conn)

    def _on_text(self, conn: Connection, message: str) -> None:
        try:
            request = json.loads(message)
            action, value = request["a"], request["v"]
        except (ValueError, KeyError, TypeError):
            return  # Kite ignores what it cannot read
        if action == "subscribe":
            for token in value:
                conn.modes.setdefault(int(token), "quote")
        elif action == "unsubscribe":
            for token in value:
                conn.modes.pop(int(token), None)
        elif action == "mode" and len(value) == 2 and value[0] in MODES:
            for token in value[1]:
                conn.modes[int(token)] = value[0]

    async def _heartbeat(self, conn: Connection) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            if not conn.muted:
                await self._send(conn, HEARTBEAT)

    async def _settle(self) -> None:
        """Wait (up to 1 s) for sockets whose handshake was answered to reach the handler: a
        client told it is connected then receives everything sent afterwards."""
        now = self._loop.time()
        for socket_id, since in list(self._handshaking.items()):
            if now - since > _HANDSHAKE_SETTLE_S:
                del self._handshaking[socket_id]  # the client went away mid-handshake
        while self._handshaking and self._loop.time() - now < _HANDSHAKE_SETTLE_S:
            await asyncio.sleep(0.002)

    async def _send_step(self, ticks: dict[int, Tick], encode: Encode) -> None:
        await self._settle()
        sends = []
        for conn in list(self._connections):
            packets = [encode(token, ticks[token], mode) for token, mode in conn.modes.items()
                       if token in ticks]
            if packets and not conn.muted:
                sends.append(self._send(conn, frame(packets)))
        await asyncio.gather(*sends)

    async def _broadcast(self, data: str | bytes) -> None:
        await self._settle()
        await asyncio.gather(*(self._send(c, data) for c in list(self._connections)
                               if not c.muted))

    async def _send(self, conn: Connection, data: str | bytes) -> None:
        with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
            await asyncio.wait_for(conn.socket.send(data), _SEND_TIMEOUT_S)

    async def _drop_all(self) -> int:
        await self._settle()
        dropped = list(self._connections)
        for conn in dropped:
            conn.muted = True
            conn.socket.transport.abort()
            self._connections.remove(conn)
        return len(dropped)

    async def _half_open_all(self) -> int:
        await self._settle()
        count = 0
        for conn in self._connections:
            if not conn.muted:
                conn.muted = True
                conn.socket.transport.pause_reading()
                count += 1
        return count
