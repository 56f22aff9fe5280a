"""``stratops live reconcile`` per ensemble version: the members a runner started under an
ensemble (their ``ModeChanged``: ``runner started with v3 (...) under ensemble_nifty v1``)
reconciled against the **ensemble's** simulation (:func:`live.ensemble_canary.member_reports`,
the canary evidence's), reported under the ensemble, not each member against its own
simulation (which knows nothing of the entries the ensemble resolved away)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from live.backtest_reconciliation import DayReport
from live.ensemble_canary import member_reports, members_of
from live.events import ModeChanged
from live.journal import Journal
from strategies.confidence import ConfidenceSizing

_UNDER = re.compile(r" under (ensemble_[a-z0-9_]+) v(\d+)(;|$)")


def ensembles_in(journal: Journal) -> dict[str, tuple[str, int]]:
    """Each member's ensemble version at its last runner start in ``journal`` (member ->
    (ensemble, version)); a member whose last start was on its own is not in it."""
    found: dict[str, tuple[str, int]] = {}
    for _, m in journal.read():
        if isinstance(m, ModeChanged) and m.reason.startswith("runner started"):
            hit = _UNDER.search(m.reason)
            if hit is None:
                found.pop(m.strategy, None)
            else:
                found[m.strategy] = (hit.group(1), int(hit.group(2)))
    return found


@dataclass(frozen=True, slots=True)
class EnsembleReconciliation:
    """One ensemble version's run: its symbol and resolver, each member's version and daily
    reports; ``problem``: why its members cannot be simulated (one break)."""

    name: str
    version: int
    symbol: str = ""
    resolver: str = ""
    members: tuple[tuple[str, int, list[DayReport]], ...] = ()
    problem: str | None = None

    @property
    def breaks(self) -> int:
        return (1 if self.problem is not None else 0) + sum(
            len(r.breaks) for _, _, reports in self.members for r in reports)


def reconcile_ensembles(journal: Journal, registry: Any, *, max_sessions: int = 5,
                        sizing: ConfidenceSizing | None = None
                        ) -> list[EnsembleReconciliation]:
    """Every ensemble version the journal's members last ran under, its members against its
    simulation; a manifest or member that cannot be read is one break naming why."""
    out = []
    for name, version in sorted(set(ensembles_in(journal).values())):
        try:
            manifest, members = members_of(registry, name, version)
            found = member_reports(journal, name, version, manifest, members,
                                   max_sessions=max_sessions, sizing=sizing)
        except (LookupError, ValueError) as exc:
            out.append(EnsembleReconciliation(name, version, problem=str(exc)))
            continue
        reports = [] if found is None else found.reports
        out.append(EnsembleReconciliation(
            name, version, manifest.symbol, manifest.resolver,
            tuple((m.strategy, m.version, [r for r in reports if r.strategy == m.strategy])
                  for m in manifest.members)))
    return out
