"""The detectors over one day of the journal: the daily batch (``stratops compliance
scan``) and the function the online monitor calls on each symbol it sees move."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import date, datetime

from live.compliance.abnormal import detect_abnormal, history_of
from live.compliance.findings import Finding
from live.compliance.flow import DayFlow, FlowBook, compact_day
from live.compliance.layering import detect_layering
from live.compliance.marking_close import close_window, detect_marking_close
from live.compliance.thresholds import SurveillanceThresholds
from live.compliance.wash import detect_wash
from live.events import Message

DETECTORS = ("layering", "wash", "marking_close", "abnormal_pnl", "abnormal_position")


def symbol_findings(flow: DayFlow, symbol: str, cfg: SurveillanceThresholds,
                    near: datetime | None = None, *, trades: bool = True) -> list[Finding]:
    """The per-symbol detectors (layering, wash, marking the close) on one symbol's day;
    ``near``: only what an event at that time can change (the online monitor); ``trades``
    False (a bar): only marking the close (a bar changes no order or fill)."""
    sym = flow.symbols[symbol]
    found = [*detect_layering(flow.day, symbol, sym, cfg.layering, near),
             *detect_wash(flow.day, symbol, sym, cfg.wash, near)] if trades else []
    if near is None or near >= close_window(flow.day, cfg.marking_close, cfg.tz)[0]:
        found += detect_marking_close(flow.day, symbol, sym, cfg.marking_close, cfg.tz)
    return found


class DayScanner:
    """The daily batch, fed the journal in one pass: days before ``day`` are kept only as
    the abnormal detectors' history (compacted as the fold moves on: memory stays flat)."""

    def __init__(self, day: date, cfg: SurveillanceThresholds) -> None:
        self.day, self.cfg = day, cfg
        self.book = FlowBook(cfg.tz)
        self._past: deque[DayFlow] = deque(maxlen=cfg.abnormal.history_days)
        self._current: date | None = None
        self._last: datetime | None = None

    def observe(self, message: Message) -> None:
        seen = self.book.day_of(message.ts_event)
        if seen > self.day:
            return
        if self._current is None or seen > self._current:
            for old in sorted(d for d in self.book.days if d < seen):
                self._past.append(compact_day(self.book.days[old]))
            self.book.forget_before(seen)
            self._current = seen
        self.book.observe(message)
        if seen == self.day:
            self._last = message.ts_event if self._last is None else \
                max(self._last, message.ts_event)

    def findings(self) -> list[Finding]:
        """Every detector's findings for the day (sorted by time, then id)."""
        flow = self.book.days.get(self.day)
        if flow is None or self._last is None:
            return []
        found = [f for symbol in sorted(flow.symbols)
                 for f in symbol_findings(flow, symbol, self.cfg)]
        found += detect_abnormal(flow, history_of(list(self._past)), self.cfg.abnormal,
                                 self._last)
        return sorted(found, key=lambda f: (f.ts, f.finding_id))


def scan_messages(messages: Iterable[Message], day: date,
                  cfg: SurveillanceThresholds) -> list[Finding]:
    """The daily batch over journal messages (in journal order): folds every day up to
    ``day`` (the abnormal detectors' history) and runs the detectors on ``day``."""
    scanner = DayScanner(day, cfg)
    for message in messages:
        scanner.observe(message)
    return scanner.findings()
