"""Venue-local wall time of a market timestamp, for the runner's per-bar checks (session
day, cutoff, session end): the standard library's zoneinfo, a tenth of what a pandas
``Timestamp.tz_convert`` costs on every bar, same tz database answer."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=64)
def zone(tz: str) -> ZoneInfo:
    """The zone named ``tz`` (an IANA name, e.g. ``Asia/Kolkata``)."""
    return ZoneInfo(tz)


def to_local(ts: datetime, tz: str) -> datetime:
    """``ts`` in ``tz``. A naive ``ts`` raises :class:`TypeError` (as pandas does): a bar's
    time must carry its zone, never be taken as the host's."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise TypeError(f"cannot convert a naive timestamp ({ts!r}) to {tz}")
    return ts.astimezone(zone(tz))
