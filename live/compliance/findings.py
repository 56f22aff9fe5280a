"""A detector's finding: what was seen, how bad, and the evidence (order keys, trade ids,
times, prices). Its id is a digest of the detector, the day and the evidence's keys, so the
online monitor and the daily batch name one finding alike; it is journaled as an
``AlertRaised`` whose code is ``surveillance_<detector>`` and whose message carries the
finding as canonical JSON after :data:`EVIDENCE_MARK`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from live.canonical import canonical_json, digest
from live.events import AlertRaised, Severity

ALERT_PREFIX = "surveillance_"
EVIDENCE_MARK = " finding="


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector hit; ``evidence`` is JSON-ready (ISO times, floats, ids)."""

    detector: str
    severity: Severity
    day: date
    ts: datetime
    symbol: str
    summary: str
    evidence: Mapping[str, Any]
    keys: tuple[str, ...]  # the evidence's identifying keys (order keys, trade ids)

    @property
    def finding_id(self) -> str:
        return "F" + digest({"detector": self.detector, "day": self.day.isoformat(),
                             "symbol": self.symbol, "keys": sorted(self.keys)})[:20]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.finding_id, "detector": self.detector,
                "severity": self.severity.value, "day": self.day.isoformat(),
                "ts": self.ts.isoformat(), "symbol": self.symbol, "summary": self.summary,
                "evidence": dict(self.evidence), "keys": sorted(self.keys)}

    def alert(self) -> AlertRaised:
        """The journaled form (an alert, so pagers and the day report see it)."""
        text = canonical_json(self.to_json()).decode("utf-8")
        return AlertRaised(trace_id="", ts_event=self.ts, severity=self.severity,
                           code=ALERT_PREFIX + self.detector,
                           message=f"{self.summary}{EVIDENCE_MARK}{text}")


def finding_of_alert(alert: AlertRaised) -> dict[str, Any] | None:
    """The finding JSON a surveillance alert carries (None for any other alert)."""
    if not alert.code.startswith(ALERT_PREFIX) or EVIDENCE_MARK not in alert.message:
        return None
    try:
        found = json.loads(alert.message.split(EVIDENCE_MARK, 1)[1])
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
