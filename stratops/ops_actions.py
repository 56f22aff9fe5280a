"""The operator page's governed actions, through the CLI's own code: the kill switch
(:func:`live.governance.kill.pull`), a re-arm request (:func:`~live.governance.kill.
request_rearm`: the approval stays ``stratops rearm approve`` by a risk officer who is not
the maker), each between the audit checkpoints a CLI governance command writes, all signed
with the session key under the user's grant (:mod:`live.governance.delegation`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from live.governance.kill import KILL_MODES, pull, request_rearm
from stratops.settings import Settings

Signer = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What was recorded (``K<id>`` command or ``R<id>`` request) and any audit-checkpoint
    problem (the action itself went through)."""

    ref: str
    message: str
    checkpoint_problems: list[str] = field(default_factory=list)


def _governed(settings: Settings, sign: Signer, call: Callable[[Any], str]
              ) -> tuple[str, list[str]]:
    """``call(service)`` between an opened and a sealed audit checkpoint signed by the
    session, as ``stratops kill`` runs it; a checkpoint problem never blocks the action."""
    from live.checkpoints import CheckpointError
    from live.governance.identity import IdentityError
    from live.governance.signing import SignatureError
    from stratops.checkpoint_ops import AuditCheckpoints
    from stratops.governance_ops import audit_log, service

    svc = service(settings)
    checkpoints = AuditCheckpoints(settings, audit_log(settings), sign, svc.directory)
    problems: list[str] = []

    def step(when: str, action: Callable[[], Any]) -> bool:
        try:
            action()
        except (CheckpointError, IdentityError, SignatureError) as exc:
            problems.append(f"audit checkpoint {when} NOT written: {exc}")
            return False
        return True

    opened = step("before the action", checkpoints.open)
    try:
        ref = call(svc)
    finally:
        if opened:
            step("after the action", checkpoints.seal)
        checkpoints.release()
    return ref, problems


def kill(settings: Settings, sign: Signer, scope: str, mode: str, reason: str
         ) -> ActionResult:
    """Pull the kill switch of ``scope`` (a strategy or ``all``); a pause is ``halt``."""
    if mode not in KILL_MODES:
        raise ValueError(f"kill mode {mode!r}: one of {', '.join(KILL_MODES)}")
    ref, problems = _governed(settings, sign,
                              lambda svc: f"K{pull(svc, scope, mode, reason, sign)}")
    return ActionResult(ref, f"kill switch {ref}: {scope} -> {mode}; re-arming needs a risk "
                             "officer", problems)


def rearm_request(settings: Settings, sign: Signer, scope: str, reason: str) -> ActionResult:
    """File a re-arm (resume) request for ``scope``: a maker's half only."""
    ref, problems = _governed(settings, sign,
                              lambda svc: request_rearm(svc, scope, reason, sign).ref)
    return ActionResult(ref, f"{ref}: re-arm {scope} requested; a risk officer who is not "
                             f"you approves it: stratops rearm approve {ref}", problems)
