"""Instrument rows in Kite's instruments-dump format: a default builder, the CSV dump, lookup.

A row is a dict with :data:`COLUMNS`. ``instrument_token`` is ``exchange_token << 8 |
segment`` as on Kite, so the ticker's parser finds the segment (NFO = 2, indices = 9) in the
low byte. :func:`default_instruments` maps each bars symbol to one front-month future
(``NIFTY`` -> ``NIFTY25MARFUT``, expiring on the month's last Thursday) so the fake stands
alone; any rows in the same format (a real instrument master) are accepted instead.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

COLUMNS = ("instrument_token", "exchange_token", "tradingsymbol", "name", "last_price",
           "expiry", "strike", "tick_size", "lot_size", "instrument_type", "segment",
           "exchange")
SEGMENT_CODES = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "BCD": 6, "MCX": 7,
                 "INDICES": 9}
DEFAULT_LOT_SIZES = {"NIFTY": 75, "BANKNIFTY": 30, "FINNIFTY": 65, "MIDCPNIFTY": 120}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FIRST_EXCHANGE_TOKEN = 51_000


class FakeInstrumentError(ValueError):
    """An instrument row the fake cannot use (missing column, bad token)."""


def last_thursday(year: int, month: int) -> date:
    """The last Thursday of a month (the classic NSE monthly expiry)."""
    nxt = date(year + month // 12, month % 12 + 1, 1)
    day = nxt - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 3) % 7)


def front_month_future(name: str, on: date, *, exchange_token: int, last_price: float = 0.0,
                       lot_size: int | None = None, tick_size: float = 0.05) -> dict[str, Any]:
    """The NFO-FUT row of ``name``'s contract expiring on the first monthly expiry >= ``on``."""
    expiry = last_thursday(on.year, on.month)
    if expiry < on:
        year, month = (on.year + 1, 1) if on.month == 12 else (on.year, on.month + 1)
        expiry = last_thursday(year, month)
    return {
        "instrument_token": exchange_token << 8 | SEGMENT_CODES["NFO"],
        "exchange_token": exchange_token,
        "tradingsymbol": f"{name}{expiry:%y}{_MONTHS[expiry.month - 1]}FUT",
        "name": name, "last_price": last_price, "expiry": expiry, "strike": 0.0,
        "tick_size": tick_size, "lot_size": lot_size or DEFAULT_LOT_SIZES.get(name, 1),
        "instrument_type": "FUT", "segment": "NFO-FUT", "exchange": "NFO",
    }


def default_instruments(symbols: Iterable[str], on: date) -> list[dict[str, Any]]:
    """One front-month future per bars symbol, tokens numbered from a fixed base."""
    return [front_month_future(name, on, exchange_token=_FIRST_EXCHANGE_TOKEN + i)
            for i, name in enumerate(sorted(set(symbols)))]


def check_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``rows`` after checking every column is there and tokens are unique."""
    out = []
    seen: set[int] = set()
    for i, row in enumerate(rows):
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise FakeInstrumentError(f"instruments row {i}: missing column(s) {missing}")
        token = row["instrument_token"]
        if not isinstance(token, int) or token <= 0 or token in seen:
            raise FakeInstrumentError(f"instruments row {i}: instrument_token {token!r} is not a "
                                      "unique positive int")
        if not float(row["tick_size"]) > 0 or not int(row["lot_size"]) > 0:
            raise FakeInstrumentError(f"instruments row {i} ({row['tradingsymbol']!r}): "
                                      "tick_size and lot_size must be positive")
        seen.add(token)
        out.append(dict(row))
    return out


def is_index(row: Mapping[str, Any]) -> bool:
    """True for an index row (not tradable; the ticker sends index packets)."""
    return int(row["instrument_token"]) & 0xFF == SEGMENT_CODES["INDICES"]


def dump_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The instruments dump as Kite serves it (CSV with a header, expiry ``YYYY-MM-DD``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        expiry = row["expiry"]
        writer.writerow([row["instrument_token"], row["exchange_token"], row["tradingsymbol"],
                         row["name"], row["last_price"],
                         expiry.isoformat() if isinstance(expiry, date) else (expiry or ""),
                         row["strike"], row["tick_size"], row["lot_size"],
                         row["instrument_type"], row["segment"], row["exchange"]])
    return buffer.getvalue().encode()
