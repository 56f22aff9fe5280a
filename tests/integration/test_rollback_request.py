"""A rollback as a maker/checker request (live/governance/rollback.py): the runner's
service identity (or a quant) proposes, a desk head - never the maker - approves, and only
the approval moves live and the aliases; stale and duplicate proposals are handled."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.governance.audit import AuditLog
from live.governance.promotion import GovernanceRefusal
from live.governance.rollback import approve_request, request_rollback
from stratops.promotion_view import promotion_status
from tests.integration.test_governance import EVIDENCE, Desk
from tests.integration.test_registry import Candidate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, candidate: Candidate) -> Desk:
    """v1 then v2 promoted to live (v1 is the previous live version), built once."""
    desk = Desk(tmp_path_factory.mktemp("desk") / "root", candidate,
                evidence=lambda s, v: EVIDENCE)
    desk.approve_configs()
    for version in desk.versions[:2]:
        for stage in ("shadow", "canary", "live"):
            assert desk.promote(version, stage).ok
    return desk


@pytest.fixture()
def two_lives(tmp_path: Path, template: Desk) -> Desk:
    """A copy of the template for one test."""
    return template.copy_to(tmp_path / "desk")


def test_runner_proposal_moves_nothing_until_a_desk_head_approves(two_lives: Desk) -> None:
    desk = two_lives
    v1, v2 = desk.versions[:2]
    row = request_rollback(desk.svc, "ema_cross", v2, "health_monitor: edge decay",
                           desk.signer("rita"))
    assert row.kind == "rollback" and row.state == "pending" and row.maker == "rita"
    assert desk.aliases()["live"] == str(v2)  # a proposal moves no alias
    (shown,) = [r for r in promotion_status(desk.svc)["requests"] if r["id"] == row.ref]
    assert shown["what"] == f"rollback live v{v2} -> v{v1}" and shown["maker"] == "rita"
    again = request_rollback(desk.svc, "ema_cross", v2, "edge decay (a restarted runner)",
                             desk.signer("rita"))
    assert again.ref == row.ref  # the same breach files one request
    with pytest.raises(GovernanceRefusal, match="needs one of"):
        approve_request(desk.svc, row.ref, desk.signer("alice"))  # a quant is no checker
    check = approve_request(desk.svc, row.ref, desk.signer("bob"))
    assert check.ok and check.version == v1 and desk.aliases()["live"] == str(v1)
    assert [r.state for r in desk.svc.requests("ema_cross") if r.kind == "rollback"] == \
        ["approved"]
    (record,) = AuditLog(desk.engine).records(kind="rollback")
    assert record.actor == "bob"


def test_own_stale_or_misdirected_proposals_are_refused_and_one_may_be_rejected(
        two_lives: Desk) -> None:
    desk = two_lives
    v1, v2 = desk.versions[:2]
    with pytest.raises(GovernanceRefusal, match=r"v1 is not live \(live is v2\)"):
        request_rollback(desk.svc, "ema_cross", v1, "decay", desk.signer("rita"))
    own = request_rollback(desk.svc, "ema_cross", v2, "fills", desk.signer("erin"))
    with pytest.raises(GovernanceRefusal, match="maker and checker must be different"):
        approve_request(desk.svc, own.ref, desk.signer("erin"))  # erin is quant and desk head
    rejected = desk.svc.reject(own.ref, "a bad day, not a decay", desk.signer("bob"))
    assert rejected.state == "rejected" and desk.aliases()["live"] == str(v2)
    assert AuditLog(desk.engine).records(kind="rollback_rejected")
    stale = request_rollback(desk.svc, "ema_cross", v2, "decay", desk.signer("rita"))
    desk.svc.rollback("ema_cross", "rolled back by hand", desk.signer("carol"))
    with pytest.raises(GovernanceRefusal, match="is stale"):
        approve_request(desk.svc, stale.ref, desk.signer("bob"))
