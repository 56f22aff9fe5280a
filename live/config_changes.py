"""Maker/checker for reviewed configuration: request a file's current content, a risk
officer (never the maker) approves it into a new signed config version.

It sits beside ``live.governance`` and ``live.risk``, not inside either: it validates a
``risk.yaml`` with the risk engine's own validator, and the risk engine reads the governance
policy, so inside governance it would close an import cycle."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from live.canonical import digest
from live.governance import store, trust
from live.governance.configs import KINDS
from live.governance.identity import IdentityError, parse_directory
from live.governance.policy import PolicyConfigError, load_policy
from live.governance.promotion import GovernanceRefusal, GovernanceService, Signer
from live.playbooks.spec import load_playbooks

MAKER_ROLES = ("quant", "desk_head", "risk_officer")
CHECKER_ROLE = "risk_officer"
ROLES = "roles"  # the trust file: approved into the trust lock, not the database


def _validate(service: GovernanceService, kind: str) -> str | None:
    """Why the file on disk is not a valid ``kind`` config, or None."""
    path = service.configs.path(kind)
    if not path.is_file():
        return f"{path} does not exist"
    try:
        if kind == "gates":
            service.configs.gates(service.known_strategies, path)
        elif kind == "policy":
            load_policy(path, service.known_strategies or None)
        elif kind == "playbooks":
            load_playbooks(path, service.known_strategies or None)
        elif kind == "compliance":
            from live.compliance_rules.config import load_compliance  # the controls' own validator

            load_compliance(path)
        else:
            from live.risk.limits import load_risk_limits  # the risk engine's own validator

            load_risk_limits(path)
    except (PolicyConfigError, ValueError, ImportError) as exc:  # GateConfigError: ValueError
        return str(exc)
    return None


def _roles_request(service: GovernanceService, reason: str
                   ) -> tuple[dict[str, Any], str, str | None]:
    """The payload proposing ``roles.yaml`` as the next trust lock entry, and why not."""
    if service.trust is None:
        return {}, "", "this governance service has no trust lock to change"
    path = service.trust.roles_path
    content = path.read_text() if path.is_file() else ""
    sha = hashlib.sha256(content.encode()).hexdigest()
    payload = trust.request_payload(sha, service.trust.head_sha, reason, path.name)
    try:
        parse_directory(content.encode(), str(path))
    except IdentityError as exc:
        return payload, content, str(exc)
    if sha == service.trust.head_sha:
        return payload, content, f"{path.name} is already the approved version"
    return payload, content, None


def _file_request(service: GovernanceService, kind: str, reason: str
                  ) -> tuple[dict[str, Any], str, str | None]:
    path = service.configs.path(kind)
    content = path.read_text() if path.is_file() else ""
    sha = hashlib.sha256(content.encode()).hexdigest()
    payload = {"action": "config_request", "kind": kind, "file": path.name, "sha256": sha,
               "reason": reason}
    problem = _validate(service, kind)
    approved = service.configs.approved(kind)
    if problem is None and approved is not None and approved[1] == sha:
        problem = f"{path.name} is already the approved version"
    return payload, content, problem


def request_config(service: GovernanceService, kind: str, reason: str,
                   signer: Signer) -> store.RequestRow:
    """Maker: propose the current content of ``kind``'s file as its next version."""
    action = "config_request"
    if kind not in (*KINDS, ROLES):
        raise service.refuse("unknown", action, f"config kind {kind!r} not in "
                             f"{[*KINDS, ROLES]}")
    build = _roles_request if kind == ROLES else \
        lambda svc, why: _file_request(svc, kind, why)
    payload, content, problem = build(service, reason)
    if not payload:
        raise service.refuse("unknown", action, problem or "no payload")
    actor, signature = service._signed(payload, signer, MAKER_ROLES, None)
    problem = problem or (None if reason.strip() else "a reason is required")
    if problem is not None:
        raise service.refuse(actor, action, problem)

    return service.record_request(kind="config", subject=kind, payload=payload,
                                  signature=signature, actor=actor, action=action,
                                  content=content)


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
    elif service.same_person(service.maker_of(row, actor, action), actor, signature):
        problem = f"{actor!r} made {row.ref}: maker and checker must be different people"
    elif row.state != "pending":
        problem = f"{row.ref} is already {row.state} by {row.decided_by}"
    else:
        problem = service.earlier_decision(row) or _stored_content_problem(row) or \
            _content_problem(service, row)
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
        if row.subject == ROLES:  # the trust lock: last, so a failed write rolls back all
            _append_trust(service, row, decision)
        service.audit.append_in(conn, ts=service.clock(), kind="config_approved", actor=actor,
                                subject=row.ref, detail={"kind": row.subject,
                                                         "version": version,
                                                         "sha256": row.payload["sha256"],
                                                         "approval": decision})
        return version

    return service._commit(work)


def _stored_content_problem(row: store.RequestRow) -> str | None:
    """The kind and content stored with the request (what becomes the approved version, and
    for roles the trust lock entry) must be the kind and content whose SHA-256 the maker
    signed: the ``subject`` and ``content`` columns are not signed, and an insider could
    swap them while the request waits."""
    if row.payload.get("kind") != row.subject:  # the approved version is the subject's
        return (f"{row.ref}: the subject column says {row.subject!r} but its maker signed a "
                f"{row.payload.get('kind')!r} change (an edited row)")
    stored = hashlib.sha256((row.content or "").encode()).hexdigest()
    if stored != row.payload.get("sha256"):
        return (f"{row.ref}'s stored content (sha {stored[:12]}) is not what its maker signed "
                f"(sha {str(row.payload.get('sha256'))[:12]}): the request row was edited; "
                "request the change again")
    return None


def _content_problem(service: GovernanceService, row: store.RequestRow) -> str | None:
    """The file on disk must still be the requested content (and, for roles, the trust
    lock still at the head the request named)."""
    if row.subject == ROLES:
        if service.trust is None:
            return "this governance service has no trust lock to change"
        if row.payload.get("previous") != service.trust.head_sha:
            return (f"the trust lock moved since {row.ref} was requested (head is now entry "
                    f"{service.trust.head_seq}); request again")
        path = service.trust.roles_path
        now = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "none"
    else:
        path = service.configs.path(row.subject)
        now = service.configs.digest(row.subject)
    if now != row.payload["sha256"]:
        return f"{path.name} changed since {row.ref} was requested; request the new content"
    return None


def _append_trust(service: GovernanceService, row: store.RequestRow,
                  decision: dict[str, Any]) -> None:
    assert service.trust is not None
    lock = service.trust.lock_path
    entry = trust.new_entry(trust.read_lock(lock), row.content or "",
                            {"payload": row.payload, "signature": row.maker_signature},
                            decision)
    trust.append_verified(lock, entry)


__all__ = ["GovernanceRefusal", "approve_config", "request_config"]
