"""Bar timeframes as the desk writes them (``1m``, ``15m``, ``1h``, ``1d``) and their length."""

from __future__ import annotations

import re

import pandas as pd

from strategies.errors import BadInputError

_TIMEFRAME = re.compile(r"^(\d+)(s|m|min|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TimeframeError(BadInputError, ValueError):
    """A timeframe string that is not ``<count><unit>`` with unit s, m, h, d or w."""


def parse_timeframe(text: str) -> pd.Timedelta:
    """``'15m'`` -> ``Timedelta('15min')``; refuses zero, negatives and unknown units."""
    if text.strip().endswith("M"):
        raise TimeframeError(f"timeframe {text!r} is ambiguous (minutes or months?); write 1m, 5m")
    match = _TIMEFRAME.match(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise TimeframeError(
            f"timeframe {text!r} is not <count><unit> with unit s, m, h, d or w (e.g. 1m, 1h, 1d)"
        )
    count, unit = match.groups()
    return pd.Timedelta(**{_UNITS[unit]: int(count)})


def is_daily(text: str) -> bool:
    """True for timeframes of a day or longer (bars labelled by session date)."""
    return bool(parse_timeframe(text) >= pd.Timedelta(days=1))
