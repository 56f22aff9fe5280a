"""Turn a raw export (Kite, NSE, generic vendor columns) into the normalised bar schema.

Column names are matched case- and punctuation-insensitively against known aliases;
numbers are parsed strictly (text in a numeric column is refused with its lines); the
result keeps a ``line`` column so validation can point at the offending source rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.datasets.schema import (
    KIND_CLOSE_ONLY,
    KIND_DAILY,
    KIND_INTRADAY,
    PRICE_COLUMNS,
)
from pipelines.datasets.source_file import RawTable
from pipelines.datasets.timeframes import parse_timeframe
from pipelines.datasets.timestamps import DateOrder, parse_timestamps
from strategies.errors import BadInputError
from strategies.names import validate_symbol
from strategies.venues import get_venue

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "datetime", "date_time", "time_stamp", "open_time", "date",
           "unnamed_0", ""),
    "time": ("time",),
    "open": ("open", "o", "open_price", "openprice"),
    "high": ("high", "h", "high_price", "highprice"),
    "low": ("low", "l", "low_price", "lowprice"),
    "close": ("close", "c", "close_price", "closeprice", "last", "last_price", "ltp", "price"),
    "volume": ("volume", "vol", "v", "shares_traded", "tottrdqty", "total_traded_quantity",
               "qty", "quantity"),
    "symbol": ("symbol", "ticker", "tradingsymbol", "instrument", "index_name"),
}
_NULL_TOKENS = {"", "-", "na", "n/a", "nan", "null", "none"}


class NormaliseError(BadInputError, ValueError):
    """Source columns or values that cannot be mapped onto the bar schema."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NormaliseOptions:
    """How to read one source: who it is (symbol), its clock (timeframe, venue, zone)."""

    symbol: str
    timeframe: str
    venue: str
    tz: str | None = None
    date_order: DateOrder = "auto"

    def __post_init__(self) -> None:
        validate_symbol(self.symbol, field="--symbol")


@dataclass(slots=True)
class NormalisedBars:
    """Bars in the normalised schema plus a ``line`` column, and what was noticed on the way."""

    frame: pd.DataFrame
    kind: str
    has_volume: bool
    notes: list[str] = field(default_factory=list)


def canonical_name(header: str) -> str:
    """``'Shares Traded (Lakhs)'`` -> ``'shares_traded'``: lower case, no units, underscores."""
    name = re.sub(r"\(.*?\)", "", str(header)).strip().lower()
    name = re.sub(r"[^0-9a-z]+", "_", name).strip("_")
    return name


def map_columns(headers: list[str]) -> dict[str, str]:
    """Map schema fields to source headers; the first alias that matches wins."""
    by_canon = {canonical_name(h): h for h in headers}
    mapping: dict[str, str] = {}
    for target, aliases in ALIASES.items():
        for alias in aliases:
            if alias in by_canon and by_canon[alias] not in mapping.values():
                mapping[target] = by_canon[alias]
                break
    return mapping


def parse_numeric(values: pd.Series, lines: pd.Series, column: str) -> pd.Series:
    """Strictly parse a numeric column: null tokens become NaN; text and infinities are refused."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        values = values.astype("float64")
        if np.isinf(values).any():
            bad_rows = np.flatnonzero(np.isinf(values.to_numpy()))[:5]
            raise NormaliseError(f"column {column!r}: infinite values at lines "
                                 f"{[int(lines.iloc[i]) for i in bad_rows]}")
        return values
    text = values.astype("string").str.strip()
    # 23,456.50 or 1,23,456.50 (lakh grouping); a decimal comma such as 100,50 stays text
    grouped = text.str.fullmatch(r"[+-]?\d{1,3}(?:,\d{2,3})*,\d{3}(?:\.\d*)?").fillna(False)
    text = text.mask(grouped.astype(bool), text.str.replace(",", "", regex=False))
    is_null = text.isna() | text.str.lower().isin(_NULL_TOKENS)
    number = pd.to_numeric(text.mask(is_null), errors="coerce").astype("float64")
    bad = ((number.isna() | np.isinf(number)) & ~is_null).to_numpy()
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        shown = ", ".join(f"line {lines.iloc[i]}: {text.iloc[i]!r}" for i in idx)
        raise NormaliseError(
            f"column {column!r}: {int(bad.sum())} value(s) are text, not numbers ({shown})"
        )
    return number


def _kind_for(mapping: dict[str, str], timeframe: str, path: str) -> str:
    daily = parse_timeframe(timeframe) >= pd.Timedelta(days=1)
    missing_ohl = [c for c in ("open", "high", "low") if c not in mapping]
    if "close" not in mapping:
        raise NormaliseError(f"{path}: no close/price column among the headers")
    if not missing_ohl:
        return KIND_DAILY if daily else KIND_INTRADAY
    if len(missing_ohl) == 3 and daily:
        return KIND_CLOSE_ONLY
    raise NormaliseError(
        f"{path}: missing column(s) {missing_ohl}; intraday bars need open, high, low and close"
    )


def _timestamp_text(raw: RawTable, mapping: dict[str, str]) -> pd.Series:
    if "ts" not in mapping:
        raise NormaliseError(
            f"{raw.path}: no timestamp column; expected one of "
            f"{[a for a in ALIASES['ts'] if a]} (have {list(raw.frame.columns)})"
        )
    ts = raw.frame[mapping["ts"]]
    if "time" in mapping:  # NSE-style separate Date and Time columns
        ts = ts.astype("string").str.strip() + " " + raw.frame[mapping["time"]].astype("string")
    return ts


def _check_symbol(raw: RawTable, mapping: dict[str, str], symbol: str) -> None:
    if "symbol" not in mapping:
        return
    found = set(raw.frame[mapping["symbol"]].astype(str).str.strip().unique())
    if found != {symbol}:
        raise NormaliseError(
            f"{raw.path}: column {mapping['symbol']!r} holds {sorted(found)[:5]} but "
            f"--symbol is {symbol!r}; import one symbol per file"
        )


def normalise(raw: RawTable, options: NormaliseOptions) -> NormalisedBars:
    """Map, parse and order ``raw`` into the bar schema for ``options.symbol``."""
    venue = get_venue(options.venue)
    mapping = map_columns([str(c) for c in raw.frame.columns])
    kind = _kind_for(mapping, options.timeframe, str(raw.path))
    _check_symbol(raw, mapping, options.symbol)
    ts = parse_timestamps(
        _timestamp_text(raw, mapping), raw.lines,
        source_tz=options.tz or venue.tz, venue_tz=venue.tz,
        date_order=options.date_order, tz_explicit=options.tz is not None,
    )
    close = parse_numeric(raw.frame[mapping["close"]], raw.lines, mapping["close"])
    prices = {
        c: close if kind == KIND_CLOSE_ONLY else
        parse_numeric(raw.frame[mapping[c]], raw.lines, mapping[c])
        for c in PRICE_COLUMNS
    }
    has_volume = "volume" in mapping
    volume = (parse_numeric(raw.frame[mapping["volume"]], raw.lines, mapping["volume"])
              if has_volume else pd.Series(np.nan, index=raw.frame.index))
    frame = pd.DataFrame({
        "ts": ts.reset_index(drop=True), "symbol": options.symbol,
        **{c: prices[c].reset_index(drop=True) for c in prices},
        "volume": volume.reset_index(drop=True), "line": raw.lines.reset_index(drop=True),
    })
    notes = [f"columns: {mapping}"]
    unused = [c for c in raw.frame.columns if c not in mapping.values()]
    if unused:
        notes.append(f"ignored columns: {unused}")
    step = frame["ts"].diff().dropna()
    if len(step) and (step < pd.Timedelta(0)).all():
        frame = frame.iloc[::-1].reset_index(drop=True)
        notes.append("rows were newest-first; reversed to oldest-first")
    return NormalisedBars(frame=frame, kind=kind, has_volume=has_volume, notes=notes)
