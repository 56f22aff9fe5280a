"""The kill switch's control channel: signed commands in the governance store, read by every
runner within a second (the runner polls between bars and journals them as
``KillSwitchChanged``).

``halt``: no new entries (exits and cancels still flow); ``reduce``: only exposure-reducing
orders; ``flatten``: cancel all open entries and close all positions. Desk heads and risk
officers may pull it; re-arming (``off``) is maker/checker: anyone on the desk requests it, a
risk officer who is not the requester approves it.

Every command row carries its signed document (the puller's signature, or the re-arm's
request and approval signatures), and the runner trusts the document, never the row:
:func:`verified_commands` checks it against the trusted roles. A kill whose signature does
not verify still takes effect (fail closed toward halting) and is alerted and audited; an
``off`` that does not verify, or that was approved before a later kill of its scope, is
ignored, alerted and audited.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from live.canonical import canonical_json, digest
from live.governance import store
from live.governance.audit import AuditLog
from live.governance.identity import Directory, IdentityError
from live.governance.promotion import GovernanceService, Signer
from live.governance.signing import Signature, SignatureError

KILL_MODES = ("halt", "reduce", "flatten")
PULLERS = ("desk_head", "risk_officer")
REARM_MAKERS = ("quant", "desk_head", "risk_officer")

COMMANDS = sa.Table(
    "gov_kill_commands", store.METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(100), nullable=False),  # "all" or a strategy
    sa.Column("mode", sa.String(20), nullable=False),  # halt | reduce | flatten | off
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("document", sa.Text, nullable=True),  # canonical JSON of the signatures
)


@dataclass(frozen=True, slots=True)
class KillCommand:
    """A command as a runner applies it: ``actor`` is the verified signer, or
    ``unverified:<claimed>`` with ``problem`` saying why it is not trusted."""

    id: int
    scope: str
    mode: str
    actor: str
    reason: str
    created_at: str
    verified: bool = True
    problem: str = ""
    after_command: int = 0  # an off: the newest command id its request had seen
    nonce: str = ""  # an off: the approval's nonce (each approval re-arms once)


_SCHEMA_READY: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def ensure_schema(engine: sa.Engine) -> None:
    """Create the tables; add the ``document`` column to a store made before it existed.
    Once per engine: runners poll commands every 200 ms and must not introspect each time."""
    if engine in _SCHEMA_READY:
        return
    store.create_tables(engine)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("gov_kill_commands")}
    if "document" not in columns:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE gov_kill_commands ADD COLUMN document TEXT"))
    _SCHEMA_READY.add(engine)


def _rows_after(engine: sa.Engine, last_id: int) -> list[Any]:
    ensure_schema(engine)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(COMMANDS).where(COMMANDS.c.id > last_id)
                                 .order_by(COMMANDS.c.id)))


def _check(directory: Directory, half: Any, roles: tuple[str, ...],
           label: str) -> tuple[str, str, dict[str, Any]]:
    """(signer, key id, payload) of one signed half; raises ValueError saying why not."""
    try:
        payload, signature = half["payload"], Signature.from_dict(half["signature"])
        user = directory.verify(payload, signature, now=signature.signed_time)
    except (KeyError, TypeError, SignatureError, IdentityError) as exc:
        raise ValueError(f"{label} signature does not verify: {exc}") from exc
    if not set(roles) & user.roles:
        raise ValueError(f"{label} signer {user.name!r} has roles {sorted(user.roles)}; "
                         f"needs one of {list(roles)}")
    return user.name, signature.key_id, dict(payload)


def _verify_row(row: Any, directory: Directory | None) -> KillCommand:
    """The row as trusted by its document, or flagged unverified with the reason."""
    claimed = KillCommand(row.id, row.scope, row.mode, f"unverified:{row.actor}"[:64],
                          row.reason, row.created_at, False)
    try:
        if directory is None:
            raise ValueError("no trust lock: no signature can be verified")
        document = json.loads(row.document) if row.document else None
        if not isinstance(document, dict):
            raise ValueError("the command carries no signed document")
        if row.mode == "off":
            return _verify_off(row, document, directory)
        signer, _, payload = _check(directory, document, PULLERS, "kill")
        if payload.get("action") != "kill_switch" or payload.get("scope") != row.scope or \
                payload.get("mode") != row.mode:
            raise ValueError(f"the signed command is {payload.get('mode')!r} for "
                             f"{payload.get('scope')!r}, the row says {row.mode!r} for "
                             f"{row.scope!r}")
        return KillCommand(row.id, row.scope, row.mode, signer, str(payload["reason"]),
                           row.created_at)
    except (ValueError, KeyError, TypeError) as exc:
        return replace(claimed, problem=str(exc))


def _verify_off(row: Any, document: Mapping[str, Any], directory: Directory) -> KillCommand:
    maker, maker_key, request = _check(directory, document.get("request"), REARM_MAKERS,
                                       "re-arm request")
    checker, checker_key, approval = _check(directory, document.get("approval"),
                                            ("risk_officer",), "re-arm approval")
    if maker == checker or maker_key == checker_key:
        raise ValueError(f"maker {maker!r} and checker {checker!r} are the same person")
    if request.get("action") != "rearm_request" or request.get("scope") != row.scope:
        raise ValueError(f"the signed re-arm is for {request.get('scope')!r}, the row says "
                         f"{row.scope!r}")
    if approval.get("action") != "rearm_approve" or \
            approval.get("request_digest") != digest(request):
        raise ValueError("the approval does not approve this re-arm request")
    nonce = Signature.from_dict(document["approval"]["signature"]).nonce
    return KillCommand(row.id, row.scope, "off", checker,
                       f"re-armed: {request.get('reason')}", row.created_at,
                       after_command=int(request.get("after_command") or 0), nonce=nonce)


def verified_commands(engine: sa.Engine, directory: Directory | None, last_id: int, *,
                      clock: Any = None) -> list[KillCommand]:
    """Commands after ``last_id``, each checked against ``directory``; an unverified one is
    audited (``kill_command_unverified``) once, here, as the runner first reads it."""
    found = [_verify_row(row, directory) for row in _rows_after(engine, last_id)]
    bad = [c for c in found if not c.verified]
    if bad and clock is not None:
        log = AuditLog(engine)
        for command in bad:
            log.append(ts=clock(), kind="refused", actor=command.actor,
                       strategy=None, subject=f"K{command.id}",
                       detail={"action": "kill_command", "mode": command.mode,
                               "scope": command.scope, "reason": command.problem,
                               "effect": "ignored" if command.mode == "off"
                               else "applied anyway (fail closed toward halting)"})
    return found


def _insert(service: GovernanceService, conn: sa.Connection, scope: str, mode: str,
            actor: str, reason: str, document: Mapping[str, Any]) -> int:
    result = conn.execute(COMMANDS.insert().values(
        scope=scope, mode=mode, actor=actor, reason=reason, created_at=service._now(),
        document=canonical_json(dict(document)).decode()))
    return _inserted_id(result)


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no primary key for a kill command")
    return int(key[0])


def latest_command_id(engine: sa.Engine) -> int:
    ensure_schema(engine)
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(COMMANDS.c.id))).scalar() or 0)


def pull(service: GovernanceService, scope: str, mode: str, reason: str,
         signer: Signer) -> int:
    """Pull the kill switch for ``scope`` ("all" or a strategy); returns the command id."""
    action = "kill_switch"
    ensure_schema(service.engine)
    payload = {"action": action, "scope": scope, "mode": mode, "reason": reason}
    actor, signature = service._signed(payload, signer, PULLERS, None)
    if mode not in KILL_MODES:
        raise service.refuse(actor, action, f"mode {mode!r} is not one of {KILL_MODES}; "
                             "re-arming is `stratops kill rearm`")
    if not reason.strip():
        raise service.refuse(actor, action, "a reason is required")

    def work(conn: sa.Connection) -> int:
        service._consume(conn, signature, actor, action, None)
        command = _insert(service, conn, scope, mode, actor, reason,
                          {"payload": payload, "signature": signature.to_dict()})
        service.audit.append_in(conn, ts=service.clock(), kind="kill_switch", actor=actor,
                                strategy=None if scope == "all" else scope,
                                subject=f"K{command}",
                                detail={"payload": payload, "signature": signature.to_dict()})
        return command

    return service._commit(work)


def pull_unsigned(engine: sa.Engine, scope: str, mode: str, reason: str, claimed: str,
                  problem: str, clock: Any) -> int:
    """Record a kill whose puller could not sign or be verified: runners apply it anyway
    (fail closed toward halting) and alert; audited as an unverified claim."""
    if mode not in KILL_MODES or not reason.strip():
        raise ValueError(f"kill mode {mode!r} / reason {reason!r}: an unsigned kill needs one "
                         f"of {KILL_MODES} and a reason")
    ensure_schema(engine)
    actor = f"unverified:{claimed}"[:64]
    with store.transaction(engine) as conn:
        result = conn.execute(COMMANDS.insert().values(
            scope=scope, mode=mode, actor=actor, reason=reason,
            created_at=clock().isoformat(), document=None))
        command = _inserted_id(result)
        AuditLog(engine).append_in(conn, ts=clock(), kind="kill_switch", actor=actor,
                                   strategy=None if scope == "all" else scope,
                                   subject=f"K{command}",
                                   detail={"mode": mode, "reason": reason, "signed": False,
                                           "problem": problem})
    return command


def request_rearm(service: GovernanceService, scope: str, reason: str,
                  signer: Signer) -> store.RequestRow:
    """Maker: ask for the kill switch of ``scope`` to be re-armed (off)."""
    action = "rearm_request"
    payload = {"action": action, "scope": scope, "reason": reason,
               "after_command": latest_command_id(service.engine)}
    actor, signature = service._signed(payload, signer, REARM_MAKERS, None)
    if not reason.strip():
        raise service.refuse(actor, action, "a reason is required")

    return service.record_request(kind="rearm", subject=scope, payload=payload,
                                  signature=signature, actor=actor, action=action)


def approve_rearm(service: GovernanceService, ref: str, signer: Signer) -> int:
    """Checker (risk officer, never the maker): re-arm; returns the ``off`` command id."""
    action = "rearm_approve"
    ensure_schema(service.engine)
    row = service._request(ref, "unknown", action)
    payload = {"action": action, "request_id": row.ref, "request_digest": digest(row.payload)}
    actor, signature = service._signed(payload, signer, "risk_officer", None)
    problem = None
    if row.kind != "rearm":
        problem = f"{row.ref} is a {row.kind} request"
    elif service.same_person(service.maker_of(row, actor, action), actor, signature):
        problem = f"{actor!r} made {row.ref}: maker and checker must be different people"
    elif row.state != "pending":
        problem = f"{row.ref} is already {row.state}"
    if problem is not None:
        raise service.refuse(actor, action, problem, subject=row.ref)

    def work(conn: sa.Connection) -> int:
        service._consume(conn, signature, actor, action, None)
        decision = {"payload": payload, "signature": signature.to_dict()}
        if not store.decide_request(conn, row.id, state="approved", decided_by=actor,
                                    decision=decision, decided_at=service._now()):
            raise service._deferred_refusal(actor, action, f"{row.ref} was decided "
                                            "concurrently", None)
        command = _insert(service, conn, row.subject, "off", actor,
                          f"re-armed ({row.ref}): {row.payload['reason']}",
                          {"request": {"payload": row.payload,
                                       "signature": row.maker_signature},
                           "approval": decision})
        service.audit.append_in(conn, ts=service.clock(), kind="rearm_approved", actor=actor,
                                subject=row.ref, detail={"command": command,
                                                         "approval": decision})
        return command

    return service._commit(work)
