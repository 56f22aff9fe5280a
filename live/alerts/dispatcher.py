"""The alert-delivery worker: a background thread fed by the journal's alerts.

Each pass (every ``poll_s``) it reads the journal entries after its cursor and queues the
alerts (``AlertRaised`` at or above ``min_severity``) and playbook steps
(``PlaybookActed``; a ``page`` step at its tier) in the :class:`~live.alerts.outbox.Outbox`,
sends what is due, and escalates what nobody acknowledged. It never touches the runner's
loop: it only reads the journal (its own connection) and writes its own file. A failed send
is retried with backoff; a restart resumes from the stored cursor and queue.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from live.alerts.channels import DeliveryError, send
from live.alerts.config import DeliveryConfig
from live.alerts.outbox import Due, Incoming, Outbox
from live.events import AlertRaised, Message, PlaybookActed, Severity
from live.playbooks.spec import SEVERITY_RANK

log = logging.getLogger(__name__)
ReadAfter = Callable[[int], Iterable[tuple[int, Message]]]  # journal entries after a seq
Sender = Callable[[Any, dict[str, Any], str], None]
_SCOPE = re.compile(r"^([A-Za-z0-9_.-]{1,40}): ")
_TIER = re.compile(r"^page tier (\d+): ")
_PLAYBOOK_SEVERITY = {"proposed": Severity.CRITICAL, "refused": Severity.ERROR,
                      "rate_limited": Severity.ERROR}


def scope_of(message: str) -> str:
    """The scope an alert message names first (``ema_cross: ...``), else ``-``."""
    found = _SCOPE.match(message)
    return found.group(1) if found else "-"


def incoming(source: str, seq: int, message: Message, min_severity: Severity
             ) -> Incoming | None:
    """What to queue for one journal entry (None: nothing)."""
    if isinstance(message, AlertRaised):
        if SEVERITY_RANK[message.severity] < SEVERITY_RANK[min_severity]:
            return None
        return Incoming(source, str(seq), message.code, scope_of(message.message),
                        message.severity, message.message, message.trace_id,
                        {"ts_event": message.ts_event.isoformat(), "seq": seq})
    if isinstance(message, PlaybookActed):
        paged = message.action == "page" and message.outcome == "applied"
        severity = Severity.CRITICAL if paged else \
            _PLAYBOOK_SEVERITY.get(message.outcome, Severity.WARNING)
        return Incoming(source, str(seq), f"playbook_{message.outcome}" if not paged
                        else message.alert_code, message.scope, severity,
                        f"playbook {message.playbook} ({message.action}) on "
                        f"{message.alert_code}: {message.detail}", message.trace_id,
                        {"ts_event": message.ts_event.isoformat(), "seq": seq,
                         "playbook": message.playbook, "proposal": message.proposal},
                        tier=_page_tier(message.detail) if paged else 0)
    return None


def _page_tier(detail: str) -> int:
    found = _TIER.match(detail)
    return int(found.group(1)) if found else 0


def payload_of(due: Due, now: float) -> dict[str, Any]:
    g = due.group
    return {"id": due.group_id, "delivery": f"{due.group_id}-{due.channel}-{due.tier}",
            "code": g["code"], "scope": g["scope"], "severity": g["severity"],
            "message": g["message"], "trace_id": g["trace_id"], "count": g["count"],
            "first_seen": g["first_at"], "last_seen": g["last_at"], "tier": due.tier,
            "source": g["source"], "details": json.loads(g["details"]), "sent_at": now,
            "ack": f"stratops alerts ack {due.group_id}"}


class AlertDispatcher:
    """Reads ``read_after`` (a journal) as ``source``, delivers from ``outbox``."""

    def __init__(self, config: DeliveryConfig, outbox: Outbox, *,
                 read_after: ReadAfter | None = None, source: str = "journal",
                 clock: Callable[[], float] = time.time, sender: Sender = send) -> None:
        self.config, self.outbox, self.read_after = config, outbox, read_after
        self.source, self.clock, self.sender = source, clock, sender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin_at(self, from_seq: int) -> None:
        """A journal first seen is read after ``from_seq`` (its head when the runner
        started: history is not paged again); a known one from where delivery stopped."""
        if self.read_after is not None and self.outbox.cursor(self.source) is None:
            self.outbox.set_cursor(self.source, from_seq)

    def start(self, from_seq: int = 0) -> None:
        """Run in a daemon thread (after :meth:`begin_at` ``from_seq``)."""
        self.begin_at(from_seq)
        self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after a last pass (alerts of the session's end still go out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._pass_logged()
            self._stop.wait(self.config.poll_s)
        self._pass_logged()

    def _pass_logged(self) -> None:
        try:
            self.run_once()
        except Exception:  # the worker must outlive any one bad pass; it is retried
            log.exception("alert delivery pass failed")

    def run_once(self) -> int:
        """One pass: ingest, send what is due, escalate; how many were delivered."""
        self.ingest()
        delivered = self.deliver_due()
        if self.outbox.escalate(self.clock()):
            delivered += self.deliver_due()
        return delivered

    def ingest(self) -> int:
        """Queue the journal's new alerts; how many entries were read."""
        if self.read_after is None:
            return 0
        last = self.outbox.cursor(self.source) or 0
        read = 0
        for seq, message in self.read_after(last):
            read, last = read + 1, seq
            found = incoming(self.source, seq, message, self.config.min_severity)
            if found is not None:  # queued and the cursor moved in one transaction
                self.outbox.ingest(found, self.clock(), cursor=(self.source, seq))
        if read:
            self.outbox.set_cursor(self.source, last)
        return read

    def deliver_due(self) -> int:
        delivered = 0
        for due in self.outbox.claim_due(self.clock()):
            channel = self.config.channels.get(due.channel)
            now = self.clock()
            if channel is None:
                self.outbox.failed(due.id, f"channel {due.channel!r} is no longer configured",
                                   now)
                continue
            try:
                self.sender(channel, payload_of(due, now), f"{due.group_id}-{due.channel}-"
                                                           f"{due.tier}")
            except DeliveryError as exc:
                retry = self.outbox.failed(due.id, str(exc), self.clock())
                log.warning("alert %s not delivered (%s); retry in %.1fs", due.group_id, exc,
                            retry - self.clock())
                continue
            self.outbox.delivered(due.id, self.clock())
            delivered += 1
        return delivered
