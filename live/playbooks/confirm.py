"""Confirm-first playbook steps: the proposals a runner journaled, and their signed
confirmation - a desk kill command (:func:`live.governance.kill.pull`, so only a desk head
or a risk officer can confirm) whose reason names the proposal. The runner applies it like
any kill and journals it as ``confirmed`` under the alert's trace."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from live.events import Message, PlaybookActed
from live.governance.kill import pull
from live.governance.promotion import GovernanceService, Signer
from live.playbooks.engine import confirm_reason
from live.playbooks.spec import ACTIONS


@dataclass
class Proposals:
    """The proposals of one journal and which of them were confirmed."""

    open: dict[str, PlaybookActed] = field(default_factory=dict)
    confirmed: dict[str, PlaybookActed] = field(default_factory=dict)

    @classmethod
    def from_journal(cls, messages: Iterable[tuple[int, Message]]) -> Proposals:
        found = cls()
        for _, message in messages:
            if not isinstance(message, PlaybookActed) or not message.proposal:
                continue
            if message.outcome == "proposed":
                found.open[message.proposal] = message
            elif message.outcome == "confirmed":
                found.confirmed[message.proposal] = message
        return found

    def waiting(self) -> list[PlaybookActed]:
        return [p for key, p in self.open.items() if key not in self.confirmed]


def confirm(service: GovernanceService, proposals: Proposals, proposal: str,
            signer: Signer) -> int:
    """Sign the kill command that confirms ``proposal``; its command id. Refused (and
    audited) when the journal holds no such proposal or it was already confirmed."""
    action = "playbook_confirm"
    event = proposals.open.get(proposal)
    if event is None:
        waiting = sorted(p.proposal for p in proposals.waiting())
        raise service.refuse("unknown", action, f"no playbook proposal {proposal!r} in the "
                             f"journal (waiting: {waiting})", subject=proposal)
    if proposal in proposals.confirmed:
        raise service.refuse("unknown", action, f"{proposal} was already confirmed: "
                             f"{proposals.confirmed[proposal].detail}", subject=proposal)
    mode = ACTIONS.get(event.action)
    if mode is None:
        raise service.refuse("unknown", action, f"{proposal} is a {event.action!r} step; only "
                             "pause/reduce/flatten are confirmed", subject=proposal)
    return pull(service, event.scope, mode,
                confirm_reason(proposal, event.playbook, event.alert_code), signer)
