"""Pagers: a log line (always), and a command run with the page as JSON on its stdin (a
script that calls the desk's paging service; its path is a setting, never a secret)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence

from live.events import Severity
from live.service.ports import Pager

PAGE_TIMEOUT_SECONDS = 10.0


class LogPager:
    """Writes each page as one line (the service's log: journald under systemd)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def page(self, severity: Severity, code: str, message: str) -> None:
        self.write(f"PAGE {severity.value} {code}: {message}")


class CommandPager:
    """Runs ``argv`` per page with ``{"severity", "code", "message"}`` as JSON on stdin; a
    command that fails or hangs is reported through ``report`` (never raised: the service
    holds whether or not the page got through)."""

    def __init__(self, argv: Sequence[str], report: Callable[[str], None], *,
                 timeout_seconds: float = PAGE_TIMEOUT_SECONDS) -> None:
        if not argv:
            raise ValueError("page command: empty argv")
        self.argv, self.report, self.timeout_seconds = list(argv), report, timeout_seconds

    def page(self, severity: Severity, code: str, message: str) -> None:
        body = json.dumps({"severity": severity.value, "code": code, "message": message})
        try:
            done = subprocess.run(self.argv, input=body, text=True, capture_output=True,
                                  timeout=self.timeout_seconds, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.report(f"page command {self.argv[0]} failed: {exc}")
            return
        if done.returncode != 0:
            self.report(f"page command {self.argv[0]} exited {done.returncode}: "
                        f"{done.stderr.strip()[:500]}")


class Pagers:
    """Every pager in turn (the log first)."""

    def __init__(self, pagers: Sequence[Pager]) -> None:
        self.pagers = list(pagers)

    def page(self, severity: Severity, code: str, message: str) -> None:
        for pager in self.pagers:
            pager.page(severity, code, message)
