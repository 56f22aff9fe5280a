"""The stale-feed watch: no tick of a symbol for ``after_seconds`` of wall time inside the
session holds new entries in it (a journaled alert and a :class:`~live.runner.feed.FeedHold`)
until its ticks resume; exits are never held.

The watch runs on the wall clock, not on ticks, so a socket that went quiet, a reconnect
that never comes or a ticker that never connected are all caught the same way: the time
since the last tick (or since the session opened, or since the watch started) grows. Outside
the session nothing is expected and nothing goes stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from live.events import Severity
from live.runner.feed import FeedAlert, FeedHold, FeedItem, in_session
from strategies.venues import Venue


class StaleWatch:
    """Per symbol: the monotonic time of its last tick, and which symbols are held."""

    def __init__(self, symbols: Iterable[str], venue: Venue, *, after_seconds: float,
                 started: float) -> None:
        if not after_seconds > 0:
            raise ValueError(f"stale after_seconds={after_seconds!r}: must be > 0")
        self.venue, self.after_seconds = venue, after_seconds
        self.last: dict[str, float] = dict.fromkeys(symbols, started)
        self.held: dict[str, float] = {}  # symbol -> monotonic time it was held
        self._forever: str | None = None  # a hold no tick lifts (the ticker gave up)

    def saw(self, symbol: str, mono: float) -> None:
        """A tick of ``symbol`` arrived (the hot path: one dict store)."""
        self.last[symbol] = mono

    def check(self, now: datetime, mono: float) -> list[FeedItem]:
        """Holds for symbols silent too long in session, lifts for those ticking again."""
        out: list[FeedItem] = []
        if not in_session(self.venue, now):
            for symbol in self.last:  # the clock starts again at the next open
                self.last[symbol] = max(self.last[symbol], mono)
            return out
        for symbol, seen in self.last.items():
            held_at = self.held.get(symbol)
            if held_at is None and mono - seen >= self.after_seconds:
                self.held[symbol] = mono
                out.append(FeedHold(now, symbol, True,
                                    f"stale feed: no tick for {mono - seen:.1f} s (limit "
                                    f"{self.after_seconds:g} s)"))
            elif held_at is not None and seen > held_at and self._forever is None:
                del self.held[symbol]
                out.append(FeedHold(now, symbol, False, "ticks resumed"))
        return out

    def hold_all(self, now: datetime, mono: float, reason: str) -> list[FeedItem]:
        """Hold every symbol for good (e.g. the ticker stopped reconnecting)."""
        self._forever = reason
        out: list[FeedItem] = [FeedAlert(now, Severity.CRITICAL, "feed_lost", reason)]
        for symbol in self.last:
            if symbol not in self.held:
                self.held[symbol] = mono
                out.append(FeedHold(now, symbol, True, reason))
        return out
