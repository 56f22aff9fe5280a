"""The fake Kite's REST routes: Kite Connect v3 paths mapped to the fake's handlers.

Paths follow ``kiteconnect.KiteConnect._routes``. Order routes accept only the ``regular``
variety. Historical candles are the bars that finished by the fake's clock, ``from`` and
``to`` inclusive (``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD``, exchange time), at most 60 days
per request as on Kite.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from tests.fake_kite.fields import KiteApiError, input_error
from tests.fake_kite.instruments import dump_csv
from tests.fake_kite.margins import order_margins, user_margins
from tests.fake_kite.market import IST
from tests.fake_kite.quotes import quote
from tests.fake_kite.rest import Csv, Params

if TYPE_CHECKING:
    from tests.fake_kite.fake import FakeKite

MINUTE_HISTORY_MAX_DAYS = 60  # Kite's limit on one minute-candle request
Handler = Callable[["FakeKite", Params, Any, re.Match[str]], Any]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^{pattern}$"), fn))
        return fn
    return register


def dispatch(fake: FakeKite, method: str, path: str, params: Params, body: Any) -> Any:
    """The data of the answer to ``method path``; a Kite error raises :class:`KiteApiError`."""
    for route_method, pattern, fn in _ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return fn(fake, params, body, match)
    raise KiteApiError(404, "GeneralException", f"Route not found: {method} {path}")


@_route("POST", "/session/token")
def _session(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    return fake.exchange_request_token(str(params.get("api_key", "")),
                                       str(params.get("request_token", "")),
                                       str(params.get("checksum", "")))


@_route("DELETE", "/session/token")
def _logout(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    fake.faults.expire_token(drop_connections=True)
    return True


@_route("GET", "/user/profile")
def _profile(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    user = fake.book.settings.user_id
    return {"user_id": user, "user_type": "individual", "email": "fake@example.invalid",
            "user_name": "Fake Kite", "user_shortname": "Fake", "broker": "ZERODHA",
            "exchanges": ["NSE", "NFO", "BSE"], "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"], "avatar_url": None,
            "meta": {"demat_consent": "physical"}}


@_route("GET", "/user/margins")
def _margins(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return user_margins(fake.book, fake.margin_settings)


@_route("GET", r"/user/margins/(equity|commodity)")
def _margins_segment(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return user_margins(fake.book, fake.margin_settings)[m.group(1)]


@_route("POST", "/margins/orders")
def _order_margins(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return order_margins(fake.book, fake.margin_settings, body)


@_route("GET", "/orders")
def _orders(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return fake.book.order_list()


@_route("GET", r"/orders/(\w+)")
def _order_history(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return fake.book.order_history(m.group(1))


@_route("GET", r"/orders/(\w+)/trades")
def _order_trades(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return fake.book.order_trades(m.group(1))


@_route("POST", r"/orders/(\w+)")
def _place(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    _regular(m.group(1))
    with fake.lock:
        order_id = fake.book.place(params, fake.market.clock, fake.faults.take_rms())
        fake.flush_postbacks()
    return {"order_id": order_id}


@_route("PUT", r"/orders/(\w+)/(\w+)")
def _modify(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    _regular(m.group(1))
    with fake.lock:
        order_id = fake.book.modify(m.group(2), params, fake.market.clock)
        fake.flush_postbacks()
    return {"order_id": order_id}


@_route("DELETE", r"/orders/(\w+)/(\w+)")
def _cancel(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    _regular(m.group(1))
    with fake.lock:
        order_id = fake.book.cancel(m.group(2), fake.market.clock)
        fake.flush_postbacks()
    return {"order_id": order_id}


@_route("GET", "/trades")
def _trades(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return [dict(t) for t in fake.book.trades]


@_route("GET", "/portfolio/positions")
def _positions(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return fake.book.position_rows()


@_route("GET", "/instruments")
def _instruments(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    return Csv(dump_csv(fake.instruments))


@_route("GET", r"/instruments/([A-Z]+)")
def _instruments_exchange(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    return Csv(dump_csv(r for r in fake.instruments if r["exchange"] == m.group(1)))


@_route("GET", r"/instruments/historical/(\d+)/(\w+)")
def _historical(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    if m.group(2) != "minute":
        raise input_error(f"invalid interval {m.group(2)!r}: the fake serves 'minute' only")
    token = int(m.group(1))
    symbol = fake.bars_symbol_of_token(token)
    start = _parse_when(params.get("from"), "from", end_of_day=False)
    end = _parse_when(params.get("to"), "to", end_of_day=True)
    if end - start > timedelta(days=MINUTE_HISTORY_MAX_DAYS):
        raise input_error(f"interval exceeds max limit: {MINUTE_HISTORY_MAX_DAYS} days "
                          f"(from {start:%Y-%m-%d} to {end:%Y-%m-%d})")
    with fake.lock:
        return {"candles": fake.market.candles(symbol, start, end)}


@_route("GET", "/quote/ltp")
def _ltp(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return {name: {"instrument_token": row["instrument_token"], "last_price": tick.price_paise
                       / 100.0} for name, row, tick in _quoted(fake, params)}


@_route("GET", "/quote")
def _quote(fake: FakeKite, params: Params, body: Any, m: re.Match[str]) -> Any:
    with fake.lock:
        return {name: quote(row, tick, fake.book.settings.rules, seed=fake.seed)
                for name, row, tick in _quoted(fake, params)}


def _quoted(fake: FakeKite, params: Params) -> list[tuple[str, Any, Any]]:
    """(``EXCHANGE:SYMBOL``, instrument row, latest tick) of each ``i`` that has a tick."""
    names = params.get("i", [])
    out = []
    for name in [names] if isinstance(names, str) else names:
        exchange, _, symbol = str(name).partition(":")
        row = fake.book.instrument(symbol)
        if row["exchange"] != exchange:
            raise input_error(f"Invalid instrument {name!r}: {symbol} trades on "
                              f"{row['exchange']}")
        tick = fake.last_ticks.get(symbol)
        if tick is not None:
            out.append((str(name), row, tick))
    return out


def _regular(variety: str) -> None:
    if variety != "regular":
        raise input_error(f"Invalid `variety` {variety!r}: the fake takes 'regular' only")


def _parse_when(value: object, name: str, *, end_of_day: bool) -> datetime:
    text = str(value or "")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and end_of_day:
            parsed = datetime.combine(parsed.date(), time(23, 59, 59))
        return parsed.replace(tzinfo=IST)
    raise input_error(f"invalid `{name}` {value!r}: expected YYYY-MM-DD[ HH:MM:SS]")
