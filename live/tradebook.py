"""End-of-day sign-off against the broker's trade book: every execution the broker booked for
the day (its trade book / tradebook CSV, whose totals the contract note carries) against the
fills our journal holds, by the broker's trade id.

A break is a trade the broker booked that the journal lacks (a manual or console order, a
lost fill), a journal fill the broker does not have, or a trade whose side, quantity or price
differ. The sign-off is clean only with no break; the totals (trades, bought and sold units
and value) are what to tick against the contract note.

The trade book is Kite Console's CSV export (``trade_id``, ``trade_type`` buy/sell,
``quantity``, ``price``, ``trade_date``, ``symbol``; extra columns are ignored).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from live.events import OrderFilled
from live.order_flow import exchange_day
from strategies.errors import BadInputError

PRICE_TOLERANCE = 1e-6
REQUIRED_COLUMNS = ("trade_id", "trade_type", "quantity", "price", "trade_date", "symbol")


class TradebookError(BadInputError, ValueError):
    """A trade book file that cannot be read as one (the message names row and field)."""


@dataclass(frozen=True, slots=True)
class BookTrade:
    trade_id: str
    symbol: str
    side: str  # BUY | SELL
    qty: int
    price: float
    day: date


@dataclass
class SignOff:
    day: date
    breaks: list[str] = field(default_factory=list)
    trades: int = 0
    bought_units: int = 0
    sold_units: int = 0
    bought_value: float = 0.0
    sold_value: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.breaks


def _row(path: Path, n: int, row: dict[str, str]) -> BookTrade:
    try:
        side = row["trade_type"].strip().upper()
        if side not in ("BUY", "SELL"):
            raise ValueError(f"trade_type {row['trade_type']!r} is not buy or sell")
        qty, price = int(float(row["quantity"])), float(row["price"])
        if qty <= 0 or not math.isfinite(price) or price <= 0:
            raise ValueError(f"quantity {row['quantity']!r} / price {row['price']!r} "
                             "must be positive")
        day = date.fromisoformat(row["trade_date"].strip()[:10])
    except (KeyError, ValueError) as exc:
        raise TradebookError(f"{path}: row {n}: {exc}") from exc
    return BookTrade(row["trade_id"].strip(), row["symbol"].strip(), side, qty, price, day)


def read_tradebook(path: Path) -> list[BookTrade]:
    """The trades of a trade book CSV.

    Raises
    ------
    TradebookError
        Unreadable, a required column missing, or a row with a bad value.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise TradebookError(f"{path}: columns {missing} missing (has "
                                     f"{reader.fieldnames})")
            return [_row(path, n, row) for n, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise TradebookError(f"{path}: cannot read ({exc})") from exc


def sign_off(day: date, journal_fills: Iterable[OrderFilled], book: Iterable[BookTrade]
             ) -> SignOff:
    """The journal's fills of ``day`` (NSE day) against the broker's trades of ``day``."""
    ours = {f.trade_id: f for f in journal_fills if exchange_day(f.ts_event) == day}
    theirs = {t.trade_id: t for t in book if t.day == day}
    result = SignOff(day)
    for trade_id in sorted(set(theirs) - set(ours)):
        t = theirs[trade_id]
        result.breaks.append(f"trade {trade_id} ({t.side} {t.qty} {t.symbol} @ {t.price:g}) "
                             "is in the broker's trade book but not in the journal")
    for trade_id in sorted(set(ours) - set(theirs)):
        f = ours[trade_id]
        result.breaks.append(f"journal fill {trade_id} ({f.side} {f.qty} {f.symbol} @ "
                             f"{f.price:g}) is not in the broker's trade book")
    for trade_id in sorted(set(ours) & set(theirs)):
        f, t = ours[trade_id], theirs[trade_id]
        if str(f.side) != t.side or f.qty != t.qty or abs(f.price - t.price) > PRICE_TOLERANCE:
            result.breaks.append(f"trade {trade_id}: journal {f.side} {f.qty} @ {f.price:g} "
                                 f"!= broker {t.side} {t.qty} @ {t.price:g}")
    for t in theirs.values():
        result.trades += 1
        if t.side == "BUY":
            result.bought_units += t.qty
            result.bought_value += t.qty * t.price
        else:
            result.sold_units += t.qty
            result.sold_value += t.qty * t.price
    return result
