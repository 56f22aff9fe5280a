"""A loopback fake of Zerodha Kite Connect for tests (never shipped in the wheel).

:class:`FakeKite` serves the REST API (orders, trades, positions, margins, order margins,
instruments dump, historical candles, session token, profile) and the ticker's binary
WebSocket protocol on free ports of 127.0.0.1, driven by a dataset's 1-minute bars, so the
real ``kiteconnect.KiteConnect(api_key, access_token=..., root=fake.rest_root)`` and
``kiteconnect.KiteTicker(api_key, access_token, root=fake.ticker_root)`` talk to it.
``fake.advance(ts)`` sends each finished minute as four ticks that re-aggregate to the bar
exactly (see :mod:`tests.fake_kite.market`); ``fake.faults`` injects HTTP 429 / 5xx, slow
answers, rate limits, RMS rejections, token expiry, dropped and half-open sockets; the
exchange's price band and freeze quantity refuse orders as Kite shows it (REJECTED).

Twisted and KiteTicker (read this before writing a ticker test)
---------------------------------------------------------------
``KiteTicker`` runs on twisted's global reactor, which can be started once per process and
never restarted (``ReactorNotRestartable``). The pattern:

* Start the reactor once per process, in a daemon thread: :func:`tests.fake_kite.reactor.
  ensure_reactor` (idempotent; every test module calls it through the helpers below).
* Connect each ticker on the reactor thread: :func:`tests.fake_kite.reactor.connect_ticker`
  (``reactor.callFromThread(ticker.connect)``; ``KiteTicker.connect`` itself only starts the
  reactor when it is not running, and twisted is not thread-safe).
* Never call ``ticker.stop()`` (it stops the reactor for the whole process); end a ticker
  with :func:`tests.fake_kite.reactor.close_ticker` (``stop_retry`` + close, on the reactor
  thread). Call ``subscribe`` / ``set_mode`` from the ticker's ``on_connect`` callback (it
  runs on the reactor thread) or through ``reactor.callFromThread``.
* Callbacks run on the reactor thread: hand data to the test through a ``queue.Queue``.
* Once ``on_connect`` fired, everything the fake sends (postbacks, errors, drops) reaches that
  socket; ticks need the subscribe/mode messages processed first: wait until
  ``fake.ticker.subscriptions()`` shows them before ``fake.advance``.
* A test that needs a fresh reactor (e.g. one that must stop it) runs in a subprocess.
* ``KiteTicker``'s own ping/pong check never fires (it sends no pings), so a half-open socket
  is only seen by the consumer's staleness clock (heartbeats stop). To recover, abort the
  socket on the reactor thread: ``on_reactor(lambda: ticker.ws.dropConnection(abort=True))``;
  the ticker's reconnecting factory reconnects and ``KiteTicker`` resubscribes by itself
  (tested in ``tests/unit/test_fake_kite_faults.py``). ``ticker.close()`` instead stops the
  retries for good.
* Reconnect delays start near 2.7 s (twisted's ``ReconnectingClientFactory``); tests set
  ``ws.factory.initialDelay = ws.factory.delay = 0.1`` in ``on_connect`` to go faster.

Kite's packets carry epoch seconds and ``KiteTicker`` turns them into *naive local-time*
datetimes (``datetime.fromtimestamp``): a consumer must attach the process's local zone
(``ts.astimezone()``) before converting to Asia/Kolkata.
"""

from tests.fake_kite.book import OrderBook
from tests.fake_kite.exchange_rules import ExchangeRules
from tests.fake_kite.fake import FakeKite, FakeKiteHostError, loopback_host
from tests.fake_kite.faults import Faults
from tests.fake_kite.fields import KiteApiError
from tests.fake_kite.instruments import default_instruments, front_month_future
from tests.fake_kite.margins import MarginSettings
from tests.fake_kite.market import FakeMarketError, Tick
from tests.fake_kite.replay import kite_frames

__all__ = [
    "ExchangeRules",
    "FakeKite",
    "FakeKiteHostError",
    "FakeMarketError",
    "Faults",
    "KiteApiError",
    "MarginSettings",
    "OrderBook",
    "Tick",
    "default_instruments",
    "front_month_future",
    "kite_frames",
    "loopback_host",
]
