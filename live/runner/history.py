"""Each symbol's recent bars as the arrays the strategies take, grown one bar at a time.

The runner calls the very same ``StrategySpec.signals`` as research and backtests, on the
bars seen since the runner started for that symbol (at most ``max_sessions`` sessions).
Strategies are proven free of look-ahead (the conformance suite), so the signal at the last
bar equals the backtest's on the same span: that is the backtest-live parity.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from live.runner.feed import FeedBar
from strategies.bars import Bars
from strategies.venues import Venue


class OutOfOrderBarError(ValueError):
    """A bar at or before the last one of its symbol."""


class SymbolHistory:
    """Bars of one symbol, with the session clock (session number, bar in session)."""

    def __init__(self, symbol: str, venue: Venue, max_sessions: int = 5) -> None:
        self.symbol, self.venue, self.max_sessions = symbol, venue, max_sessions
        self._rows: list[tuple[float, float, float, float, float]] = []
        self._ts: list[datetime] = []
        self._ns: list[int] = []  # the same instants as UTC nanoseconds (mixed tz objects)
        self._session: list[int] = []
        self._in_session: list[int] = []
        self._day: object = None

    def __len__(self) -> int:
        return len(self._rows)

    def last_close(self) -> float:
        return self._rows[-1][3]

    def last_move_pct(self) -> float | None:
        """The last bar's close-to-close move in percent, inside one session only."""
        if len(self._rows) < 2 or self._session[-1] != self._session[-2]:
            return None
        return (self._rows[-1][3] / self._rows[-2][3] - 1.0) * 100.0

    @property
    def last_ts(self) -> datetime | None:
        return self._ts[-1] if self._ts else None

    def session_day(self, ts: datetime) -> object:
        """The session date of ``ts`` (venue local; overnight sessions dated by their close)."""
        local = pd.Timestamp(ts).tz_convert(self.venue.tz)
        shift = pd.Timedelta(0)
        v = self.venue
        if v.open is not None and v.close is not None and v.close <= v.open:
            shift = pd.Timedelta(hours=24) - pd.Timedelta(hours=v.open.hour,
                                                          minutes=v.open.minute)
        return (local + shift).date()

    def append(self, bar: FeedBar) -> bool:
        """Add ``bar``; True when it starts a new session."""
        if self._ts and bar.ts <= self._ts[-1]:
            raise OutOfOrderBarError(f"{self.symbol}: bar {bar.ts} is not after {self._ts[-1]}")
        day = self.session_day(bar.ts)
        new_session = day != self._day
        if new_session:
            self._day = day
            self._session.append(self._session[-1] + 1 if self._session else 0)
            self._in_session.append(0)
            self._trim()
        else:
            self._session.append(self._session[-1])
            self._in_session.append(self._in_session[-1] + 1)
        self._rows.append((bar.open, bar.high, bar.low, bar.close, bar.volume))
        self._ts.append(bar.ts)
        self._ns.append(pd.Timestamp(bar.ts).value)
        return new_session

    def _trim(self) -> None:
        """Keep the last ``max_sessions`` sessions (the new one included)."""
        if not self._session:
            return
        first_kept = self._session[-1] - self.max_sessions + 1
        cut = next((i for i, s in enumerate(self._session) if s >= first_kept), 0)
        if cut:
            del self._rows[:cut], self._ts[:cut], self._ns[:cut]
            del self._session[:cut], self._in_session[:cut]

    def bars(self) -> Bars:
        """The history as :class:`Bars` (the clock flags the simulator needs are unused by
        signal kernels and left neutral)."""
        data = np.array(self._rows, dtype=np.float64).reshape(-1, 5)
        n = len(data)
        flags = np.zeros(n, dtype=bool)
        return Bars(
            symbol=self.symbol,
            ts=pd.DatetimeIndex(np.array(self._ns, dtype="datetime64[ns]")).tz_localize(
                "UTC").tz_convert(self.venue.tz),
            open=np.ascontiguousarray(data[:, 0]), high=np.ascontiguousarray(data[:, 1]),
            low=np.ascontiguousarray(data[:, 2]), close=np.ascontiguousarray(data[:, 3]),
            volume=np.ascontiguousarray(data[:, 4]),
            session=np.array(self._session, dtype=np.int64),
            bar_in_session=np.array(self._in_session, dtype=np.int64),
            entry_ok=~flags, entry_ok_at_close=~flags, cutoff_exit=flags,
            session_last=flags.copy(), flat_at_session_end=True)
