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
