"""Holding before trading: ask the broker session check until it is ready, journaling a
critical alert and paging every ``page_every`` while it is not, and give up at the session's
close (the day is missed, never traded on a stale token) or at a stop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from live.service.clock import ServiceClock, StopSignal
from live.service.ports import SessionCheck


class Held(StrEnum):
    READY = "ready"
    STOPPED = "stopped"
    SESSION_OVER = "session_over"


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    held: Held
    why: str  # the session check's last answer
    pages: int  # how many times the desk was paged


def ask(check: SessionCheck) -> tuple[bool, str]:
    """The check's answer; a check that raises is not ready (fail closed), with its error."""
    try:
        ready, why = check.ready()
    except Exception as exc:  # any failure of the check is a session we cannot trust
        return False, f"session check failed: {type(exc).__name__}: {exc}"
    return ready is True, why


def hold_until_ready(check: SessionCheck, clock: ServiceClock, stop: StopSignal, *,
                     until: datetime, page_every: timedelta, poll: timedelta,
                     not_ready: Callable[[str, int], None]) -> HoldOutcome:
    """Ask ``check`` every ``poll`` until it is ready, ``until`` passes or ``stop`` is set;
    ``not_ready(why, n)`` (journal + page) runs at once and then every ``page_every``."""
    pages = 0
    last_page: datetime | None = None
    while True:
        if stop.is_set():
            return HoldOutcome(Held.STOPPED, "stop requested while holding", pages)
        ready, why = ask(check)
        if ready:
            return HoldOutcome(Held.READY, why, pages)
        now = clock.now()
        if now >= until:
            return HoldOutcome(Held.SESSION_OVER, why, pages)
        if last_page is None or now - last_page >= page_every:
            pages += 1
            not_ready(why, pages)
            last_page = now
        clock.sleep(min(poll, until - now).total_seconds())
