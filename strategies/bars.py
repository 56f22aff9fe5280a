"""One instrument's bars as contiguous NumPy arrays, with the session clock precomputed.

Strategies and the simulator take :class:`Bars`, never a DataFrame: hot loops see only
float64/int64/bool arrays. The session arrays (session index, bar index inside the
session, entry window, forced-exit bars) are derived once here from the venue's schedule
and the desk's cutoff, so every kernel applies the same clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import numpy as np
import pandas as pd

from strategies.errors import BadInputError
from strategies.venues import CutoffError, Venue, get_venue, resolve_cutoff


class BarsInputError(BadInputError, ValueError):
    """Bars that a strategy must not run on (NaN, non-positive, unsorted, too short)."""


@dataclass(frozen=True, slots=True)
class Bars:
    """Bars of one symbol, oldest first.

    ``session`` numbers sessions 0, 1, ...; ``bar_in_session`` counts bars from each session's
    first bar. ``entry_ok[t]`` says a position may be opened *at bar t's open*;
    ``cutoff_exit[t]`` marks the bar at whose open any position is flattened (first bar at or
    after the cutoff); ``session_last[t]`` marks each session's last bar, at whose close a
    position is flattened when ``flat_at_session_end`` (intraday bars with a cutoff: a
    session that closes before the cutoff, such as NSE Muhurat trading, still ends flat).
    """

    symbol: str
    ts: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    session: np.ndarray
    bar_in_session: np.ndarray
    entry_ok: np.ndarray
    entry_ok_at_close: np.ndarray
    cutoff_exit: np.ndarray
    session_last: np.ndarray
    flat_at_session_end: bool = False

    def __len__(self) -> int:
        return len(self.close)

    def slice(self, stop: int) -> Bars:
        """The first ``stop`` bars (for no-look-ahead checks)."""
        return self.window(0, stop)

    def window(self, start: int, stop: int) -> Bars:
        """Bars ``start .. stop-1`` (walk-forward folds). Session numbers keep their values;
        a window starting mid-session starts that session's ``bar_in_session`` where it was."""
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        for name, value in fields.items():
            if isinstance(value, np.ndarray | pd.DatetimeIndex):
                fields[name] = value[start:stop]
        return Bars(**fields)


def _check_prices(frame: pd.DataFrame, symbol: str) -> None:
    for col in ("open", "high", "low", "close"):
        values = frame[col].to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
        if len(bad):
            i = bad[0]
            raise BarsInputError(
                f"{symbol}: column {col!r} has {len(bad)} NaN or non-positive value(s), first "
                f"{values[i]!r} at {frame['ts'].iloc[i]}"
            )


def _check_order(ts: pd.Series, symbol: str) -> None:
    step = ts.diff().iloc[1:]
    bad = np.flatnonzero((step <= pd.Timedelta(0)).to_numpy())
    if len(bad):
        i = bad[0] + 1
        kind = "duplicated" if step.iloc[bad[0]] == pd.Timedelta(0) else "unsorted"
        raise BarsInputError(f"{symbol}: {kind} timestamp {ts.iloc[i]} after {ts.iloc[i - 1]}")


def _overnight_shift(spec: Venue) -> pd.Timedelta:
    """Shift that maps a bar to its session date: for sessions running overnight (spot FX,
    17:00 to 17:00 New York) the session is dated by the day it closes."""
    if spec.open is None or spec.close is None or spec.close > spec.open:
        return pd.Timedelta(0)
    return pd.Timedelta(hours=24) - pd.Timedelta(hours=spec.open.hour, minutes=spec.open.minute)


def _cutoff_time(cut: time | str | None, venue: str) -> time | None:
    try:
        return resolve_cutoff(cut, venue)
    except CutoffError as exc:
        raise BarsInputError(str(exc)) from None


def _writeable(column: pd.Series) -> np.ndarray:
    """A private, writeable, C-contiguous float64 copy: pandas 3 may hand out read-only
    arrays, and numba would compile a second specialisation of every kernel for them."""
    return np.array(column.to_numpy(dtype=np.float64), dtype=np.float64, copy=True, order="C")


def bars_from_frame(
    frame: pd.DataFrame, *, symbol: str, venue: str, cutoff: time | str | None = "venue",
    bar_minutes: float | None = None,
) -> Bars:
    """Build :class:`Bars` for ``symbol`` from a normalised frame.

    ``cutoff`` is the hard flat time (default: the venue's, 15:00 on NSE; ``None`` disables
    it, e.g. for daily bars or round-the-clock venues). ``bar_minutes`` is the bar length
    (inferred from the median step when omitted).
    """
    one = frame[frame["symbol"] == symbol] if "symbol" in frame else frame
    if one.empty:
        raise BarsInputError(f"no bars for symbol {symbol!r}")
    one = one.reset_index(drop=True)
    _check_prices(one, symbol)
    _check_order(one["ts"], symbol)
    spec = get_venue(venue)
    local = pd.DatetimeIndex(one["ts"]).tz_convert(spec.tz)
    day = (local + _overnight_shift(spec)).normalize()
    session = np.cumsum(np.r_[True, day[1:] != day[:-1]]).astype(np.int64) - 1
    starts = np.r_[0, np.flatnonzero(np.diff(session)) + 1]
    bar_in_session = np.arange(len(one), dtype=np.int64) - starts[session]
    session_last = np.r_[session[1:] != session[:-1], True]
    if bar_minutes is None:
        steps = np.diff(local.as_unit("ns").asi8) / 6e10  # minutes, whatever the unit
        bar_minutes = float(np.median(steps)) if len(steps) else 1.0
    cut = _cutoff_time(cutoff, venue)
    minute = (local.hour * 60 + local.minute).to_numpy().astype(np.float64)
    if cut is None or bar_minutes >= 24 * 60:
        entry_ok = np.ones(len(one), dtype=bool)
        entry_ok_close = entry_ok.copy()
        cutoff_exit = np.zeros(len(one), dtype=bool)
    else:
        cut_min = cut.hour * 60 + cut.minute
        entry_ok = minute < cut_min
        entry_ok_close = minute + bar_minutes < cut_min  # a fill at the cutoff: flat at once
        after = ~entry_ok
        cutoff_exit = after & np.r_[True, (session[1:] != session[:-1]) | ~after[:-1]]
    return Bars(
        symbol=symbol, ts=local,
        open=_writeable(one["open"]),
        high=_writeable(one["high"]),
        low=_writeable(one["low"]),
        close=_writeable(one["close"]),
        volume=_writeable(one["volume"].fillna(0.0)),
        session=session, bar_in_session=bar_in_session, entry_ok=entry_ok,
        entry_ok_at_close=entry_ok_close, cutoff_exit=cutoff_exit,
        session_last=session_last, flat_at_session_end=cut is not None and bar_minutes < 24 * 60,
    )
