"""A rollback as a maker/checker request: the runner's strategy health monitor (signing as
the runner's service identity) or a quant proposes that live return to the previous live
version; a desk head - never the maker - approves it (``stratops promote approve R<n>``),
which moves the deployment and the aliases exactly as :meth:`GovernanceService.rollback`
does. The proposer never moves an alias.

Re-checked at approval: the maker's signature over the stored payload, maker != checker,
the request still pending, and live still at the version the request was about (a live
that moved since is refused: the request is stale) with the same previous version.
"""

from __future__ import annotations

import sqlalchemy as sa

from live.canonical import digest
from live.governance import store
from live.governance.promotion import (
    DeploymentCheck,
    GovernanceService,
    Signer,
    previous_live,
)

ROLLBACK_MAKERS = ("runner", "quant", "risk_officer")  # who may propose a rollback
ROLLBACK_KIND = "rollback"


def _live_pair(service: GovernanceService, strategy: str
               ) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(the current live deployment, the one before it), each (version, snapshot id)."""
    with service.engine.connect() as conn:
        current = store.deployments(conn, strategy).get((strategy, "live"))
        history = store.live_history(conn, strategy)
    return current, previous_live(history, current)


def request_rollback(service: GovernanceService, strategy: str, version: int, reason: str,
                     signer: Signer) -> store.RequestRow:
    """Maker: propose that live ``strategy`` return from v``version`` to the previous live
    version. A pending proposal for the same live version is returned instead of a second
    one (a restarted runner observing the same breach again)."""
    action = "rollback_request"
    current, previous = _live_pair(service, strategy)
    payload = {"action": action, "strategy": strategy, "from_version": int(version),
               "to_version": previous[0] if previous else None, "reason": reason}
    actor, signature = service._signed(payload, signer, ROLLBACK_MAKERS, strategy)
    if not reason.strip():
        raise service.refuse(actor, action, "a reason is required", strategy)
    if current is None or current[0] != int(version):
        live = "no live version" if current is None else f"live is v{current[0]}"
        raise service.refuse(actor, action, f"{strategy} v{version} is not live ({live})",
                             strategy)
    if previous is None:
        raise service.refuse(actor, action, f"{strategy} has no previous live version to "
                             "roll back to", strategy)
    for row in service.requests(strategy, "pending"):
        if row.kind == ROLLBACK_KIND and row.payload.get("from_version") == int(version):
            return row
    return service.record_request(kind=ROLLBACK_KIND, subject=strategy, payload=payload,
                                  signature=signature, actor=actor, action=action,
                                  strategy=strategy)


def approve_request(service: GovernanceService, ref: str, signer: Signer) -> DeploymentCheck:
    """Checker: approve pending request ``ref`` - a rollback proposal here, a promotion
    through :meth:`GovernanceService.approve` (what ``stratops promote approve`` runs)."""
    row = service._request(ref, "unknown", "promotion_approve")
    if row.kind == ROLLBACK_KIND:
        return approve_rollback(service, row, signer)
    return service.approve(ref, signer)


def approve_rollback(service: GovernanceService, row: store.RequestRow,
                     signer: Signer) -> DeploymentCheck:
    """Checker (desk head, never the maker): carry out a pending rollback request."""
    action = "rollback_approve"
    strategy = row.subject
    payload = {"action": action, "request_id": row.ref, "request_digest": digest(row.payload)}
    actor, signature = service._signed(payload, signer, "desk_head", strategy)
    maker = service.maker_of(row, actor, action)
    if service.same_person(maker, actor, signature):
        raise service.refuse(actor, action, f"{actor!r} made {row.ref}: maker and checker "
                             "must be different people", strategy, row.ref)
    if row.state != "pending":
        raise service.refuse(actor, action, f"{row.ref} is already {row.state} by "
                             f"{row.decided_by}", strategy, row.ref)
    decided = service.earlier_decision(row)
    if row.payload.get("strategy") != strategy:  # the subject column is not signed
        decided = (f"{row.ref}: the subject column says {strategy!r} but its maker signed a "
                   f"rollback of {row.payload.get('strategy')!r} (an edited row)")
    if decided is not None:
        raise service.refuse(actor, action, decided, strategy, row.ref)
    current, previous = _live_pair(service, strategy)
    if current is None or previous is None or current[0] != row.payload.get("from_version") \
            or previous[0] != row.payload.get("to_version"):
        now = "no live version" if current is None else f"live is v{current[0]}"
        raise service.refuse(actor, action, f"{row.ref} is stale: it rolls "
                             f"v{row.payload.get('from_version')} back to "
                             f"v{row.payload.get('to_version')}, but {now}", strategy, row.ref)
    problems = service.rollback_target_problems(strategy, previous)
    if problems:  # never point live at a snapshot the runner would refuse
        raise service.refuse(actor, action, f"the previous live deployment of {strategy} "
                             f"(v{previous[0]}) does not verify: " + "; ".join(problems),
                             strategy, row.ref)

    def work(conn: sa.Connection) -> None:
        service._consume(conn, signature, actor, action, strategy)
        decision = {"payload": payload, "signature": signature.to_dict()}
        if not store.decide_request(conn, row.id, state="approved", decided_by=actor,
                                    decision=decision, decided_at=service._now()):
            raise service._deferred_refusal(actor, action, f"{row.ref} was decided "
                                            "concurrently by someone else", strategy)
        store.set_deployment(conn, strategy=strategy, stage="live", version=previous[0],
                             snapshot_id=previous[1], action="rollback", actor=actor,
                             at=service._now())
        service.audit.append_in(conn, ts=service.clock(), kind="rollback", actor=actor,
                                strategy=strategy, subject=f"v{current[0]}->v{previous[0]}",
                                detail={"request": row.ref, "maker": row.maker,
                                        "approval": decision})

    service._commit(work)
    service.sync_aliases(strategy)
    return service.verify_deployment(strategy, "live")
