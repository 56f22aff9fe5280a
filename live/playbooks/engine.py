"""What the playbooks call for when an alert arrives: pure, folded from the journal.

:meth:`PlaybookEngine.steps` answers, for one alert, each matching playbook's step - act now
(``apply``), propose and wait for a signed confirmation (``propose``) or nothing because the
playbook's rate limit is spent (``rate_limited``). The rate limits and open proposals are
remembered from the journaled :class:`~live.events.PlaybookActed` events (:meth:`note`), so
a restarted runner limits exactly as the one before it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from live.canonical import digest
from live.events import KILL_SCOPE_ALL, PlaybookActed, Severity
from live.playbooks.spec import SCOPE_ALERT, Playbook, Playbooks

COUNTED = ("applied", "proposed")  # what spends a rate limit


def proposal_id(trace_id: str, playbook: str) -> str:
    """The id ``stratops playbook confirm`` takes for a confirm-first step (deterministic)."""
    return "PB" + digest({"trace": trace_id, "playbook": playbook})[:10]


def confirm_reason(proposal: str, playbook: str, code: str) -> str:
    """The reason a confirmation's kill command carries (the runner recognises it)."""
    return f"playbook {proposal} confirmed: {playbook} on {code}"


@dataclass(frozen=True, slots=True)
class Step:
    """One playbook's answer to one alert."""

    playbook: Playbook
    scope: str  # "all", a strategy, or (reroute) the venue left
    outcome: str  # apply | propose | rate_limited
    proposal: str = ""
    detail: str = ""


@dataclass
class PlaybookEngine:
    """The playbooks with their memory (rate-limit history, proposals, handled alerts)."""

    book: Playbooks
    acted: dict[tuple[str, str], list[datetime]] = field(
        default_factory=lambda: defaultdict(list))
    proposals: dict[str, PlaybookActed] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    handled: set[tuple[str, str]] = field(default_factory=set)  # (alert trace, playbook)

    def wants(self, code: str) -> bool:
        """Whether any playbook names ``code`` (cheap filter before attribution)."""
        return any(code in p.codes for p in self.book.playbooks)

    def steps(self, trace_id: str, ts: datetime, code: str, severity: Severity,
              strategy: str | None, now: datetime) -> list[Step]:
        """Each matching playbook's step for the alert ``trace_id`` raised at ``ts``, acted
        on at ``now``: an alert already handled, or older than its playbook's window (one
        found in the journal after a restart, from before the playbook existed), gets none."""
        found = []
        for playbook in self.book.matching(code, severity, strategy):
            window = timedelta(seconds=playbook.rate_limit.window_seconds)
            if (trace_id, playbook.name) in self.handled or ts < now - window:
                continue
            scope = self.scope_of(playbook, strategy)
            recent = [t for t in self.acted[(playbook.name, scope)] if t > now - window]
            if len(recent) >= playbook.rate_limit.max_actions:
                found.append(Step(playbook, scope, "rate_limited",
                                  detail=f"rate limit reached: {len(recent)} action(s) on "
                                         f"{scope} in the last "
                                         f"{playbook.rate_limit.window_seconds}s (max "
                                         f"{playbook.rate_limit.max_actions})"))
            elif playbook.mode == "confirm":
                proposal = proposal_id(trace_id, playbook.name)
                found.append(Step(playbook, scope, "propose", proposal,
                                  f"waiting for a signed confirmation: stratops playbook "
                                  f"confirm {proposal}"))
            else:
                found.append(Step(playbook, scope, "apply"))
        return found

    @staticmethod
    def scope_of(playbook: Playbook, strategy: str | None) -> str:
        if playbook.action == "reroute":
            return playbook.reroute_from
        if playbook.scope == SCOPE_ALERT:
            return strategy if strategy is not None else KILL_SCOPE_ALL  # fail closed
        return playbook.scope

    def note(self, event: PlaybookActed) -> None:
        """Remember a journaled step (live, or folded back after a restart)."""
        self.handled.add((event.trace_id, event.playbook))
        if event.outcome in COUNTED:
            self.acted[(event.playbook, event.scope)].append(event.ts_event)
        if event.outcome == "proposed":
            self.proposals[event.proposal] = event
        elif event.outcome == "confirmed":
            self.confirmed.add(event.proposal)
