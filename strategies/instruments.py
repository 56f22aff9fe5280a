"""The instrument master in Kite Connect's instruments-dump CSV format, parsed and validated.

Kite publishes every tradable instrument once a day as a CSV with the columns of
:data:`KITE_COLUMNS` (``GET /instruments``). Research and live read the same file: the
futures contracts (``instrument_type`` FUT) with their expiry, lot size and tick size, and the
index rows (segment ``INDICES``). Parsing is pure (text in, values out; no I/O) and strict:
a bad row is refused with its line number, field and value, never skipped.

Index rows carry ``lot_size`` 0 and ``tick_size`` 0 in Kite's own dump (an index is not
tradable), so zero is accepted there; every other row needs both positive.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from strategies.errors import BadInputError

#: Kite's instruments dump, in its column order.
KITE_COLUMNS = (
    "instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry",
    "strike", "tick_size", "lot_size", "instrument_type", "segment", "exchange",
)
INSTRUMENT_TYPES = ("EQ", "FUT", "CE", "PE")
DERIVATIVE_TYPES = ("FUT", "CE", "PE")
INDEX_SEGMENT = "INDICES"


class InstrumentMasterError(BadInputError, ValueError):
    """An instruments file that is not a valid Kite dump (names line, field and value)."""


class UnknownInstrumentError(BadInputError, KeyError):
    """An instrument (tradingsymbol or token) that is not in the master."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, kw_only=True, slots=True)
class Contract:
    """One instrument of the master. ``name`` is the underlying (``NIFTY``) for derivatives;
    ``expiry`` is None only for non-derivatives (indices, equities)."""

    tradingsymbol: str
    instrument_token: int
    exchange_token: int
    name: str
    expiry: date | None
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str
    last_price: float = 0.0

    @property
    def underlying(self) -> str:
        return self.name

    @property
    def is_future(self) -> bool:
        return self.instrument_type == "FUT"

    def expired_on(self, day: date) -> bool:
        """True once ``day`` is after the expiry day (a contract trades on its expiry day)."""
        return self.expiry is not None and day > self.expiry

    def to_row(self) -> dict[str, str]:
        """The contract as one row of Kite's dump (strings, Kite's formatting)."""
        return {
            "instrument_token": str(self.instrument_token),
            "exchange_token": str(self.exchange_token),
            "tradingsymbol": self.tradingsymbol, "name": self.name,
            "last_price": _fmt(self.last_price),
            "expiry": "" if self.expiry is None else self.expiry.isoformat(),
            "strike": _fmt(self.strike), "tick_size": _fmt(self.tick_size),
            "lot_size": str(self.lot_size), "instrument_type": self.instrument_type,
            "segment": self.segment, "exchange": self.exchange,
        }


def _fmt(value: float) -> str:
    return repr(float(value))


class InstrumentMaster:
    """The parsed master: contracts by tradingsymbol and by instrument token."""

    __slots__ = ("_by_symbol", "contracts", "source")

    def __init__(self, contracts: Iterable[Contract], *, source: str = "instrument master"
                 ) -> None:
        self.contracts = tuple(contracts)
        self.source = source
        self._by_symbol = {(c.exchange, c.tradingsymbol): c for c in self.contracts}

    def __len__(self) -> int:
        return len(self.contracts)

    def __iter__(self) -> Iterator[Contract]:
        return iter(self.contracts)

    def by_symbol(self, tradingsymbol: str, exchange: str = "NFO") -> Contract:
        """The contract ``exchange:tradingsymbol``; :class:`UnknownInstrumentError` if absent."""
        try:
            return self._by_symbol[(exchange, tradingsymbol)]
        except KeyError:
            raise UnknownInstrumentError(
                f"{exchange}:{tradingsymbol} is not in {self.source} "
                f"({len(self.contracts)} instruments)") from None

    def futures(self, underlying: str) -> tuple[Contract, ...]:
        """Every FUT contract on ``underlying``, nearest expiry first."""
        found = [c for c in self.contracts if c.is_future and c.name == underlying]
        return tuple(sorted(found, key=lambda c: (c.expiry or date.max, c.tradingsymbol)))

    def underlyings(self) -> tuple[str, ...]:
        """The underlyings that have futures in the master, sorted."""
        return tuple(sorted({c.name for c in self.contracts if c.is_future}))

    def to_csv(self) -> str:
        """The master as Kite's dump text (header plus one line per contract, in order)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=KITE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(c.to_row() for c in self.contracts)
        return out.getvalue()


# --- parsing ------------------------------------------------------------------------------

def _bad(source: str, line: int, field: str, value: str, why: str) -> InstrumentMasterError:
    return InstrumentMasterError(f"{source}: line {line}: {field}={value!r}: {why}")


def _int(source: str, line: int, row: dict[str, str], field: str) -> int:
    value = row[field]
    try:
        return int(value)
    except ValueError:
        raise _bad(source, line, field, value, "not an integer") from None


def _float(source: str, line: int, row: dict[str, str], field: str) -> float:
    value = row[field]
    try:
        number = float(value)
    except ValueError:
        raise _bad(source, line, field, value, "not a number") from None
    if not math.isfinite(number) or number < 0:
        raise _bad(source, line, field, value, "must be a finite number >= 0")
    return number


def _expiry(source: str, line: int, row: dict[str, str]) -> date | None:
    value = row["expiry"]
    if value == "":
        if row["instrument_type"] in DERIVATIVE_TYPES:
            raise _bad(source, line, "expiry", value,
                       f"a {row['instrument_type']} row needs an expiry (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(source, line, "expiry", value, "not a date YYYY-MM-DD") from None


def _contract(source: str, line: int, row: dict[str, str]) -> Contract:
    for field in ("tradingsymbol", "segment", "exchange"):
        if row[field].strip() == "" or row[field] != row[field].strip():
            raise _bad(source, line, field, row[field], "must be non-empty, without spaces "
                       "around it")
    kind = row["instrument_type"]
    if kind not in INSTRUMENT_TYPES:
        raise _bad(source, line, "instrument_type", kind, f"not one of {INSTRUMENT_TYPES}")
    if kind in DERIVATIVE_TYPES and row["name"].strip() == "":
        raise _bad(source, line, "name", row["name"], f"a {kind} row needs its underlying")
    token = _int(source, line, row, "instrument_token")
    if token <= 0:
        raise _bad(source, line, "instrument_token", row["instrument_token"], "must be > 0")
    lot, tick = _int(source, line, row, "lot_size"), _float(source, line, row, "tick_size")
    tradable = row["segment"] != INDEX_SEGMENT
    if lot < 0 or (tradable and lot == 0):
        raise _bad(source, line, "lot_size", row["lot_size"], "must be > 0 (0 only for "
                   "an index row)" if tradable else "must be >= 0")
    if tradable and tick == 0:
        raise _bad(source, line, "tick_size", row["tick_size"], "must be > 0")
    return Contract(
        tradingsymbol=row["tradingsymbol"], instrument_token=token,
        exchange_token=_int(source, line, row, "exchange_token"), name=row["name"],
        expiry=_expiry(source, line, row), strike=_float(source, line, row, "strike"),
        tick_size=tick, lot_size=lot, instrument_type=kind, segment=row["segment"],
        exchange=row["exchange"], last_price=_float(source, line, row, "last_price"),
    )


def _header(source: str, reader: csv.DictReader[str]) -> None:
    header = tuple(reader.fieldnames or ())
    missing = [c for c in KITE_COLUMNS if c not in header]
    extra = [c for c in header if c not in KITE_COLUMNS]
    if missing or extra or len(set(header)) != len(header):
        raise InstrumentMasterError(
            f"{source}: line 1: header {list(header)} is not Kite's instruments dump; "
            f"missing {missing}, unexpected {extra}; expected {list(KITE_COLUMNS)}")


def parse_master(text: str, *, source: str = "instrument master") -> InstrumentMaster:
    """Parse and validate a Kite instruments dump (``text``: the whole CSV).

    Raises
    ------
    InstrumentMasterError
        A wrong header, a row with a missing or extra field, a value of the wrong type, a
        non-positive lot or tick size, a derivative without expiry or underlying, a duplicate
        ``instrument_token`` or ``exchange:tradingsymbol`` (message: source, line, field,
        value), or no rows at all.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    try:
        return _parse_rows(source, reader)
    except csv.Error as exc:
        raise InstrumentMasterError(f"{source}: line {reader.line_num}: not CSV ({exc})"
                                    ) from exc


def _parse_rows(source: str, reader: csv.DictReader[str]) -> InstrumentMaster:
    _header(source, reader)
    contracts: list[Contract] = []
    tokens: dict[int, int] = {}
    symbols: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if "\x00extra" in row or any(v is None for v in row.values()):
            raise InstrumentMasterError(
                f"{source}: line {line}: expected {len(KITE_COLUMNS)} fields")
        contract = _contract(source, line, row)
        key = (contract.exchange, contract.tradingsymbol)
        if contract.instrument_token in tokens:
            raise _bad(source, line, "instrument_token", str(contract.instrument_token),
                       f"duplicate of line {tokens[contract.instrument_token]}")
        if key in symbols:
            raise _bad(source, line, "tradingsymbol", contract.tradingsymbol,
                       f"duplicate {contract.exchange} symbol of line {symbols[key]}")
        tokens[contract.instrument_token], symbols[key] = line, line
        contracts.append(contract)
    if not contracts:
        raise InstrumentMasterError(f"{source}: no instrument rows")
    return InstrumentMaster(contracts, source=source)
