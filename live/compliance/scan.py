"""The detectors over one day of the journal: the daily batch (``stratops compliance
scan``) and the function the online monitor calls on each symbol it sees move."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from live.compliance.abnormal import detect_abnormal, history_of
from live.compliance.findings import Finding
from live.compliance.flow import DayFlow, FlowBook
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


def previous_flows(book: FlowBook, day: date, cfg: SurveillanceThresholds) -> list[DayFlow]:
    """The journal's active days before ``day``, at most ``abnormal.history_days``."""
    days = sorted(d for d in book.days if d < day)[-cfg.abnormal.history_days:]
    return [book.days[d] for d in days]


def day_findings(book: FlowBook, day: date, cfg: SurveillanceThresholds,
                 ts: datetime) -> list[Finding]:
    """Every detector's findings for ``day`` (sorted by time, then id)."""
    flow = book.days.get(day)
    if flow is None:
        return []
    found = [f for symbol in sorted(flow.symbols) for f in symbol_findings(flow, symbol, cfg)]
    found += detect_abnormal(flow, history_of(previous_flows(book, day, cfg)), cfg.abnormal,
                             ts)
    return sorted(found, key=lambda f: (f.ts, f.finding_id))


def scan_messages(messages: Iterable[Message], day: date,
                  cfg: SurveillanceThresholds) -> list[Finding]:
    """The daily batch over journal messages (in journal order): folds every day up to
    ``day`` (the abnormal detectors' history) and runs the detectors on ``day``."""
    book = FlowBook(cfg.tz)
    last: datetime | None = None
    for message in messages:
        if book.day_of(message.ts_event) > day:
            continue
        book.observe(message)
        if book.day_of(message.ts_event) == day:
            last = message.ts_event if last is None else max(last, message.ts_event)
    if last is None:
        return []
    return day_findings(book, day, cfg, last)
