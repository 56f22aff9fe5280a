"""Which desk commands a runner obeys: the admission rule for signed kill and re-arm commands.

A kill (halt, reduce, flatten) is always applied - one whose signature does not verify too,
with an alert, because the safe failure is toward halting. A re-arm (``off``) is applied only
when its maker/checker signatures verify, its approval was not used before (a copied command
row replays the same approval nonce) and its request had seen the newest kill of its scope
(an approval cannot lift a kill pulled after it was asked for). What the gate remembers is
rebuilt from the journal's ``KillSwitchChanged`` reasons, so a restart obeys the same rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KILL_COMMAND_ALERT = "kill_command_refused"
_COMMAND = re.compile(r"K(\d+): ")
_NONCE = re.compile(r" \[approval ([0-9a-f]{32})\]$")


def command_of(text: str) -> int | None:
    """The command id a journaled reason or alert starts with (``K12: ...``)."""
    found = _COMMAND.match(text)
    return int(found.group(1)) if found else None


def nonce_note(nonce: str) -> str:
    """The suffix that records a re-arm's approval nonce in its journaled reason."""
    return f" [approval {nonce}]" if nonce else ""


@dataclass
class KillGate:
    """The newest desk kill applied per scope and the re-arm approvals already used."""

    newest_kill: dict[str, int] = field(default_factory=dict)
    used_approvals: set[str] = field(default_factory=set)

    def admit(self, command: Any) -> tuple[bool, str | None]:
        """(apply it?, the alert to raise or None)."""
        if command.mode != "off":
            if not command.verified:
                return True, (f"{command.mode} applied although its signature does not "
                              f"verify (fail closed): {command.problem}")
            return True, None
        if not command.verified:
            return False, f"re-arm of {command.scope} ignored: {command.problem}"
        if command.nonce in self.used_approvals:
            return False, (f"re-arm of {command.scope} ignored: its approval was already used "
                           "(a replayed command)")
        newest = self.newest_kill.get(command.scope, 0)
        if command.after_command < newest:
            return False, (f"re-arm of {command.scope} ignored: it was requested before kill "
                           f"K{newest}; request a new re-arm")
        return True, None

    def note(self, scope: str, off: bool, reason: str) -> int | None:
        """Remember a journaled switch change; the desk command id it came from, if any."""
        command = command_of(reason)
        if command is None:
            return None
        if off:
            nonce = _NONCE.search(reason)
            if nonce:
                self.used_approvals.add(nonce.group(1))
        else:
            self.newest_kill[scope] = max(self.newest_kill.get(scope, 0), command)
        return command
