"""Fault injection for the fake Kite (``fake.faults``): what goes wrong, and for how long.

REST faults are consumed request by request (optionally only for paths starting with a
prefix, e.g. ``"/orders"``): :meth:`Faults.http_error` answers the next ``count`` requests
with an HTTP error in Kite's envelope (429 -> the client raises ``GeneralException`` with
``code`` 429; 500 ``GeneralException``, 502 ``DataException``, 503/504 ``NetworkException``),
optionally after applying the request (the answer is lost, the order exists);
:meth:`Faults.rate_limit` answers 429 beyond a request rate, as Kite's limits do;
:meth:`Faults.slow` sleeps before answering; :meth:`Faults.garble` answers 200 with a body
that is not the expected one (a margin answer that cannot be parsed);
:meth:`Faults.rms_reject` books the next placed orders as REJECTED. Token expiry and the
WebSocket faults (disconnect, half-open) act on the servers through callbacks the fake gives.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ERROR_TYPES = {429: ("GeneralException", "Too many requests"),
               500: ("GeneralException", "Something went wrong. Please try again."),
               502: ("DataException", "Unknown response from the OMS."),
               503: ("NetworkException", "Couldn't connect to the OMS. Please try again."),
               504: ("NetworkException", "Gateway timed out.")}
RMS_MESSAGE = ("RMS:Margin Exceeds,Required:177392.63, Available:54321.00 for entity "
               "account-FK0001 across exchange across segment across product")


@dataclass
class HttpFault:
    status: int
    count: int
    path_prefix: str
    after_processing: bool


@dataclass
class RateLimit:
    max_requests: int
    per_s: float
    path_prefix: str
    seen: deque[float] = field(default_factory=deque)

    def exceeded(self, now: float) -> bool:
        """Count a request at ``now``; True when it is one too many in the window."""
        while self.seen and self.seen[0] <= now - self.per_s:
            self.seen.popleft()
        if len(self.seen) >= self.max_requests:
            return True
        self.seen.append(now)
        return False


@dataclass
class GarbleFault:
    count: int
    path_prefix: str
    data: Any
    raw: bytes | None


@dataclass
class SlowFault:
    seconds: float
    count: int | None
    path_prefix: str


class Faults:
    """The injectable faults. REST ones are plain state; the socket ones call the server."""

    def __init__(self, *, on_disconnect: Callable[[], int], on_half_open: Callable[[], int],
                 on_expire: Callable[[bool], None],
                 on_text: Callable[[dict[str, Any]], None]) -> None:
        self._lock = threading.Lock()
        self._http: list[HttpFault] = []
        self._slow: list[SlowFault] = []
        self._rms: list[str] = []
        self._limits: list[RateLimit] = []
        self._garbles: list[GarbleFault] = []
        self._on_disconnect = on_disconnect
        self._on_half_open = on_half_open
        self._on_expire = on_expire
        self._on_text = on_text

    def http_error(self, status: int, *, count: int = 1, path_prefix: str = "/",
                   after_processing: bool = False) -> None:
        """Answer the next ``count`` requests under ``path_prefix`` with HTTP ``status``
        (429 or 5xx); with ``after_processing`` the request is applied first."""
        if status not in ERROR_TYPES:
            raise ValueError(f"http_error status {status!r}: one of {sorted(ERROR_TYPES)}")
        if count <= 0:
            raise ValueError(f"http_error count {count!r} must be positive")
        with self._lock:
            self._http.append(HttpFault(status, count, path_prefix, after_processing))

    def slow(self, seconds: float, *, count: int | None = None, path_prefix: str = "/") -> None:
        """Sleep ``seconds`` before answering the next ``count`` (None: every) request under
        ``path_prefix``."""
        if seconds < 0:
            raise ValueError(f"slow seconds {seconds!r} must be >= 0")
        with self._lock:
            self._slow.append(SlowFault(seconds, count, path_prefix))

    def rate_limit(self, max_requests: int, *, per_s: float = 1.0,
                   path_prefix: str = "/") -> None:
        """Answer 429 to a request under ``path_prefix`` beyond ``max_requests`` in any
        ``per_s`` seconds (Kite Connect: 10/s in general, 3/s historical, 1/s quote)."""
        if max_requests <= 0 or per_s <= 0:
            raise ValueError(f"rate_limit {max_requests!r} per {per_s!r} s must be positive")
        with self._lock:
            self._limits.append(RateLimit(max_requests, per_s, path_prefix))

    def garble(self, *, count: int = 1, path_prefix: str = "/", data: Any = None,
               raw: bytes | None = None) -> None:
        """Answer the next ``count`` successful requests under ``path_prefix`` with HTTP 200
        and a wrong body: the envelope carrying ``data`` instead of the real answer (default
        ``{"garbled": true}``), or ``raw`` bytes labelled JSON (the client then raises
        ``DataException``). The request is applied first."""
        if count <= 0:
            raise ValueError(f"garble count {count!r} must be positive")
        with self._lock:
            self._garbles.append(GarbleFault(count, path_prefix,
                                             {"garbled": True} if data is None else data, raw))

    def rms_reject(self, *, count: int = 1, message: str = RMS_MESSAGE) -> None:
        """Book the next ``count`` placed orders as REJECTED by the RMS with ``message``."""
        with self._lock:
            self._rms.extend([message] * count)

    def expire_token(self, *, drop_connections: bool = True) -> None:
        """Invalidate the access token: REST answers 403 TokenException and the ticker
        refuses the handshake (HTTP 403) until a new token is issued; by default the open
        WebSocket connections are dropped too."""
        self._on_expire(drop_connections)

    def disconnect(self) -> int:
        """Drop every WebSocket connection at once (TCP abort); returns how many."""
        return self._on_disconnect()

    def half_open(self) -> int:
        """Make every open WebSocket connection half-open: nothing more is sent on it (no
        ticks, heartbeats or postbacks) and nothing is read (pings go unanswered), but the
        TCP connection stays up. New connections work normally. Returns how many."""
        return self._on_half_open()

    def ticker_error(self, message: str) -> None:
        """Send Kite's ticker error message ``{"type": "error", "data": message}`` to every
        client (``KiteTicker`` calls its ``on_error(ws, 0, message)``)."""
        self._on_text({"type": "error", "data": message})

    def clear(self) -> None:
        """Forget every pending REST fault."""
        with self._lock:
            self._http.clear()
            self._slow.clear()
            self._rms.clear()
            self._limits.clear()
            self._garbles.clear()

    # --- consumed by the REST server -------------------------------------------------------

    def take_delay(self, path: str) -> float:
        with self._lock:
            for fault in self._slow:
                if path.startswith(fault.path_prefix):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._slow.remove(fault)
                    return fault.seconds
        return 0.0

    def take_http(self, path: str) -> HttpFault | None:
        with self._lock:
            now = time.monotonic()
            for limit in self._limits:
                if path.startswith(limit.path_prefix) and limit.exceeded(now):
                    return HttpFault(429, 1, limit.path_prefix, after_processing=False)
            for fault in self._http:
                if path.startswith(fault.path_prefix):
                    fault.count -= 1
                    if fault.count == 0:
                        self._http.remove(fault)
                    return fault
        return None

    def take_garble(self, path: str) -> GarbleFault | None:
        with self._lock:
            for fault in self._garbles:
                if path.startswith(fault.path_prefix):
                    fault.count -= 1
                    if fault.count == 0:
                        self._garbles.remove(fault)
                    return fault
        return None

    def take_rms(self) -> str | None:
        with self._lock:
            return self._rms.pop(0) if self._rms else None
