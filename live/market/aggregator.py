"""Ticks -> 1-minute bars by *exchange* timestamp, per instrument (the live bar builder).

Rules (issue 15, item 1):

- A tick belongs to the minute of its exchange timestamp. Inside the open minute ticks may
  come in any order: high and low are the extremes, the open is the earliest and the close
  the latest tick by ``(exchange time, cumulative volume, price)`` - cumulative volume only
  grows, so it orders trades stamped in one second - hence any shuffling or duplication of a
  minute's ticks gives the bar of the sorted ticks.
- A duplicate (same instrument, exchange time, price and cumulative volume: a depth-only
  update in full mode, or a redelivery) changes nothing and is counted.
- A minute closes when a tick of a later minute of that instrument arrives, or when the
  wall clock passes the minute's end plus ``grace_seconds`` (:meth:`MinuteBars.on_clock`), so
  an illiquid instrument still gets its bar on time. A tick for a minute already closed is
  *late*: dropped, counted and alerted once per instrument and minute; a closed bar is never
  reopened or emitted again, and a bar at or before the last emitted one is refused.
- Volume is the rise of the day's cumulative volume over the minute (from the previous
  minute's last cumulative volume; for the first minute seen, from the first tick's volume
  before its own trade).
- A minute of the session with no tick gets no bar and no fabricated price: the gap is
  reported (:class:`~live.runner.feed.FeedAlert` ``no_tick_minutes``) when the instrument
  trades again.
- Only ticks inside the venue's session (NSE 09:15-15:30 IST, its calendar) make bars:
  pre-open and post-close ticks are counted and ignored; the 15:29 bar is flushed by the
  clock at 15:30 plus the grace.

The hot path (:meth:`MinuteBars.add`) is a few dict and attribute operations per tick.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from live.events import Severity
from live.market.ticks import Tick
from live.runner.feed import FeedAlert, FeedBar, FeedItem, in_session
from strategies.venues import Venue

MINUTE = 60


class _Instrument:
    """One instrument's open minute and what the next minute needs."""

    __slots__ = ("base", "close", "close_key", "guess", "high", "last_emitted", "live_from", "low",
                 "minute", "open", "open_key", "seen", "symbol", "token", "vol_hi")

    def __init__(self, token: int, symbol: str) -> None:
        self.token, self.symbol = token, symbol
        self.minute: int | None = None  # the open minute (epoch minutes), None when none
        self.last_emitted: int | None = None  # the minute of the last bar emitted
        self.live_from: int | None = None  # earlier minutes come from the catch-up
        self.base: int | None = None  # cumulative volume before the open minute
        self.guess = False  # base inferred from this minute's own ticks (first minute seen)
        self.open = self.high = self.low = self.close = 0.0
        self.open_key: tuple[float, int, float] = (0.0, 0, 0.0)
        self.close_key: tuple[float, int, float] = (0.0, 0, 0.0)
        self.vol_hi = 0
        self.seen: set[tuple[float, int, float]] = set()


class MinuteBars:
    """The bar builder of one feed. Feed it sound ticks (:func:`~live.market.ticks.
    tick_problem` first) with :meth:`add` and the wall clock with :meth:`on_clock`; take the
    closed bars and alerts with :meth:`drain`. ``counts`` tallies what was ignored."""

    def __init__(self, venue: Venue, *, grace_seconds: float = 2.0) -> None:
        if not 0 <= grace_seconds < MINUTE:
            raise ValueError(f"grace_seconds={grace_seconds!r}: must be in [0, 60)")
        self.venue, self.grace_seconds = venue, grace_seconds
        self.tz = ZoneInfo(venue.tz)
        self.counts: Counter[str] = Counter()
        self._inst: dict[int, _Instrument] = {}
        self._out: list[FeedItem] = []
        self._session: dict[int, bool] = {}  # epoch minute -> inside a session
        self._open_at: dict[int, list[_Instrument]] = {}  # minute -> instruments opened then
        self._late_alerted: set[tuple[int, int]] = set()

    # -- the hot path --------------------------------------------------------------------

    def add(self, tick: Tick) -> None:
        """One sound tick (its ``ts`` aware)."""
        assert tick.ts is not None
        epoch = tick.ts.timestamp()
        minute = int(epoch // MINUTE)
        st = self._inst.get(tick.token)
        if st is None:
            st = self._inst[tick.token] = _Instrument(tick.token, tick.symbol)
        vol = tick.volume if tick.volume is not None else 0
        if minute != st.minute:
            self._enter(st, minute, epoch, tick, vol)
            return
        key = (epoch, vol, tick.price)
        seen = st.seen
        if key in seen:
            self.counts["duplicate"] += 1
            return
        seen.add(key)
        price = tick.price
        if price > st.high:
            st.high = price
        if price < st.low:
            st.low = price
        if key < st.open_key:
            st.open_key, st.open = key, price
        if key > st.close_key:
            st.close_key, st.close = key, price
        if vol > st.vol_hi:
            st.vol_hi = vol
        if st.guess and vol - tick.last_qty < st.base:  # type: ignore[operator]  # set then
            st.base = max(0, vol - tick.last_qty)

    def _enter(self, st: _Instrument, minute: int, epoch: float, tick: Tick, vol: int
               ) -> None:
        """A tick of another minute than the open one: late (dropped), outside the session
        (ignored) or the first tick of a new minute (the previous one closed first)."""
        if st.live_from is not None and minute < st.live_from:
            self.counts["before_live_edge"] += 1  # the catch-up has this minute
            st.base = vol if st.base is None else max(st.base, vol)
            return
        if (st.minute is not None and minute < st.minute) or \
                (st.last_emitted is not None and minute <= st.last_emitted):
            self._late(st, minute)
            return
        if st.minute is not None:
            self._close(st)
        if not self._in_session(minute):
            self.counts["outside_session"] += 1
            if tick.volume is not None:
                st.base = tick.volume  # pre-open / closing-session volume is not the bar's
            return
        if st.last_emitted is not None and minute > st.last_emitted + 1:
            self._gap(st, st.last_emitted + 1, minute - 1)
        st.guess = st.base is None or vol < st.base  # first minute seen, or a new day
        if st.guess:  # the volume before the minute's earliest trade seen (order-free)
            st.base = max(0, vol - tick.last_qty)
        price = tick.price
        st.minute = minute
        st.open = st.high = st.low = st.close = price
        st.open_key = st.close_key = (epoch, vol, price)
        st.vol_hi = vol
        st.seen = {st.open_key}
        self.counts["bars_opened"] += 1
        self._open_at.setdefault(minute, []).append(st)

    # -- closing minutes -----------------------------------------------------------------

    def on_clock(self, now: datetime) -> None:
        """Close every open minute whose end plus the grace has passed at wall time ``now``."""
        limit = now.timestamp() - self.grace_seconds
        due = [m for m in self._open_at if (m + 1) * MINUTE <= limit]
        for minute in sorted(due):
            for st in sorted(self._open_at.pop(minute), key=lambda s: s.symbol):
                if st.minute == minute:
                    self._close(st)

    def flush(self) -> None:
        """Close every open minute (the end of a replay)."""
        for minute in sorted(self._open_at):
            for st in sorted(self._open_at.pop(minute), key=lambda s: s.symbol):
                if st.minute == minute:
                    self._close(st)

    def _close(self, st: _Instrument) -> None:
        minute = st.minute
        assert minute is not None
        st.minute = None
        if st.last_emitted is not None and minute <= st.last_emitted:
            self._alert(minute, Severity.ERROR, "old_bar_refused",
                        f"{st.symbol}: bar {self._ts(minute).isoformat()} is not after the "
                        f"last bar {self._ts(st.last_emitted).isoformat()}; refused")
            return
        base = st.base if st.base is not None else st.vol_hi
        self._out.append(FeedBar(st.symbol, self._ts(minute), st.open, st.high, st.low,
                                 st.close, float(max(0, st.vol_hi - base))))
        st.base, st.guess = max(base, st.vol_hi), False
        st.last_emitted = minute
        self.counts["bars"] += 1

    # -- what the feed reports -----------------------------------------------------------

    def start_live(self, token: int, symbol: str, minute: int) -> None:
        """Bars of ``token`` start at epoch minute ``minute`` (the live edge): the catch-up
        delivered the earlier ones, so their ticks are dropped without an alert."""
        st = self._inst.get(token)
        if st is None:
            st = self._inst[token] = _Instrument(token, symbol)
        st.live_from = minute
        if st.minute is not None and st.minute < minute:
            st.minute = None  # covered by the catch-up: never emitted from ticks
            st.base, st.guess = st.vol_hi, False
        if st.last_emitted is None or st.last_emitted < minute - 1:
            st.last_emitted = minute - 1

    def drain(self) -> list[FeedItem]:
        """The bars closed and alerts raised since the last call, in order."""
        out, self._out = self._out, []
        return out

    def _late(self, st: _Instrument, minute: int) -> None:
        self.counts["late"] += 1
        if (st.token, minute) in self._late_alerted:
            return
        if len(self._late_alerted) > 100_000:
            self._late_alerted.clear()
        self._late_alerted.add((st.token, minute))
        self._alert(minute, Severity.WARNING, "late_tick",
                    f"{st.symbol}: tick for {self._ts(minute).isoformat()} arrived after that "
                    "minute closed; dropped (the bar is not reopened)")

    def _gap(self, st: _Instrument, first: int, last: int) -> None:
        missing = [m for m in range(first, last + 1) if self._in_session(m)]
        if not missing:
            return
        self.counts["gap_minutes"] += len(missing)
        self._alert(missing[-1], Severity.WARNING, "no_tick_minutes",
                    f"{st.symbol}: no tick in {len(missing)} session minute(s) "
                    f"{self._ts(missing[0]):%Y-%m-%d %H:%M}-{self._ts(missing[-1]):%H:%M}: "
                    "no bar for them (no price is made up)")

    def _alert(self, minute: int, severity: Severity, code: str, message: str) -> None:
        self._out.append(FeedAlert(self._ts(minute), severity, code, message))

    def _ts(self, minute: int) -> datetime:
        return datetime.fromtimestamp(minute * MINUTE, self.tz)

    def _in_session(self, minute: int) -> bool:
        found = self._session.get(minute)
        if found is None:
            if len(self._session) > 50_000:
                self._session.clear()
            found = self._session[minute] = in_session(self.venue, self._ts(minute))
        return found
