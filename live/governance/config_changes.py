"""Maker/checker for reviewed configuration: request a file's current content, a risk
officer (never the maker) approves it into a new signed config version."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from live.canonical import digest
from live.governance import store
from live.governance.configs import KINDS
from live.governance.policy import PolicyConfigError, load_policy
from live.governance.promotion import GovernanceRefusal, GovernanceService, Signer
from pipelines.research.gates import GateConfigError, load_gates

MAKER_ROLES = ("quant", "desk_head", "risk_officer")
CHECKER_ROLE = "risk_officer"


def _validate(service: GovernanceService, kind: str) -> str | None:
    """Why the file on disk is not a valid ``kind`` config, or None."""
    path = service.configs.path(kind)
    if not path.is_file():
        return f"{path} does not exist"
    try:
        if kind == "gates":
            load_gates(path, service.known_strategies or None)
        elif kind == "policy":
            load_policy(path, service.known_strategies or None)
        else:
            from live.risk.limits import load_risk_limits  # the risk engine's own validator

            load_risk_limits(path)
    except (GateConfigError, PolicyConfigError, ValueError, ImportError) as exc:
        return str(exc)
    return None


def request_config(service: GovernanceService, kind: str, reason: str,
                   signer: Signer) -> store.RequestRow:
    """Maker: propose the current content of ``kind``'s file as its next version."""
    action = "config_request"
    if kind not in KINDS:
        raise service.refuse("unknown", action, f"config kind {kind!r} not in {list(KINDS)}")
    path = service.configs.path(kind)
    content = path.read_text() if path.is_file() else ""
    sha = hashlib.sha256(content.encode()).hexdigest()
    payload = {"action": action, "kind": kind, "file": path.name, "sha256": sha,
               "reason": reason}
    actor, signature = service._signed(payload, signer, MAKER_ROLES, None)
    problem = _validate(service, kind) or (None if reason.strip() else "a reason is required")
    if problem is None and service.configs.approved(kind) is not None \
            and service.configs.approved(kind)[1] == sha:  # type: ignore[index]
        problem = f"{path.name} is already the approved version"
    if problem is not None:
        raise service.refuse(actor, action, problem)

    def work(conn: sa.Connection) -> store.RequestRow:
        service._consume(conn, signature, actor, action, None)
        request_id = store.insert_request(
            conn, kind="config", subject=kind, payload=payload, maker=actor,
            signature=signature.to_dict(), created_at=service._now(), content=content)
        service.audit.append_in(conn, ts=service.clock(), kind="config_requested",
                                actor=actor, subject=f"R{request_id}",
                                detail={"payload": payload, "signature": signature.to_dict()})
        row = store.get_request(conn, request_id)
        assert row is not None
        return row

    return service._commit(work)


def approve_config(service: GovernanceService, ref: str, signer: Signer) -> int:
    """Checker (risk officer, never the maker): the requested content becomes the next
    approved version, provided the file on disk still has exactly that content."""
    action = "config_approve"
    row = service._request(ref, "unknown", action)
    payload = {"action": action, "request_id": row.ref, "request_digest": digest(row.payload)}
    actor, signature = service._signed(payload, signer, CHECKER_ROLE, None)
    problem = None
    if row.kind != "config":
        problem = f"{row.ref} is a {row.kind} request"
    elif actor == row.maker:
        problem = f"{actor!r} made {row.ref}: maker and checker must be different people"
    elif row.state != "pending":
        problem = f"{row.ref} is already {row.state} by {row.decided_by}"
    elif service.configs.digest(row.subject) != row.payload["sha256"]:
        problem = (f"{service.configs.path(row.subject).name} changed since {row.ref} was "
                   "requested; request the new content")
    if problem is not None:
        raise service.refuse(actor, action, problem, subject=row.ref)

    def work(conn: sa.Connection) -> int:
        service._consume(conn, signature, actor, action, None)
        decision = {"payload": payload, "signature": signature.to_dict()}
        if not store.decide_request(conn, row.id, state="approved", decided_by=actor,
                                    decision=decision, decided_at=service._now()):
            raise service._deferred_refusal(actor, action, f"{row.ref} was decided "
                                            "concurrently", None)
        version = store.insert_config(conn, kind=row.subject, sha256=row.payload["sha256"],
                                      content=row.content or "", request_id=row.id,
                                      approved_by=actor, approved_at=service._now())
        service.audit.append_in(conn, ts=service.clock(), kind="config_approved", actor=actor,
                                subject=row.ref, detail={"kind": row.subject,
                                                         "version": version,
                                                         "sha256": row.payload["sha256"],
                                                         "approval": decision})
        return version

    return service._commit(work)


__all__ = ["GovernanceRefusal", "approve_config", "request_config"]
