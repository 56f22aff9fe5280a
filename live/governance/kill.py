"""The kill switch's control channel: signed commands in the governance store, read by every
runner at each bar (the runner journals them as ``KillSwitchChanged`` and acts).

``halt``: no new orders (cancels still flow); ``reduce``: only exposure-reducing orders;
``flatten``: cancel all open orders and close all positions. Desk heads and risk officers
may pull it; re-arming (``off``) is maker/checker: anyone on the desk requests it, a risk
officer who is not the requester approves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from live.canonical import digest
from live.governance import store
from live.governance.promotion import GovernanceService, Signer

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
)


@dataclass(frozen=True, slots=True)
class KillCommand:
    id: int
    scope: str
    mode: str
    actor: str
    reason: str
    created_at: str


def commands_after(engine: sa.Engine, last_id: int) -> list[KillCommand]:
    """Commands issued after ``last_id``, oldest first (what a runner applies next)."""
    store.create_tables(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(COMMANDS).where(COMMANDS.c.id > last_id)
                            .order_by(COMMANDS.c.id))
        return [KillCommand(r.id, r.scope, r.mode, r.actor, r.reason, r.created_at)
                for r in rows]


def _insert(service: GovernanceService, conn: sa.Connection, scope: str, mode: str,
            actor: str, reason: str) -> int:
    result = conn.execute(COMMANDS.insert().values(scope=scope, mode=mode, actor=actor,
                                                   reason=reason, created_at=service._now()))
    return int(result.inserted_primary_key[0])


def pull(service: GovernanceService, scope: str, mode: str, reason: str,
         signer: Signer) -> int:
    """Pull the kill switch for ``scope`` ("all" or a strategy); returns the command id."""
    action = "kill_switch"
    store.create_tables(service.engine)
    payload = {"action": action, "scope": scope, "mode": mode, "reason": reason}
    actor, signature = service._signed(payload, signer, PULLERS, None)
    if mode not in KILL_MODES:
        raise service.refuse(actor, action, f"mode {mode!r} is not one of {KILL_MODES}; "
                             "re-arming is `stratops kill rearm`")
    if not reason.strip():
        raise service.refuse(actor, action, "a reason is required")

    def work(conn: sa.Connection) -> int:
        service._consume(conn, signature, actor, action, None)
        command = _insert(service, conn, scope, mode, actor, reason)
        service.audit.append_in(conn, ts=service.clock(), kind="kill_switch", actor=actor,
                                strategy=None if scope == "all" else scope,
                                subject=f"K{command}",
                                detail={"payload": payload, "signature": signature.to_dict()})
        return command

    return service._commit(work)


def request_rearm(service: GovernanceService, scope: str, reason: str,
                  signer: Signer) -> store.RequestRow:
    """Maker: ask for the kill switch of ``scope`` to be re-armed (off)."""
    action = "rearm_request"
    payload = {"action": action, "scope": scope, "reason": reason}
    actor, signature = service._signed(payload, signer, REARM_MAKERS, None)
    if not reason.strip():
        raise service.refuse(actor, action, "a reason is required")

    def work(conn: sa.Connection) -> store.RequestRow:
        service._consume(conn, signature, actor, action, None)
        request_id = store.insert_request(conn, kind="rearm", subject=scope, payload=payload,
                                          maker=actor, signature=signature.to_dict(),
                                          created_at=service._now())
        service.audit.append_in(conn, ts=service.clock(), kind="rearm_requested",
                                actor=actor, subject=f"R{request_id}",
                                detail={"payload": payload, "signature": signature.to_dict()})
        row = store.get_request(conn, request_id)
        assert row is not None
        return row

    return service._commit(work)


def approve_rearm(service: GovernanceService, ref: str, signer: Signer) -> int:
    """Checker (risk officer, never the maker): re-arm; returns the ``off`` command id."""
    action = "rearm_approve"
    store.create_tables(service.engine)
    row = service._request(ref, "unknown", action)
    payload = {"action": action, "request_id": row.ref, "request_digest": digest(row.payload)}
    actor, signature = service._signed(payload, signer, "risk_officer", None)
    problem = None
    if row.kind != "rearm":
        problem = f"{row.ref} is a {row.kind} request"
    elif actor == row.maker:
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
                          f"re-armed ({row.ref}): {row.payload['reason']}")
        service.audit.append_in(conn, ts=service.clock(), kind="rearm_approved", actor=actor,
                                subject=row.ref, detail={"command": command,
                                                         "approval": decision})
        return command

    return service._commit(work)
