"""Paging a person: the small :class:`Pager` protocol the watchdog (and later the alert
delivery of :mod:`live.alerts`) pages through, and the default :class:`FilePager`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO


class Pager(Protocol):
    """Tell a person. ``kind``: what happened (``runner_unreachable``, ...); ``severity``:
    ``info`` | ``warning`` | ``error`` | ``critical``; ``details``: JSON-ready facts."""

    def page(self, kind: str, severity: str, message: str, details: dict[str, Any]) -> None:
        ...


class FilePager:
    """Appends one JSON line per page to ``path`` (fsynced: a page survives a crash of the
    watchdog right after it) and prints it to ``err`` (stderr: journald keeps it)."""

    def __init__(self, path: Path, clock: Callable[[], datetime], *,
                 err: TextIO | None = None) -> None:
        self.path, self.clock = path, clock
        self.err = err if err is not None else sys.stderr

    def page(self, kind: str, severity: str, message: str, details: dict[str, Any]) -> None:
        record = {"ts": self.clock().isoformat(), "kind": kind, "severity": severity,
                  "message": message, "details": details}
        line = json.dumps(record, sort_keys=True, default=str)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        print(f"PAGE {severity.upper()} {kind}: {message}", file=self.err, flush=True)


class FanOutPager:
    """Pages through every pager in order (the file first: it cannot fail for a network
    reason). A pager that raises does not stop the others; its error is printed to ``err``
    and re-raised only when every pager failed, so one dead webhook never silences a page."""

    def __init__(self, pagers: list[Pager], *, err: TextIO | None = None) -> None:
        if not pagers:
            raise ValueError("FanOutPager needs at least one pager")
        self.pagers = pagers
        self.err = err if err is not None else sys.stderr

    def page(self, kind: str, severity: str, message: str, details: dict[str, Any]) -> None:
        errors: list[Exception] = []
        for pager in self.pagers:
            try:
                pager.page(kind, severity, message, details)
            except Exception as exc:
                errors.append(exc)
                print(f"PAGE via {type(pager).__name__} failed: {exc}", file=self.err,
                      flush=True)
        if len(errors) == len(self.pagers):
            raise errors[0]


class DeliveryPager:
    """Pages through the alert delivery (:func:`live.alerts.page.page`: webhooks and e-mail
    of tier 0, the durable outbox retrying what does not go out now)."""

    def page(self, kind: str, severity: str, message: str, details: dict[str, Any]) -> None:
        from live.alerts.page import page

        page(kind, severity, message, details)
