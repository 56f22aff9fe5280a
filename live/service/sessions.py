"""Which session the service works next: the venue calendar's current or next session, with
its open, close and the desk's cutoff (holidays, weekends, half days and special sessions
such as NSE's Muhurat evening come from the calendar of :mod:`strategies.venues`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from live.service.clock import NaiveTimeError
from strategies.errors import BadInputError
from strategies.venues import get_venue, session_schedule

LOOKAHEAD_DAYS = 31  # no exchange closes for longer (the calendar is searched this far)


class NoSessionError(BadInputError, LookupError):
    """The venue's calendar has no session in the look-ahead window (a stale calendar)."""


@dataclass(frozen=True, slots=True)
class SessionWindow:
    """One session: its date, open and close (tz-aware, close exclusive) and the cutoff
    (the desk's flat time that day, never after the close: a half day closes earlier)."""

    venue: str
    day: date
    open: datetime
    close: datetime
    cutoff: datetime

    def __str__(self) -> str:
        return (f"{self.venue} {self.day} {self.open:%H:%M}-{self.close:%H:%M} "
                f"(cutoff {self.cutoff:%H:%M})")


def next_session(venue_name: str, now: datetime) -> SessionWindow:
    """The session running at ``now`` or, after its close, the next one on the calendar."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise NaiveTimeError(f"now={now!r} is naive: the service clock must be tz-aware")
    venue = get_venue(venue_name)
    local = pd.Timestamp(now).tz_convert(venue.tz)
    first = local.date() - timedelta(days=1)  # an overnight session may have opened yesterday
    frame = session_schedule(venue.name, first, first + timedelta(days=LOOKAHEAD_DAYS))
    for day, opened, closed in zip(frame["session"], frame["open"], frame["close"],
                                   strict=True):
        if closed > local:
            return _window(venue.name, pd.Timestamp(day).date(), opened, closed)
    raise NoSessionError(f"{venue.name}: no session in the {LOOKAHEAD_DAYS} days after "
                         f"{local.date()} (is the exchange calendar package out of date?)")


def _window(venue_name: str, day: date, opened: pd.Timestamp,
            closed: pd.Timestamp) -> SessionWindow:
    venue = get_venue(venue_name)
    cutoff = closed
    if venue.cutoff is not None:
        at = pd.Timestamp.combine(day, venue.cutoff).tz_localize(venue.tz)
        cutoff = min(max(at, opened), closed)  # an evening session is past it from its open
    return SessionWindow(venue_name, day, opened.to_pydatetime(), closed.to_pydatetime(),
                         cutoff.to_pydatetime())
