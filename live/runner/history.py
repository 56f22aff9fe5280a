"""Each symbol's recent bars as the arrays the strategies take, grown one bar at a time.

The runner calls the very same ``StrategySpec.signals`` as research and backtests, on the
bars seen since the runner started for that symbol (at most ``max_sessions`` sessions).
Strategies are proven free of look-ahead (the conformance suite), so the signal at the last
bar equals the backtest's on the same span: that is the backtest-live parity.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from live.runner.feed import FeedBar
from live.runner.local_time import to_local
from strategies.bars import Bars
from strategies.errors import StratopsError
from strategies.venues import Venue


class OutOfOrderBarError(StratopsError, ValueError):
    """A bar at or before the last one of its symbol."""


class SymbolHistory:
    """Bars of one symbol, with the session clock (session number, bar in session), kept in
    growable NumPy buffers so :meth:`bars` hands out views instead of rebuilding arrays."""

    def __init__(self, symbol: str, venue: Venue, max_sessions: int = 5) -> None:
        self.symbol, self.venue, self.max_sessions = symbol, venue, max_sessions
        self._n = 0
        self._prices = np.empty((5, 1024), dtype=np.float64)  # open high low close volume
        self._ns = np.empty(1024, dtype=np.int64)  # UTC nanoseconds (mixed tz objects in)
        self._session = np.empty(1024, dtype=np.int64)
        self._in_session = np.empty(1024, dtype=np.int64)
        self._last_ts: datetime | None = None  # the last bar's own timestamp
        self._day: object = None
        self._days: dict[datetime, object] = {}
        self._bars: Bars | None = None
        self._shift = _overnight_shift(venue)
        # the last close of the session before the current one: the base of the exchange's
        # daily price band (None until a second session starts)
        self.prev_session_close: float | None = None

    def __len__(self) -> int:
        return self._n

    def last_close(self) -> float:
        return float(self._prices[3, self._n - 1])

    def last_move_pct(self) -> float | None:
        """The last bar's close-to-close move in percent, inside one session only."""
        n = self._n
        if n < 2 or self._session[n - 1] != self._session[n - 2]:
            return None
        return float((self._prices[3, n - 1] / self._prices[3, n - 2] - 1.0) * 100.0)

    def close_at(self, ts: datetime) -> float | None:
        """The close of the bar at ``ts`` while it is in the history (None otherwise)."""
        stamp = pd.Timestamp(ts).value
        i = int(np.searchsorted(self._ns[: self._n], stamp))
        if i < self._n and self._ns[i] == stamp:
            return float(self._prices[3, i])
        return None

    @property
    def last_ts(self) -> datetime | None:
        return self._last_ts

    def session_day(self, ts: datetime) -> object:
        """The session date of ``ts`` (venue local; overnight sessions dated by their close)."""
        found = self._days.get(ts)
        if found is None:
            if len(self._days) > 256:
                self._days.clear()
            local = to_local(ts, self.venue.tz)
            found = self._days[ts] = (local + self._shift).date()
        return found

    def _grow(self) -> None:
        cap = 2 * self._ns.shape[0]
        for name in ("_ns", "_session", "_in_session"):
            old = getattr(self, name)
            fresh = np.empty(cap, dtype=old.dtype)
            fresh[: self._n] = old[: self._n]
            setattr(self, name, fresh)
        prices = np.empty((5, cap), dtype=np.float64)
        prices[:, : self._n] = self._prices[:, : self._n]
        self._prices = prices

    def append(self, bar: FeedBar) -> bool:
        """Add ``bar``; True when it starts a new session."""
        last = self._last_ts
        if last is not None and bar.ts <= last:
            raise OutOfOrderBarError(f"{self.symbol}: bar {bar.ts} is not after {last}")
        day = self.session_day(bar.ts)
        new_session = day != self._day
        if new_session:
            if self._n:
                self.prev_session_close = self.last_close()
            self._day = day
            self._trim()
        if self._n == self._ns.shape[0]:
            self._grow()
        i = self._n
        self._session[i] = (self._session[i - 1] + (1 if new_session else 0)) if i else 0
        self._in_session[i] = 0 if new_session or not i else self._in_session[i - 1] + 1
        self._prices[:, i] = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        self._ns[i] = pd.Timestamp(bar.ts).value
        self._last_ts = bar.ts
        self._n += 1
        self._bars = None
        return new_session

    def _trim(self) -> None:
        """Keep the last ``max_sessions - 1`` sessions before a new one starts."""
        n = self._n
        if not n:
            return
        first_kept = self._session[n - 1] + 1 - self.max_sessions + 1
        cut = int(np.searchsorted(self._session[:n], first_kept, side="left"))
        if cut:
            keep = n - cut
            self._prices[:, :keep] = self._prices[:, cut:n]
            for arr in (self._ns, self._session, self._in_session):
                arr[:keep] = arr[cut:n]
            self._n = keep

    def memory(self) -> dict[str, Any]:
        """The history as plain data (a runner snapshot's part; raw float64/int64 bytes in
        base64, so a restored history is bit-identical)."""
        n = self._n
        return {"n": n, "prices": _b64(self._prices[:, :n]), "ns": _b64(self._ns[:n]),
                "session": _b64(self._session[:n]), "in_session": _b64(self._in_session[:n]),
                "last_ts": None if self._last_ts is None else self._last_ts.isoformat(),
                "day": None if self._day is None else self._day.isoformat(),  # type: ignore[attr-defined]
                "prev_session_close": self.prev_session_close}

    def restore(self, memory: dict[str, Any]) -> None:
        """Take back what :meth:`memory` returned (this history must be empty)."""
        n = int(memory["n"])
        cap = max(1024, 1 << max(n - 1, 0).bit_length())
        prices = np.frombuffer(base64.b64decode(memory["prices"]), np.float64)
        last_ts = memory["last_ts"]
        if prices.size != 5 * n or (last_ts is None) != (n == 0):
            raise ValueError(f"{self.symbol}: a history of {n} bars holds {prices.size} prices "
                             f"and last bar {last_ts!r}")
        self._prices = np.empty((5, cap), dtype=np.float64)
        self._prices[:, :n] = prices.reshape(5, n)
        for name in ("ns", "session", "in_session"):
            fresh = np.empty(cap, dtype=np.int64)
            fresh[:n] = np.frombuffer(base64.b64decode(memory[name]), np.int64)
            setattr(self, f"_{name}", fresh)
        self._last_ts = None if last_ts is None else datetime.fromisoformat(last_ts)
        self._day = None if memory["day"] is None else date.fromisoformat(memory["day"])
        self.prev_session_close = memory["prev_session_close"]
        self._n, self._bars = n, None

    def bars(self) -> Bars:
        """The history as :class:`Bars` (views of the buffers, valid until the next append;
        the clock flags the simulator needs are unused by signal kernels and left neutral)."""
        if self._bars is not None:
            return self._bars
        n = self._n
        flags = np.zeros(n, dtype=bool)
        ts = pd.DatetimeIndex(self._ns[:n].view("datetime64[ns]"), tz="UTC").tz_convert(
            self.venue.tz)
        p = self._prices
        self._bars = Bars(
            symbol=self.symbol, ts=ts, open=p[0, :n], high=p[1, :n], low=p[2, :n],
            close=p[3, :n], volume=p[4, :n], session=self._session[:n],
            bar_in_session=self._in_session[:n], entry_ok=~flags, entry_ok_at_close=~flags,
            cutoff_exit=flags, session_last=flags.copy(), flat_at_session_end=True)
        return self._bars


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _overnight_shift(venue: Venue) -> pd.Timedelta:
    """Overnight sessions (spot FX) are dated by the day they close."""
    if venue.open is not None and venue.close is not None and venue.close <= venue.open:
        return pd.Timedelta(hours=24) - pd.Timedelta(hours=venue.open.hour,
                                                     minutes=venue.open.minute)
    return pd.Timedelta(0)
