"""The online surveillance monitor: on the runner's bus (after the journal and the state's
fold) it folds every journaled message into the day's flow and re-runs the detectors of the
symbol that moved; new findings wait in :meth:`SurveillanceMonitor.drain` for the runner to
journal them as alerts at its next safe point (after the bar; never from inside a
delivery). A restart folds the journal back through :meth:`SurveillanceMonitor.fold`
(no detection) and then :meth:`SurveillanceMonitor.rescan` s the latest day, so what was
journaled is never raised twice and what a crash lost is raised after the first bar."""

from __future__ import annotations

from collections import deque
from datetime import date

from live.bus import Envelope
from live.compliance.abnormal import History, detect_abnormal, history_of
from live.compliance.findings import Finding, finding_of_alert
from live.compliance.flow import DayFlow, FlowBook, compact_day
from live.compliance.scan import symbol_findings
from live.compliance.thresholds import SurveillanceThresholds
from live.events import (
    AlertRaised,
    BarClosed,
    InternalCrossed,
    Message,
    OrderCancelled,
    OrderFilled,
    TradeExited,
)

_SYMBOL_TRIGGERS = (OrderCancelled, OrderFilled, BarClosed)
_ABNORMAL_TRIGGERS = (OrderFilled, TradeExited, InternalCrossed)  # a cross builds positions


class SurveillanceMonitor:
    """Online abuse detection over the journaled flow (one per runner)."""

    def __init__(self, thresholds: SurveillanceThresholds) -> None:
        self.cfg = thresholds
        self.book = FlowBook(thresholds.tz)
        self.emitted: set[str] = set()
        self._pending: list[Finding] = []
        self._past: deque[DayFlow] = deque(maxlen=thresholds.abnormal.history_days)
        self._history: History | None = None
        self._day: date | None = None

    def sink(self, envelope: Envelope) -> None:
        """The bus sink: each event of a journaled envelope, detected on."""
        for message in envelope.messages:
            self.observe(message)

    def fold(self, message: Message) -> None:
        """A journaled message replayed at a restart: folded, nothing detected."""
        self._note(message)

    def observe(self, message: Message) -> None:
        """A message just journaled: folded, then the detectors it may change run."""
        touched = self._note(message)
        if touched is None:
            return
        day, symbol = touched
        flow = self.book.days[day]
        if isinstance(message, _SYMBOL_TRIGGERS):
            self._queue(symbol_findings(flow, symbol, self.cfg, message.ts_event,
                                        trades=not isinstance(message, BarClosed)))
        if isinstance(message, _ABNORMAL_TRIGGERS) and self._history is not None:
            self._queue(detect_abnormal(flow, self._history, self.cfg.abnormal,
                                        message.ts_event))

    def rescan(self) -> None:
        """After a restart's fold: every detector over the latest day, so a finding a
        crash kept from the journal is raised (what was journaled is not raised again)."""
        if self._day is None or self._day not in self.book.days:
            return
        flow = self.book.days[self._day]
        for symbol in sorted(flow.symbols):
            self._queue(symbol_findings(flow, symbol, self.cfg))
        if self._history is not None:
            last = max((b.ts_event for s in flow.symbols.values() for b in s.bars),
                       default=None)
            if last is not None:
                self._queue(detect_abnormal(flow, self._history, self.cfg.abnormal, last))

    def drain(self) -> list[Finding]:
        """The findings not yet journaled, oldest first (the runner journals them)."""
        out, self._pending = self._pending, []
        return out

    def _note(self, message: Message) -> tuple[date, str] | None:
        if isinstance(message, AlertRaised):
            found = finding_of_alert(message)
            if found is not None and isinstance(found.get("id"), str):
                self.emitted.add(found["id"])
            return None
        day = self.book.day_of(message.ts_event)
        if self._day is None or day > self._day:
            self._roll(day)
        return self.book.observe(message)

    def _roll(self, day: date) -> None:
        """A new day: the finished days become compact history; memory stays bounded."""
        for old in sorted(d for d in self.book.days if d < day):
            self._past.append(compact_day(self.book.days[old]))
        self.book.forget_before(day)
        self._day = day
        self._history = history_of(list(self._past))

    def _queue(self, findings: list[Finding]) -> None:
        for finding in findings:
            if finding.finding_id not in self.emitted:
                self.emitted.add(finding.finding_id)
                self._pending.append(finding)
