"""The runner's remediation room: what ``playbooks.yaml`` says to do about an alert, carried
out through the existing controls and journaled under the alert's trace.

Every ``AlertRaised`` the bus carries is queued (alerts are raised mid-bar, inside other
rooms' work); the queue is worked at the safe points - before a bar's controls, after its
close, and between bars - by :meth:`Remediation.remediate`. A pause, reduce or flatten is the
kill switch (:meth:`~live.runner.controls.Controls.switch`, actor ``playbook:<name>``:
exits are never blocked; a person re-arms with maker/checker as for any kill). A
confirm-first step is only journaled as proposed; its signed confirmation is a desk kill
command (``stratops playbook confirm``) the runner applies like any other, noted here as
``confirmed`` under the alert's trace. A reroute tells the smart order router to send new
entries elsewhere; a page is journaled for the alert-delivery worker. Restart-safe: the
journal's ``PlaybookActed`` events give back the rate limits, proposals and reroutes, and an
alert journaled but not yet handled is handled after the restart (within its window).
"""

from __future__ import annotations

import re
from datetime import datetime

from live.events import (
    KILL_SCOPE_ALL,
    AlertRaised,
    KillSwitchChanged,
    PlaybookActed,
    alert_trace_id,
)
from live.playbooks.engine import PlaybookEngine, Step
from live.runner.core import RunnerCore
from live.runner.feed import FeedBar

PLAYBOOK_ALERTS = "playbook"  # codes starting with it are never remediated (no loops)
_CONFIRMED = re.compile(r"^K(\d+): playbook (PB[0-9a-f]{10}) confirmed")
_WORDS = re.compile(r"[A-Za-z0-9_]+")


def _trace_of(alert: AlertRaised) -> str:
    return alert.trace_id or alert_trace_id(alert.ts_event, alert.code, alert.message)


class Remediation(RunnerCore):
    """Playbook steps for the alerts the runner journals (see the module docstring)."""

    playbooks: PlaybookEngine | None
    remedy_queue: list[AlertRaised]

    def listen_for_alerts(self) -> None:
        """Subscribe to the bus (once, at construction)."""
        self.bus.subscribe(AlertRaised.KIND, self.queue_alert)  # type: ignore[arg-type]
        self.bus.subscribe(KillSwitchChanged.KIND, self._on_switch)  # type: ignore[arg-type]

    def queue_alert(self, alert: AlertRaised) -> None:
        """An alert the playbooks may act on (live, or folded back from the journal)."""
        if self.playbooks is not None and not alert.code.startswith(PLAYBOOK_ALERTS) and \
                self.playbooks.wants(alert.code):
            self.remedy_queue.append(alert)

    def note_playbook(self, event: PlaybookActed) -> None:
        """A journaled step folded back: its memory, and a reroute made again."""
        if self.playbooks is None:
            return
        self.playbooks.note(event)
        if event.action == "reroute" and event.outcome == "applied":
            self._reroute(event.scope)
        self.remedy_queue = [a for a in self.remedy_queue if not self._answered(a)]

    def _answered(self, alert: AlertRaised) -> bool:
        """Every playbook without a strategy filter that answers ``alert`` has journaled its
        step (folded back: it leaves the queue, which would otherwise grow on a hot
        standby)."""
        assert self.playbooks is not None
        trace = _trace_of(alert)
        return all((trace, p.name) in self.playbooks.handled
                   for p in self.playbooks.book.matching(alert.code, alert.severity, None))

    def remediate(self, ts: datetime) -> None:
        """Work the queued alerts at market time ``ts`` (a safe point of the loop)."""
        while self.remedy_queue and self.playbooks is not None:
            alert = self.remedy_queue.pop(0)
            trace = _trace_of(alert)
            strategy = self.alert_strategy(alert)
            for step in self.playbooks.steps(trace, alert.ts_event, alert.code,
                                             alert.severity, strategy, ts):
                self._do_step(step, alert, trace, max(ts, alert.ts_event))

    def alert_strategy(self, alert: AlertRaised) -> str | None:
        """The deployed strategy an alert is about: the first one its message names, else
        the strategy of the order under its trace; None when it names none."""
        names = {d.strategy for d in self.deployed}
        found = next((w for w in _WORDS.findall(alert.message) if w in names), None)
        if found is None and alert.trace_id:
            found = next((o.strategy for o in self.state.orders.values()
                          if o.trace_id == alert.trace_id), None)
        return found

    def _do_step(self, step: Step, alert: AlertRaised, trace: str, ts: datetime) -> None:
        playbook, outcome, detail = step.playbook, step.outcome, step.detail
        if outcome == "apply":
            outcome, detail = "applied", self._apply(step, alert, trace, ts)
            if detail.startswith("refused: "):
                outcome, detail = "refused", detail.removeprefix("refused: ")
        event = PlaybookActed(trace_id=trace, ts_event=ts, playbook=playbook.name,
                              alert_code=alert.code, action=playbook.action, scope=step.scope,
                              outcome="proposed" if outcome == "propose" else outcome,
                              proposal=step.proposal, detail=detail)
        self.executor.record(event)
        self.playbooks.note(event)  # type: ignore[union-attr]  # remediate checked it

    def _apply(self, step: Step, alert: AlertRaised, trace: str, ts: datetime) -> str:
        """Carry out an auto step now; what was done (or ``refused: why``)."""
        playbook = step.playbook
        mode = playbook.kill_mode
        if mode is not None:
            bar = self._bar_at(ts)
            before = self.state.kill_switches.get(step.scope)
            self.switch(bar, step.scope, mode, f"playbook:{playbook.name}",
                        f"playbook {playbook.name} on {alert.code}: {alert.message}"[:500],
                        trace=trace)
            if mode == "flatten":
                for symbol in sorted(self.history):  # every symbol now, not at its bar
                    if len(self.history[symbol]):
                        self._flatten(self._quote(symbol, ts))
            now = self.state.kill_switches.get(step.scope)
            return f"kill switch {step.scope}: {before or 'off'} -> {now}" + \
                ("" if step.scope != KILL_SCOPE_ALL or playbook.scope == "all" else
                 " (the alert names no deployed strategy: every strategy, failing closed)")
        if playbook.action == "reroute":
            return self._reroute(step.scope)
        return f"page tier {playbook.page_tier}: {alert.severity} {alert.code}: {alert.message}"

    def _reroute(self, venue: str) -> str:
        avoid = getattr(self.broker, "avoid", None)
        if avoid is None:
            return (f"refused: broker {getattr(self.broker, 'name', '?')!r} routes to one "
                    "account; a reroute needs the smart order router (live.venues)")
        try:
            avoid(venue)
        except ValueError as exc:  # BrokerInputError: unknown or last venue
            return f"refused: {exc}"
        return f"new entries rerouted away from venue {venue}"

    def _bar_at(self, ts: datetime) -> FeedBar:
        """The latest symbol's last price at ``ts`` (before any bar: an empty quote, enough
        for a halt or reduce - nothing can be working or held yet)."""
        symbol = self._latest_symbol()
        if symbol is None:
            return FeedBar("", ts, 0.0, 0.0, 0.0, 0.0, 0.0)
        return self._quote(symbol, ts)

    def _on_switch(self, event: KillSwitchChanged) -> None:
        """A desk kill that confirms a proposal: journaled as ``confirmed`` under the
        alert's trace (the kill itself took effect through the kill channel)."""
        found = _CONFIRMED.match(event.reason)
        if found is None or self.playbooks is None:
            return
        proposal = self.playbooks.proposals.get(found.group(2))
        if proposal is None or proposal.proposal in self.playbooks.confirmed:
            return
        signed = not event.actor.startswith("unverified:")
        confirmed = PlaybookActed(
            trace_id=proposal.trace_id, ts_event=event.ts_event, playbook=proposal.playbook,
            alert_code=proposal.alert_code, action=proposal.action, scope=event.scope,
            outcome="confirmed" if signed else "refused", proposal=proposal.proposal,
            detail=f"K{found.group(1)} by {event.actor}: kill switch {event.scope} -> "
                   f"{event.mode}" + ("" if signed else " (its signature does not verify: "
                                      "applied as a kill, not as a confirmation)"))
        self.executor.record(confirmed)
        self.playbooks.note(confirmed)
