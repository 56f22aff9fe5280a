"""Parse the timestamp column of a broker/exchange export into tz-aware venue time.

Handles ISO 8601 (with or without offsets), day-first and month-first dates (numeric or
with month names, as NSE exports them), compact ``YYYYMMDD`` and epoch seconds /
milliseconds / microseconds / nanoseconds. Never guesses: an ambiguous day/month order
or a file mixing offsets is refused with the lines that show it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from strategies.errors import BadInputError

DateOrder = Literal["auto", "dmy", "mdy"]

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_OFFSET_GROUP = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_NUMERIC = re.compile(r"^\d+(\.\d+)?$")
_DMY_NUM = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?:[ T](.*))?$")
_TEXT_MONTH = re.compile(r"[A-Za-z]{3}")
_TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", " %I:%M %p", " %I:%M:%S %p")


class TimestampParseError(BadInputError, ValueError):
    """A timestamp column that cannot be parsed without guessing."""


def _examples(values: pd.Series, lines: pd.Series, mask: np.ndarray, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)[:limit]
    shown = ", ".join(f"line {lines.iloc[i]}: {values.iloc[i]!r}" for i in idx)
    more = f" (and {int(mask.sum()) - len(idx)} more)" if mask.sum() > len(idx) else ""
    return shown + more


def parse_timestamps(
    values: pd.Series,
    lines: pd.Series,
    *,
    source_tz: str,
    venue_tz: str,
    date_order: DateOrder = "auto",
    tz_explicit: bool = False,
) -> pd.Series:
    """Parse ``values`` (strings, numbers or datetimes) into a tz-aware series in ``venue_tz``.

    ``source_tz`` is the zone of naive timestamps; ``lines`` gives each value's source line
    for error messages. With ``tz_explicit`` the offsets carried by the values must agree
    with ``source_tz``; otherwise they must at least agree with each other or with it.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(venue_tz).dt.as_unit("ns")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return _localise(values, lines, source_tz).dt.tz_convert(venue_tz)
    if pd.api.types.is_numeric_dtype(values.dtype):
        values = values.astype("string")
    text = values.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy()
    if empty.any():
        raise TimestampParseError(f"empty timestamp at {_examples(text, lines, empty)}")
    if text.str.fullmatch(_NUMERIC).all():
        compact = _parse_compact_date(text)
        if compact is not None:  # YYYYMMDD is a local session date, not an instant in UTC
            return _localise(compact, lines, source_tz).dt.tz_convert(venue_tz)
        return _parse_numeric(text, lines).dt.tz_convert(venue_tz)
    if text.str.match(_ISO).all():
        return _parse_iso(text, lines, source_tz, tz_explicit).dt.tz_convert(venue_tz)
    parsed = _parse_day_month(text, lines, date_order)
    return _localise(parsed, lines, source_tz).dt.tz_convert(venue_tz)


def _parse_compact_date(text: pd.Series) -> pd.Series | None:
    if text.str.fullmatch(r"\d{8}").all():
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        if parsed.notna().all():
            return parsed
    return None


def _parse_numeric(text: pd.Series, lines: pd.Series) -> pd.Series:
    number = pd.to_numeric(text)  # int64 when the digits fit, so epoch ns stay exact
    magnitude = number.abs().max()
    unit = next(u for limit, u in ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (np.inf, "ns"))
                if magnitude < limit)
    if number.min() < 1e8 and unit == "s":
        bad = (number < 1e8).to_numpy()
        raise TimestampParseError(
            f"numeric timestamps look like epoch seconds but some are before 1973 "
            f"({_examples(text, lines, bad)}); is this column really a timestamp?"
        )
    try:
        return pd.to_datetime(number, unit=unit, utc=True).dt.as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        everything = np.ones(len(text), bool)
        raise TimestampParseError(
            f"numeric timestamps out of range as epoch {unit} "
            f"({_examples(text, lines, everything)})"
        ) from exc


def _parse_iso(text: pd.Series, lines: pd.Series, source_tz: str, tz_explicit: bool) -> pd.Series:
    has_offset = text.str.contains(_OFFSET).to_numpy()
    if has_offset.any() and not has_offset.all():
        raise TimestampParseError(
            "mixed timezones: some timestamps carry a UTC offset and some do not "
            f"(with offset: {_examples(text, lines, has_offset, 2)}; "
            f"without: {_examples(text, lines, ~has_offset, 2)})"
        )
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=has_offset.all())
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise TimestampParseError(
            f"unparseable ISO 8601 timestamp at {_examples(text, lines, bad)}")
    if not has_offset.any():
        return _localise(parsed, lines, source_tz)
    _check_offsets(text, lines, parsed, source_tz, tz_explicit)
    return parsed.dt.as_unit("ns")


def _check_offsets(
    text: pd.Series, lines: pd.Series, parsed_utc: pd.Series, source_tz: str, tz_explicit: bool
) -> None:
    """Refuse offsets that disagree with each other and with the declared zone."""
    offsets = text.str.extract(_OFFSET_GROUP, expand=False).str.replace(":", "")
    offsets = offsets.replace("Z", "+0000")
    expected = parsed_utc.dt.tz_convert(source_tz).map(lambda t: t.strftime("%z"))
    mismatch = (offsets != expected).to_numpy()
    if not mismatch.any():
        return
    if not tz_explicit and offsets.nunique() == 1:
        return
    raise TimestampParseError(
        f"mixed timezones: UTC offsets disagree with {source_tz} and with each other at "
        f"{_examples(text, lines, mismatch)}; convert the file to one zone or pass --tz"
    )


def _day_month_order(text: pd.Series, lines: pd.Series, date_order: DateOrder) -> str:
    parts = text.str.extract(_DMY_NUM)
    if parts[0].isna().any():
        bad = parts[0].isna().to_numpy()
        raise TimestampParseError(f"unrecognised date format at {_examples(text, lines, bad)}")
    first, second = parts[0].astype(int), parts[1].astype(int)
    day_first = (first > 12).to_numpy()
    month_first = (second > 12).to_numpy()
    if day_first.any() and month_first.any():
        raise TimestampParseError(
            "dates mix day-first and month-first: "
            f"day-first at {_examples(text, lines, day_first, 1)}, "
            f"month-first at {_examples(text, lines, month_first, 1)}"
        )
    found = "dmy" if day_first.any() else "mdy" if month_first.any() else None
    if date_order != "auto":
        if found is not None and found != date_order:
            mask = day_first if found == "dmy" else month_first
            raise TimestampParseError(
                f"--date-order {date_order} contradicts {_examples(text, lines, mask, 1)}"
            )
        return date_order
    if found is None:
        raise TimestampParseError(
            "dates are ambiguous between day-first and month-first (no day above 12, e.g. "
            f"{_examples(text, lines, np.ones(len(text), bool), 1)}); "
            "pass --date-order dmy or --date-order mdy"
        )
    return found


def _candidate_formats(text: pd.Series, lines: pd.Series, date_order: DateOrder) -> Sequence[str]:
    dates: tuple[str, ...]
    if text.str.contains(_TEXT_MONTH).all():
        dates = ("%d-%b-%Y", "%d %b %Y", "%d-%b-%y", "%d %b %y", "%b %d %Y", "%b %d, %Y",
                 "%d-%B-%Y", "%d %B %Y", "%B %d, %Y")
    else:
        order = _day_month_order(text, lines, date_order)
        dates = ("%d-%m-%Y", "%d-%m-%y") if order == "dmy" else ("%m-%d-%Y", "%m-%d-%y")
    return [d + t for d in dates for t in _TIME_FORMATS]


def _parse_day_month(text: pd.Series, lines: pd.Series, date_order: DateOrder) -> pd.Series:
    unified = text.str.replace(r"^(\d{1,2})[/.](\d{1,2})[/.]", r"\1-\2-", regex=True)
    unified = unified.str.replace("T", " ", regex=False).str.replace(r"\s+", " ", regex=True)
    best: pd.Series | None = None
    for fmt in _candidate_formats(text, lines, date_order):
        parsed = pd.to_datetime(unified, format=fmt, errors="coerce")
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
        if parsed.notna().all():
            return parsed
    assert best is not None
    bad = best.isna().to_numpy()
    raise TimestampParseError(f"unparseable timestamp at {_examples(text, lines, bad)}")


def _localise(naive: pd.Series, lines: pd.Series, source_tz: str) -> pd.Series:
    try:
        return naive.dt.tz_localize(source_tz, ambiguous="raise", nonexistent="raise").dt.as_unit(
            "ns"
        )
    except (ValueError, TypeError) as exc:  # pytz/zoneinfo DST errors are ValueError kinds
        raise TimestampParseError(
            f"timestamps cannot be placed in {source_tz} (a daylight-saving gap or repeat?): "
            f"{exc}"
        ) from exc
