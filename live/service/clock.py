"""The service's time: a clock that can sleep, and the stop signal that wakes it.

Domain code never reads the wall clock: the service is given a :class:`ServiceClock`. The
wall clock (at the shell's edge, :mod:`stratops.serve_ops`) sleeps on the stop signal, so a
SIGTERM wakes it at once; :class:`SimulatedClock` jumps instead of sleeping, so tests (and
the ``--sim-start`` demo) cross nights, weekends and holidays in no wall time.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol

from strategies.errors import BadInputError


class NaiveTimeError(BadInputError, ValueError):
    """A time without a UTC offset where the service needs an instant."""


class StopSignal:
    """Set once (SIGTERM, SIGINT, the last session done); everything that waits watches it.
    Setting it from a signal handler is safe: it only flips a flag the loops poll."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Block up to ``seconds`` or until set; True when set."""
        return self._event.wait(max(0.0, seconds))


class ServiceClock(Protocol):
    """What the service asks of time: now (tz-aware) and a sleep that a stop cuts short."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SimulatedClock:
    """Simulated time: ``sleep`` moves ``now`` forward at once (nothing waits) and records
    each sleep, so a test can see where the service would have woken; a stop cuts no
    simulated sleep short (it is checked at each wake, like the wall clock's)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise NaiveTimeError(f"simulated clock start {start!r} is naive (give an offset)")
        self._now = start
        self.sleeps: list[tuple[datetime, float]] = []  # (when it started, seconds)

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise BadInputError(f"sleep of {seconds!r} s: must not be negative")
        self.sleeps.append((self._now, seconds))
        self._now += timedelta(seconds=seconds)

    def advance_to(self, when: datetime) -> None:
        """Jump to ``when`` (a replayed feed's market time); never backwards."""
        if when > self._now:
            self._now = when
