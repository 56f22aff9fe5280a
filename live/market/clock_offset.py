"""The clock-offset check: our wall clock against the exchange's and against NTP.

Two sources, one budget (``max_offset_ms``, settings ``live.clock.max_offset_ms``):

- **exchange time**: each live tick's exchange timestamp minus the wall clock at its
  receipt; the median of the last ``window`` offsets (robust to a slow packet; judged from
  the fifth tick on) must stay within the budget (a bar's timestamp is its *start*: pass
  its end, ``ts + bar``);
- **NTP**: ``chronyc tracking`` (or ``ntpq -c rv``) read every ``ntp_every_seconds``; its
  offset must stay within the budget too. No NTP daemon answering is a warning
  (``clock_unchecked``: "no NTP daemon: unchecked"), never a pass.

Beyond the budget every symbol's new entries are held (a :class:`~live.runner.feed.FeedHold`,
exits and protective orders still flow) and a ``clock_offset`` alert is journaled; back
within it the hold lifts (journaled by the runner as ``entries_resumed``). The watch is fed
by the live feed (:mod:`live.market.kite_feed`), beside the stale-feed watch.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Container, Iterable
from datetime import datetime
from statistics import median

from live.events import Severity
from live.runner.feed import FeedAlert, FeedHold, FeedItem
from strategies.errors import BadInputError

DEFAULT_MAX_OFFSET_MS = 2_000.0  # Kite's exchange_timestamp has 1 s resolution
DEFAULT_WINDOW = 31
MIN_TICKS = 5  # fewer offsets than this (or than the window) judge nothing yet
DEFAULT_NTP_EVERY_SECONDS = 60.0
NO_NTP = "no NTP daemon: unchecked"

NtpProbe = Callable[[], float | None]

_CHRONY = re.compile(r"^System time\s*:\s*([0-9.eE+-]+) seconds (fast|slow) of NTP time",
                     re.MULTILINE)
_NTPQ = re.compile(r"(?:^|[\s,])offset=([0-9.eE+-]+)")


class ClockConfigError(BadInputError, ValueError):
    """A clock-offset budget, window or probe interval that is not positive."""


def parse_chronyc_tracking(text: str) -> float | None:
    """Our clock's offset from NTP in ms (positive: we are ahead) from ``chronyc tracking``
    output; None when the text has no ``System time`` line."""
    found = _CHRONY.search(text)
    if found is None:
        return None
    try:
        seconds = float(found.group(1))
    except ValueError:
        return None
    return seconds * 1000.0 * (1 if found.group(2) == "fast" else -1)


def parse_ntpq_rv(text: str) -> float | None:
    """The ``offset=`` (ms, ntpd's sign: positive when we are ahead) of ``ntpq -c rv``
    output; None when there is none."""
    found = _NTPQ.search(text)
    if found is None:
        return None
    try:
        return float(found.group(1))
    except ValueError:
        return None


def system_ntp_offset_ms(timeout_seconds: float = 2.0) -> float | None:
    """The host's NTP offset in ms from chrony or ntpd; None when neither answers."""
    for argv, parse in ((["chronyc", "tracking"], parse_chronyc_tracking),
                        (["ntpq", "-c", "rv"], parse_ntpq_rv)):
        if shutil.which(argv[0]) is None:
            continue
        try:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=timeout_seconds, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            offset = parse(done.stdout)
            if offset is not None:
                return offset
    return None


class ClockOffsetWatch:
    """Rolling median of exchange-minus-wall offsets plus the NTP probe; holds every symbol's
    new entries while either is beyond ``max_offset_ms``."""

    def __init__(self, symbols: Iterable[str], *, max_offset_ms: float,
                 ntp_probe: NtpProbe | None = system_ntp_offset_ms,
                 window: int = DEFAULT_WINDOW,
                 ntp_every_seconds: float = DEFAULT_NTP_EVERY_SECONDS) -> None:
        if not (max_offset_ms > 0 and window >= 1 and ntp_every_seconds > 0):
            raise ClockConfigError(
                f"clock check max_offset_ms={max_offset_ms!r}, window={window!r}, "
                f"ntp_every_seconds={ntp_every_seconds!r}: each must be positive")
        self.symbols = list(symbols)
        self.max_offset_ms, self.ntp_probe = max_offset_ms, ntp_probe
        self.ntp_every_seconds = ntp_every_seconds
        self.offsets_ms: deque[float] = deque(maxlen=window)
        self.ntp_ms: float | None = None
        self.held: str | None = None  # why entries are held (None: clock OK)
        self._ntp_at: float | None = None  # monotonic time of the last probe
        self._ntp_warned = False

    def observe(self, exchange_ts: datetime, wall_ts: datetime) -> None:
        """One tick's exchange time and the wall time it arrived (the hot path)."""
        self.offsets_ms.append((exchange_ts - wall_ts).total_seconds() * 1000.0)

    def median_offset_ms(self) -> float | None:
        """The median exchange-minus-wall offset of the recent ticks (None: none yet)."""
        return median(self.offsets_ms) if self.offsets_ms else None

    def check(self, now: datetime, mono: float) -> list[FeedItem]:
        """Probe NTP when due; hold every symbol when an offset is beyond the budget, lift
        when both are back within it."""
        out = self._probe(now, mono)
        why = self._beyond()
        if why is not None and self.held is None:
            self.held = why
            out.append(FeedAlert(now, Severity.CRITICAL, "clock_offset",
                                 f"{why}: new entries held; exits flow"))
            out += [FeedHold(now, s, True, why) for s in self.symbols]
        elif why is None and self.held is not None:
            before, self.held = self.held, None
            out += [FeedHold(now, s, False, f"clock back within {self.max_offset_ms:g} ms "
                                            f"(was: {before})") for s in self.symbols]
        return out

    def merge(self, items: list[FeedItem], stale_held: Container[str]) -> list[FeedItem]:
        """``items`` of the stale-feed watch, and this watch's lifts, filtered so neither
        lifts a hold the other still needs (``stale_held``: the symbols it holds)."""
        out: list[FeedItem] = []
        for item in items:
            if isinstance(item, FeedHold) and not item.held and (
                    self.held is not None or item.symbol in stale_held):
                continue
            out.append(item)
        return out

    def _probe(self, now: datetime, mono: float) -> list[FeedItem]:
        if self.ntp_probe is None or (self._ntp_at is not None
                                      and mono - self._ntp_at < self.ntp_every_seconds):
            return []
        self._ntp_at = mono
        self.ntp_ms = self.ntp_probe()
        if self.ntp_ms is None and not self._ntp_warned:
            self._ntp_warned = True
            return [FeedAlert(now, Severity.WARNING, "clock_unchecked",
                              f"{NO_NTP} (chronyc/ntpq did not answer); only exchange "
                              "timestamps check the clock")]
        return []

    def _beyond(self) -> str | None:
        budget = self.max_offset_ms
        ticks = self.median_offset_ms()
        enough = len(self.offsets_ms) >= min(MIN_TICKS, self.offsets_ms.maxlen or MIN_TICKS)
        if ticks is not None and enough and abs(ticks) > budget:
            return (f"clock offset {ticks:+.0f} ms (median of {len(self.offsets_ms)} ticks' "
                    f"exchange time minus wall time) beyond {budget:g} ms")
        if self.ntp_ms is not None and abs(self.ntp_ms) > budget:
            return f"NTP offset {self.ntp_ms:+.0f} ms beyond {budget:g} ms"
        return None
