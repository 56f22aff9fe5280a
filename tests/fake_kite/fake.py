""":class:`FakeKite`: the loopback fake Kite (REST + ticker) driven by a dataset's bars.

Nothing runs until :meth:`FakeKite.start` (or ``with FakeKite(...) as fake``): then a REST
server and a WebSocket ticker listen on free ports of 127.0.0.1 (no other host is accepted).
:meth:`FakeKite.advance` moves the market deterministically minute by minute: for each tick
step it matches the order book, sends the tick frame to the ticker's clients, then the
order postbacks it caused. :meth:`FakeKite.play` does the same in real time for demos.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import pandas as pd

from tests.fake_kite.book import BookSettings, OrderBook
from tests.fake_kite.exchange_rules import ExchangeRules
from tests.fake_kite.faults import Faults
from tests.fake_kite.fields import KiteApiError
from tests.fake_kite.instruments import check_rows, default_instruments, is_index
from tests.fake_kite.margins import MarginSettings
from tests.fake_kite.market import IST, FakeMarket, FakeMarketError, Tick
from tests.fake_kite.packets import tick_packet
from tests.fake_kite.rest import Params, RequestRecord, RestServer
from tests.fake_kite.routes import dispatch
from tests.fake_kite.ticker_server import TickerServer


class FakeKiteHostError(ValueError):
    """The fake binds to IPv4 loopback only."""


def loopback_host(host: str) -> str:
    """``host`` when it is an IPv4 loopback address, else :class:`FakeKiteHostError`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise FakeKiteHostError(f"host {host!r}: the fake Kite binds to an IPv4 loopback "
                                "address (127.0.0.1) only") from None
    if address.version != 4 or not address.is_loopback:
        raise FakeKiteHostError(f"host {host!r}: the fake Kite binds to an IPv4 loopback "
                                "address (127.0.0.1) only")
    return host


class FakeKite:
    """A Kite Connect account and market on loopback for tests (see the package docstring)."""

    def __init__(self, bars: pd.DataFrame, instruments: Sequence[Mapping[str, Any]] | None = None,
                 *, seed: int = 0, api_key: str = "fake_api_key",
                 access_token: str = "fake_access_token", api_secret: str = "fake_api_secret",
                 host: str = "127.0.0.1", symbol_map: Mapping[str, str] | None = None,
                 slippage_points: float = 0.0, fill_qty_per_tick: int | None = None,
                 rules: ExchangeRules | None = None, margins: MarginSettings | None = None,
                 heartbeat_s: float = 1.0, start: datetime | None = None) -> None:
        self.host = loopback_host(host)
        self.seed = seed
        self.api_key = api_key
        self.access_token = access_token
        self.api_secret = api_secret
        self.market = FakeMarket(bars, start=start)
        self.instruments = check_rows(instruments if instruments is not None else
                                      default_instruments(self.market.symbols,
                                                          self.market.clock.date()))
        self._by_token = {int(r["instrument_token"]): r for r in self.instruments}
        self._drives = drive_map(self.instruments, self.market.symbols, symbol_map or {})
        idle = sorted(set(self.market.symbols) - set(self._drives))
        if idle:
            raise FakeMarketError(f"bars symbol(s) {idle} drive no instrument: give rows whose "
                                  "tradingsymbol or name is the symbol, or a symbol_map entry")
        self.book = OrderBook({r["tradingsymbol"]: r for r in self.instruments},
                              BookSettings(slippage_points=slippage_points,
                                           fill_qty_per_tick=fill_qty_per_tick,
                                           rules=rules or ExchangeRules()))
        self.last_ticks: dict[str, Tick] = {}  # by tradingsymbol
        self.margin_settings = margins or MarginSettings()
        self.lock = threading.RLock()
        self.ticker = TickerServer(self.host, self._ticker_authorized, heartbeat_s=heartbeat_s)
        self.faults = Faults(on_disconnect=self._disconnect, on_half_open=self._half_open,
                             on_expire=self._expire, on_text=self.ticker.send_text)
        self._token_valid = True
        self._rng = random.Random(seed)
        self._request_tokens: set[str] = set()
        self._rest: RestServer | None = None
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._player: threading.Thread | None = None
        self._stop_play = threading.Event()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeKite:
        self._rest = RestServer(self.host, self)
        self._rest.start()
        self.ticker.start()
        return self

    def close(self) -> None:
        self.stop_play()
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        self.ticker.stop()

    def __enter__(self) -> FakeKite:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def rest_root(self) -> str:
        """``KiteConnect(api_key, access_token=..., root=fake.rest_root)``."""
        if self._rest is None:
            raise RuntimeError("FakeKite not started: use `with FakeKite(...)` or start()")
        return f"http://{self.host}:{self._rest.port}"

    @property
    def ticker_root(self) -> str:
        """``KiteTicker(api_key, access_token, root=fake.ticker_root)``."""
        if not self.ticker.port:
            raise RuntimeError("FakeKite not started: use `with FakeKite(...)` or start()")
        return f"ws://{self.host}:{self.ticker.port}"

    # --- driving the market -----------------------------------------------------------------

    @property
    def clock(self) -> datetime:
        """The fake's exchange time: bars that end at or before it have been sent."""
        return self.market.clock

    def advance(self, to_ts: datetime) -> int:
        """Send every tick step with an exchange time before ``to_ts`` (a minute boundary sends
        whole bars: ``advance(09:20)`` ends with the 09:19 bar's close tick); returns the
        number of steps sent."""
        steps = 0
        with self.lock:
            for ticks in self.market.ticks_until(to_ts):
                self._step(ticks)
                steps += 1
        return steps

    def push_bar(self, symbol: str, ts: datetime, o: float, h: float, low: float, c: float,
                 volume: int = 0) -> None:
        """Add one bar of a bars ``symbol`` (or of a tradingsymbol) and send its ticks."""
        with self.lock:
            driven = self._drives.get(symbol) or [
                r for r in self.instruments if symbol in (r["tradingsymbol"], r["name"])]
            if not driven:
                raise FakeMarketError(f"bar symbol {symbol!r} drives no instrument")
            self.market.append_bar(symbol, ts, o, h, low, c, volume)
            self._drives[symbol] = driven
            self.advance(ts + timedelta(minutes=1))

    def play(self, speed: float = 60.0) -> None:
        """Advance in a background thread, ``speed`` market seconds per wall second."""
        if speed <= 0:
            raise ValueError(f"play speed {speed!r} must be positive")
        self.stop_play()
        self._stop_play.clear()
        origin, wall0 = self.clock, time.monotonic()

        def run() -> None:
            while not self._stop_play.wait(0.05) and self.market.pending():
                self.advance(origin + timedelta(seconds=(time.monotonic() - wall0) * speed))

        self._player = threading.Thread(target=run, name="fake-kite-play", daemon=True)
        self._player.start()

    def stop_play(self) -> None:
        self._stop_play.set()
        if self._player is not None:
            self._player.join(timeout=5)
            self._player = None

    def flush_postbacks(self) -> None:
        """Send the order updates the book collected as ticker postbacks (``checksum`` as in
        Kite's postbacks: sha256 of order_id + order_timestamp + api_secret)."""
        updates, self.book.updates = self.book.updates, []
        for update in updates:
            checksum = hashlib.sha256(f"{update['order_id']}{update['order_timestamp']}"
                                      f"{self.api_secret}".encode()).hexdigest()
            payload = dict(update, user_id=self.book.settings.user_id,
                           unfilled_quantity=update["pending_quantity"], app_id=1,
                           checksum=checksum)
            self.ticker.send_text({"type": "order", "id": "", "data": payload})

    def _step(self, ticks: list[Tick]) -> None:
        by_token: dict[int, Tick] = {}
        for tick in ticks:
            self.book.roll_day(tick.ts.date(), tick.ts)
            self.book.square_off_mis(tick.ts)
            for row in self._drives.get(tick.symbol, []):
                by_token[int(row["instrument_token"])] = tick
                if not is_index(row):
                    self.book.on_tick(row["tradingsymbol"], tick.price_paise / 100.0, tick.ts,
                                      reference=tick.prev_close_paise / 100.0,
                                      gap=tick.opens_bar)
                    self.last_ticks[str(row["tradingsymbol"])] = tick
        self.ticker.send_step(by_token, self._encode)
        self.flush_postbacks()

    def _encode(self, token: int, tick: Tick, mode: str) -> bytes:
        row = self._by_token[token]
        return tick_packet(tick, token=token, mode=mode, index=is_index(row),
                           tick_paise=round(float(row["tick_size"]) * 100),
                           lot_size=int(row["lot_size"]), seed=self.seed)

    def bars_symbol_of_token(self, token: int) -> str:
        for symbol, rows in self._drives.items():
            if any(int(r["instrument_token"]) == token for r in rows):
                return symbol
        raise KiteApiError(400, "InputException", f"invalid token {token}: no bars drive it")

    # --- sessions and tokens ----------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        return self._token_valid and header == f"token {self.api_key}:{self.access_token}"

    def _ticker_authorized(self, api_key: str, access_token: str) -> bool:
        return (self._token_valid and api_key == self.api_key
                and access_token == self.access_token)

    def issue_request_token(self) -> str:
        """A one-use request token, as the login redirect hands it out."""
        token = f"fake_request_{self._rng.getrandbits(64):016x}"
        self._request_tokens.add(token)
        return token

    def issue_access_token(self) -> str:
        """A new valid access token (the old one stops working); returns it."""
        with self.lock:
            self.access_token = f"fake_access_{self._rng.getrandbits(64):016x}"
            self._token_valid = True
            return self.access_token

    def exchange_request_token(self, api_key: str, request_token: str,
                               checksum: str) -> dict[str, Any]:
        """``POST /session/token``: a new session for a valid request token and checksum."""
        expected = hashlib.sha256(
            (api_key + request_token + self.api_secret).encode()).hexdigest()
        if api_key != self.api_key or request_token not in self._request_tokens:
            raise KiteApiError(403, "TokenException", "Token is invalid or has expired.")
        if checksum != expected:
            raise KiteApiError(403, "TokenException", "Invalid `checksum`.")
        self._request_tokens.discard(request_token)
        access_token = self.issue_access_token()
        user = self.book.settings.user_id
        return {"user_id": user, "user_name": "Fake Kite", "user_shortname": "Fake",
                "email": "fake@example.invalid", "user_type": "individual",
                "broker": "ZERODHA", "exchanges": ["NSE", "NFO"],
                "products": ["CNC", "NRML", "MIS"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"], "api_key": self.api_key,
                "access_token": access_token, "public_token": f"pub_{access_token[-8:]}",
                "refresh_token": "", "enctoken": "",
                "login_time": datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S"),
                "avatar_url": None, "meta": {"demat_consent": "physical"}}

    def route(self, method: str, path: str, params: Params, body: Any) -> Any:
        return dispatch(self, method, path, params, body)

    def record(self, request: RequestRecord) -> None:
        with self._requests_lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every REST request answered so far, in order (e.g. count the place calls)."""
        with self._requests_lock:
            return list(self._requests)

    def placed(self, tag: str) -> int:
        """How many place-order calls carried ``tag`` and were applied (a duplicate send
        shows as 2)."""
        return sum(1 for r in self.requests if r.method == "POST" and r.applied
                   and r.path == "/orders/regular" and r.params.get("tag") == tag)

    # --- socket faults ----------------------------------------------------------------------

    def _expire(self, drop_connections: bool) -> None:
        self._token_valid = False
        if drop_connections:
            self.ticker.drop_all()

    def _disconnect(self) -> int:
        return self.ticker.drop_all()

    def _half_open(self) -> int:
        return self.ticker.half_open_all()


def drive_map(instruments: Sequence[Mapping[str, Any]], symbols: Sequence[str],
            symbol_map: Mapping[str, str]) -> dict[str, list[Mapping[str, Any]]]:
    """Bars symbol -> the instrument rows its prices drive: rows whose tradingsymbol or name
    is the symbol, plus ``symbol_map`` (tradingsymbol -> bars symbol) entries."""
    drives: dict[str, list[Mapping[str, Any]]] = {}
    for row in instruments:
        mapped = symbol_map.get(str(row["tradingsymbol"]))
        for symbol in symbols:
            if mapped == symbol or (mapped is None and symbol in (row["tradingsymbol"],
                                                                  row["name"])):
                drives.setdefault(symbol, []).append(row)
    return drives
