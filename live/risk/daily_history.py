"""Daily closes of the underlyings: the returns history the VaR cap and the volatility the
margin and exposure caps are computed from.

Built once at start (``stratops live run``: from the feed's dataset, every day it holds) and
asked per order for the ``lookback_days`` daily simple returns *before* the order's session
day - never the day being traded (no look-ahead: its close is not known yet). A day's close
is the close of its last bar. Too little history is not an answer: :class:`RiskDataError`
(the cap that needed it denies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from live.risk.var import RiskDataError

TRADING_DAYS_PER_YEAR = 252  # annualises the realised volatility of daily returns


class DailyCloses:
    """Daily closes, one column per symbol, indexed by exchange-local session date."""

    def __init__(self, closes: pd.DataFrame) -> None:
        bad = ~np.isfinite(closes.to_numpy(dtype=float, na_value=np.nan)) | \
            (closes.to_numpy(dtype=float, na_value=np.nan) <= 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise RiskDataError(f"daily close of {closes.columns[col]!r} on "
                                f"{closes.index[row]} is {closes.iat[row, col]!r} (must be a "
                                "positive price)")
        self.closes = closes.sort_index()
        self._returns: dict[tuple[tuple[str, ...], date, int], pd.DataFrame] = {}
        self._vols: dict[tuple[str, date, int, int], float] = {}

    @classmethod
    def from_bars(cls, frame: pd.DataFrame) -> DailyCloses:
        """From intraday bars (columns ``ts`` - tz-aware exchange time -, ``symbol``,
        ``close``): each session day's last close per symbol."""
        missing = sorted({"ts", "symbol", "close"} - set(frame.columns))
        if missing:
            raise RiskDataError(f"bars have no column(s) {missing} to build daily closes from")
        ordered = frame.sort_values("ts", kind="stable")
        day = ordered["ts"].dt.tz_localize(None).dt.date
        closes = ordered.assign(day=day).groupby(["day", "symbol"])["close"].last()
        return cls(closes.unstack("symbol"))

    def returns_before(self, symbols: Sequence[str], day: date,
                       lookback_days: int) -> pd.DataFrame:
        """The last ``lookback_days`` daily returns of ``symbols`` from days before ``day``
        (days where every symbol has a close; fewer if the history is shorter). Kept per
        (symbols, day): every entry of a session asks the same."""
        key = (tuple(symbols), day, lookback_days)
        found = self._returns.get(key)
        if found is None:
            found = self._returns[key] = self._returns_before(symbols, day, lookback_days)
        return found

    def _returns_before(self, symbols: Sequence[str], day: date,
                        lookback_days: int) -> pd.DataFrame:
        unknown = sorted(set(symbols) - set(self.closes.columns))
        if unknown:
            raise RiskDataError(f"no daily closes for {unknown}; history has "
                                f"{sorted(map(str, self.closes.columns))}")
        before = self.closes.loc[[d < day for d in self.closes.index], list(symbols)]
        before = before.dropna()
        returns = before.pct_change().iloc[1:]
        return returns.iloc[-lookback_days:]

    def annual_vol(self, symbol: str, day: date, lookback_days: int,
                   min_days: int) -> float:
        """Annualised realised volatility (decimal) of ``symbol`` over the returns before
        ``day``; fewer than ``min_days`` returns, or a zero volatility, is refused. Kept
        per (symbol, day, lookback, minimum), like the returns: the closes before ``day``
        do not change during its session, and every check of an entry asks for it twice
        (exposure greeks, margin)."""
        key = (symbol, day, lookback_days, min_days)
        found = self._vols.get(key)
        if found is None:
            found = self._vols[key] = self._annual_vol(symbol, day, lookback_days, min_days)
        return found

    def _annual_vol(self, symbol: str, day: date, lookback_days: int,
                    min_days: int) -> float:
        returns = self.returns_before([symbol], day, lookback_days)[symbol].to_numpy()
        if returns.size < min_days:
            raise RiskDataError(f"{returns.size} daily returns of {symbol} before {day} are "
                                f"too few for a volatility (need {min_days})")
        vol = float(np.std(returns, ddof=1)) * math.sqrt(TRADING_DAYS_PER_YEAR)
        if not (math.isfinite(vol) and vol > 0):
            raise RiskDataError(f"realised volatility of {symbol} before {day} is {vol!r}")
        return vol
