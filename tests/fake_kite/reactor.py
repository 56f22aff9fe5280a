"""Running ``kiteconnect.KiteTicker`` in tests: one twisted reactor per process, in a thread.

twisted's global reactor cannot be restarted, so it is started once (daemon thread, no
signal handlers) and every ticker is connected and closed on the reactor thread. See the
package docstring for the rules a ticker test follows.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from twisted.internet import reactor as _reactor

reactor: Any = _reactor  # twisted installs the global reactor at import

_lock = threading.Lock()
_thread: threading.Thread | None = None


def ensure_reactor(timeout_s: float = 10.0) -> None:
    """Start twisted's reactor in a daemon thread unless it already runs (idempotent)."""
    global _thread
    with _lock:
        if _thread is None and not reactor.running:
            _thread = threading.Thread(
                target=reactor.run,
                kwargs={"installSignalHandlers": False}, name="twisted-reactor", daemon=True)
            _thread.start()
    deadline = time.monotonic() + timeout_s
    while not reactor.running:
        if time.monotonic() > deadline:
            raise RuntimeError("twisted reactor did not start")
        time.sleep(0.01)


def on_reactor(fn: Any, *args: Any, **kwargs: Any) -> None:
    """Run ``fn(*args, **kwargs)`` on the reactor thread (twisted is not thread-safe)."""
    ensure_reactor()
    reactor.callFromThread(fn, *args, **kwargs)


def connect_ticker(ticker: Any) -> None:
    """``ticker.connect()`` on the running reactor (it never starts or blocks one)."""
    on_reactor(ticker.connect)


def close_ticker(ticker: Any) -> None:
    """Stop the ticker's reconnects and close its socket; the reactor keeps running."""
    on_reactor(_close, ticker)


def _close(ticker: Any) -> None:
    if getattr(ticker, "factory", None) is not None:
        ticker.stop_retry()
    if ticker.ws is not None:
        ticker.ws.sendClose()
