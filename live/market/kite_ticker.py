"""The Kite WebSocket ticker seen from the feed: what the feed uses of ``KiteTicker``, the
callbacks that move its events from twisted's thread to the runner's thread, and the one
real ticker a process may build.

KiteTicker runs twisted's reactor in a daemon thread (``connect(threaded=True)``); a reactor
cannot be restarted within a process, so a process connects once (:func:`real_ticker`
refuses a second ticker) and a new session (the next day) is a new process. KiteTicker
reconnects by itself with exponential backoff up to ``reconnect_max_delay`` seconds and
``reconnect_max_tries`` attempts; the feed subscribes and sets full mode on every connect,
so a reconnect always resubscribes. Every callback only puts a message on a thread-safe
queue (order updates excepted: they go straight to the broker side's callback).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from strategies.errors import StratopsError

MAX_RECONNECT_TRIES = 300  # KiteTicker's ceiling
MIN_RECONNECT_DELAY = 5  # seconds: KiteTicker's floor for reconnect_max_delay


class TickerError(StratopsError, RuntimeError):
    """A second ticker in one process, or ticker settings KiteTicker would silently change."""


class TickerLike(Protocol):
    """The part of ``kiteconnect.KiteTicker`` the feed uses (callback attributes included)."""

    MODE_FULL: str
    on_ticks: Any
    on_connect: Any
    on_close: Any
    on_error: Any
    on_reconnect: Any
    on_noreconnect: Any
    on_order_update: Any

    def connect(self, threaded: bool = ..., disable_ssl_verification: bool = ...,
                proxy: Any = ...) -> Any: ...
    def subscribe(self, instrument_tokens: list[int]) -> Any: ...
    def set_mode(self, mode: str, instrument_tokens: list[int]) -> Any: ...
    def close(self, code: Any = ..., reason: Any = ...) -> Any: ...


Message = tuple[Any, ...]  # (kind, arrival ns, *details): "ticks", "connect", "close", ...


def attach(ticker: TickerLike, tokens: list[int], inbox: queue.SimpleQueue[Message],
           order_update: Callable[[Mapping[str, Any]], None] | None,
           stamp: Callable[[], int] = time.time_ns) -> None:
    """Wire ``ticker``'s callbacks: ticks and connection events onto ``inbox``, each
    stamped with its arrival (``stamp``: wall-clock ns); subscribe + full mode on every
    connect."""

    def on_ticks(ws: Any, ticks: list[dict[str, Any]]) -> None:
        inbox.put(("ticks", stamp(), ticks))

    def on_connect(ws: Any, response: Any) -> None:
        try:
            ws.subscribe(tokens)
            ws.set_mode(ws.MODE_FULL, tokens)
        except Exception as exc:  # KiteTicker closes the socket and reconnects after this
            inbox.put(("error", stamp(), "subscribe", f"{type(exc).__name__}: {exc}"))
            raise
        inbox.put(("connect", stamp()))

    def on_close(ws: Any, code: Any, reason: Any) -> None:
        inbox.put(("close", stamp(), code, str(reason)))

    def on_error(ws: Any, code: Any, reason: Any) -> None:
        inbox.put(("error", stamp(), code, str(reason)))

    def on_reconnect(ws: Any, attempt: int) -> None:
        inbox.put(("reconnect", stamp(), attempt))

    def on_noreconnect(ws: Any) -> None:
        inbox.put(("noreconnect", stamp()))

    ticker.on_ticks, ticker.on_connect, ticker.on_close = on_ticks, on_connect, on_close
    ticker.on_error, ticker.on_reconnect = on_error, on_reconnect
    ticker.on_noreconnect = on_noreconnect
    if order_update is not None:
        callback = order_update
        ticker.on_order_update = lambda ws, data: callback(data)


_built = threading.Lock()
_one_per_process: list[bool] = []


def real_ticker(api_key: str, access_token: str, *, root: str, reconnect_max_tries: int,
                reconnect_max_delay: int, connect_timeout: int = 30) -> TickerLike:
    """The process's one ``kiteconnect.KiteTicker`` (root URL from settings: the fake Kite
    in tests). A second call raises :class:`TickerError`: twisted cannot reconnect a
    stopped reactor, so a new session needs a new process."""
    if not 1 <= reconnect_max_tries <= MAX_RECONNECT_TRIES:
        raise TickerError(f"reconnect_max_tries={reconnect_max_tries}: KiteTicker allows 1.."
                          f"{MAX_RECONNECT_TRIES}")
    if reconnect_max_delay < MIN_RECONNECT_DELAY:
        raise TickerError(f"reconnect_max_delay={reconnect_max_delay}: KiteTicker's floor is "
                          f"{MIN_RECONNECT_DELAY} s")
    with _built:
        if _one_per_process:
            raise TickerError("a KiteTicker was already built in this process: twisted's "
                              "reactor cannot be restarted, so one process connects once "
                              "(run the next session in a new process)")
        _one_per_process.append(True)
    from kiteconnect import KiteTicker

    ticker: TickerLike = KiteTicker(api_key, access_token, root=root, reconnect=True,
                                    reconnect_max_tries=reconnect_max_tries,
                                    reconnect_max_delay=reconnect_max_delay,
                                    connect_timeout=connect_timeout)
    return ticker
