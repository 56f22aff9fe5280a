"""The dead-man's switch outside the runner: scrape its ``/metrics``, read the heartbeat the
runner's loop stamps (``stratops_heartbeat_timestamp_seconds``) and page when it is older
than the budget, missing, or the endpoint does not answer within a short timeout (a dead
process refuses the connection; a frozen one - SIGSTOP, a hung host - accepts and never
answers). One page per incident: the first failed check pages, later failures of the same
incident do not; the first good check after it pages once more, as ``runner_recovered``
(severity info), with how long it lasted.

The watchdog and the runner compare wall clocks: on two hosts, keep them NTP-synced (the
runner's clock checks, README, Clock checks) or set the budget above their skew.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from live.observability.pager import Pager
from strategies.errors import StratopsError

HEARTBEAT = "stratops_heartbeat_timestamp_seconds"


class ScrapeError(StratopsError, RuntimeError):
    """The metrics endpoint did not answer with a page of metrics."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


@dataclass(frozen=True, slots=True)
class Health:
    """One check's verdict: ``kind`` is ``ok``, ``runner_unreachable``, ``heartbeat_missing``
    or ``heartbeat_stale``."""

    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def http_scrape(url: str, timeout_s: float) -> str:
    """The text of ``url`` within ``timeout_s`` (connect and read).

    Raises
    ------
    ScrapeError
        Refused, timed out, an HTTP error or not text.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(response.read().decode("utf-8"))
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError,
            UnicodeDecodeError) as exc:  # HTTPException: a process killed mid-answer
        raise ScrapeError(url, f"{type(exc).__name__}: {exc}") from exc


def heartbeat_of(text: str) -> float | None:
    """The heartbeat's value in a page of metrics (None: not there)."""
    for family in text_string_to_metric_families(text):
        if family.name == HEARTBEAT:
            for sample in family.samples:
                if sample.name == HEARTBEAT:
                    return float(sample.value)
    return None


def health(scrape: Callable[[], str], now_s: float, budget_s: float) -> Health:
    """One check: scrape, find the heartbeat, compare its age to the budget."""
    try:
        text = scrape()
    except ScrapeError as exc:
        return Health("runner_unreachable", f"the runner's metrics do not answer: "
                                            f"{exc.reason}", {"error": exc.reason})
    try:
        beat = heartbeat_of(text)
    except ValueError as exc:
        return Health("heartbeat_missing", f"the metrics page does not parse: {exc}")
    if beat is None:
        return Health("heartbeat_missing", f"the metrics page has no {HEARTBEAT}")
    age = now_s - beat
    if age > budget_s:
        return Health("heartbeat_stale", f"the runner's loop last turned {age:.1f} s ago "
                                         f"(budget {budget_s:g} s): hung or stopped",
                      {"age_s": round(age, 3), "budget_s": budget_s})
    return Health("ok", f"heartbeat {age:.1f} s old", {"age_s": round(age, 3)})


class Watchdog:
    """Checks ``scrape`` every interval and pages through ``pager``: once when an incident
    starts, once when it ends."""

    def __init__(self, scrape: Callable[[], str], pager: Pager, *, wall: Callable[[], float],
                 budget_s: float, target: str) -> None:
        self.scrape, self.pager, self.wall = scrape, pager, wall
        self.budget_s, self.target = budget_s, target
        self.incident: Health | None = None
        self.incident_since: float | None = None
        self.pages = 0

    def check(self) -> Health:
        """One check, paging on a change between healthy and not."""
        now = self.wall()
        verdict = health(self.scrape, now, self.budget_s)
        details = {"target": self.target, **verdict.details}
        if not verdict.ok and self.incident is None:
            self.incident, self.incident_since = verdict, now
            self._page(verdict.kind, "critical", f"{self.target}: {verdict.message}", details)
        elif verdict.ok and self.incident is not None:
            lasted = now - (self.incident_since or now)
            self._page("runner_recovered", "info",
                       f"{self.target}: recovered after {lasted:.1f} s "
                       f"({self.incident.kind}): {verdict.message}",
                       {**details, "incident": self.incident.kind,
                        "lasted_s": round(lasted, 3)})
            self.incident, self.incident_since = None, None
        return verdict

    def _page(self, kind: str, severity: str, message: str, details: dict[str, Any]) -> None:
        self.pages += 1
        self.pager.page(kind, severity, message, details)

    def run(self, *, interval_s: float, sleep: Callable[[float], object],
            stop: Callable[[], bool], max_checks: int | None = None) -> int:
        """Check until ``stop()`` (or ``max_checks``); returns the pages sent."""
        done = 0
        while not stop() and (max_checks is None or done < max_checks):
            started = self.wall()
            self.check()
            done += 1
            sleep(max(0.0, interval_s - (self.wall() - started)))
        return self.pages
