"""Trading venues: timezone, regular session hours, trading calendar and the desk's cutoff.

Pure data plus calendar look-ups; research (dataset validation, simulator cutoff) and live
(session gating) read the same definitions. Calendars come from pandas-market-calendars
(imported lazily: it is slow to import and not needed on hot paths).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, time

import pandas as pd

from strategies.errors import BadInputError


class UnknownVenueError(BadInputError, KeyError):
    """A venue name that is not in :data:`VENUES`."""

    def __str__(self) -> str:
        return f"unknown venue {self.args[0]!r}; known venues: {sorted(VENUES)}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Venue:
    """A venue's clock. ``open``/``close`` are ``None`` for round-the-clock venues.

    ``calendar`` names a pandas-market-calendars calendar (holidays, half days);
    ``weekdays`` lists trading weekdays (Mon=0) for venues without one.
    ``cutoff`` is the desk's hard flat time (no new entries after, flat at it).
    """

    name: str
    tz: str
    open: time | None
    close: time | None
    calendar: str | None = None
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    cutoff: time | None = None

    @property
    def round_the_clock(self) -> bool:
        return self.open is None


VENUES: dict[str, Venue] = {
    v.name: v
    for v in (
        Venue(
            name="NSE", tz="Asia/Kolkata", open=time(9, 15), close=time(15, 30),
            calendar="XNSE", cutoff=time(15, 0),
        ),
        Venue(name="NYSE", tz="America/New_York", open=time(9, 30), close=time(16, 0),
              calendar="XNYS"),
        # Spot FX: each value date's session runs 17:00 New York the evening before to 17:00
        # New York, Monday to Friday (so the week opens Sunday 17:00 and closes Friday 17:00).
        Venue(name="FX", tz="America/New_York", open=time(17, 0), close=time(17, 0),
              weekdays=(0, 1, 2, 3, 4)),
        Venue(name="24x7", tz="UTC", open=None, close=None),
    )
}


def get_venue(name: str) -> Venue:
    """Return the venue called ``name`` (case-insensitive)."""
    for key, venue in VENUES.items():
        if key.lower() == name.lower():
            return venue
    raise UnknownVenueError(name)


@functools.lru_cache(maxsize=64)
def trading_days(venue_name: str, start: date, end: date) -> pd.DatetimeIndex:
    """Session dates of ``venue_name`` between ``start`` and ``end`` inclusive (naive)."""
    return pd.DatetimeIndex(session_schedule(venue_name, start, end)["session"])


@functools.lru_cache(maxsize=64)
def session_schedule(venue_name: str, start: date, end: date) -> pd.DataFrame:
    """One row per session between ``start`` and ``end``: ``session`` (naive date), ``open``
    and ``close`` (tz-aware, venue time; ``close`` exclusive).

    Calendar venues take holidays, half days and special sessions (NSE Muhurat trading)
    from pandas-market-calendars. A session whose ``close`` is not after ``open`` runs
    overnight from the previous day (spot FX: 17:00 to 17:00 New York). Round-the-clock
    venues have one 24-hour session per calendar day.
    """
    venue = get_venue(venue_name)
    if venue.calendar is not None:
        import pandas_market_calendars as mcal

        sched = mcal.get_calendar(venue.calendar).schedule(start_date=start, end_date=end)
        if sched.empty:
            empty = pd.DatetimeIndex([], tz=venue.tz)
            return pd.DataFrame({"session": pd.DatetimeIndex([]), "open": empty, "close": empty})
        frame = pd.DataFrame(
            {
                "session": pd.DatetimeIndex(sched.index).tz_localize(None).normalize(),
                "open": sched["market_open"].dt.tz_convert(venue.tz).to_numpy(),
                "close": sched["market_close"].dt.tz_convert(venue.tz).to_numpy(),
            }
        )
        return frame.reset_index(drop=True)
    days = pd.date_range(start, end, freq="D")
    days = days[days.day_of_week.isin(venue.weekdays)]
    if venue.open is None or venue.close is None:
        opens = days.tz_localize(venue.tz)
        closes = (days + pd.Timedelta(days=1)).tz_localize(venue.tz)
    else:
        prev = pd.Timedelta(days=1) if venue.close <= venue.open else pd.Timedelta(0)
        opens = (days - prev + _as_delta(venue.open)).tz_localize(venue.tz)
        closes = (days + _as_delta(venue.close)).tz_localize(venue.tz)
    return pd.DataFrame({"session": days, "open": opens, "close": closes})


def _as_delta(t: time) -> pd.Timedelta:
    return pd.Timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


#: A version's or a study's cutoff: the venue's own (``"venue"``), none, or a venue-local time.
Cutoff = time | str | None
VENUE_CUTOFF = "venue"


class CutoffError(BadInputError, ValueError):
    """A cutoff that is not ``venue``, ``none``/None or a time ``HH:MM``."""


def parse_cutoff(value: object, *, field: str = "cutoff") -> time | str | None:
    """The one cutoff parser: ``"venue"`` stays ``"venue"`` (the venue's own, resolved by
    :func:`resolve_cutoff`), ``None`` or ``"none"`` is no forced flat, a :class:`time` or
    an ISO ``HH:MM[:SS]`` string is that venue-local time. Anything else raises
    :class:`CutoffError` naming ``field`` and the value."""
    if value is None or value == "none":
        return None
    if value == VENUE_CUTOFF or isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise CutoffError(f"{field}={value!r}: must be 'venue', 'none' or a time HH:MM")


def resolve_cutoff(cutoff: time | str | None, venue: str) -> time | None:
    """The flat time a parsed cutoff means on ``venue`` (``"venue"``: the venue's own)."""
    parsed = parse_cutoff(cutoff)
    if parsed == VENUE_CUTOFF:
        return get_venue(venue).cutoff
    assert parsed is None or isinstance(parsed, time)
    return parsed


def format_cutoff(cutoff: time | str | None) -> str | None:
    """A parsed cutoff as JSON: ``"venue"``, None or ``"HH:MM"`` (``"HH:MM:SS"`` when it has
    seconds)."""
    parsed = parse_cutoff(cutoff)
    if parsed is None or isinstance(parsed, str):  # parse_cutoff's only str: VENUE_CUTOFF
        return parsed
    assert isinstance(parsed, time)
    return parsed.isoformat(timespec="seconds" if parsed.second else "minutes")
