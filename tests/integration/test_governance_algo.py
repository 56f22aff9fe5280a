"""SEBI's algo framework in promotion: with ``algo.require_algo_id`` a version goes to canary
only with the broker's approval record of it (compliance.yaml, a maker/checker-approved
file); a refusal is audited; the signed canary snapshot carries the record and the
compliance file's digest."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.config_changes import approve_config, request_config
from live.governance.configs import ConfigFiles
from pipelines.research.gates import load_gates
from tests.integration.test_governance import Desk, _refused
from tests.integration.test_registry import Candidate

REPO = Path(__file__).resolve().parents[2]


def _compliance(root: Path, approvals: list[dict[str, Any]]) -> Path:
    data = yaml.safe_load((REPO / "compliance.yaml").read_text())
    data["algo"].update({"require_algo_id": True, "approvals": approvals})
    path = root / "compliance.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _desk(root: Path, cand: Candidate, approvals: list[dict[str, Any]]) -> Desk:
    desk = Desk(root, cand)
    _compliance(root, approvals)
    desk.svc.configs = ConfigFiles(desk.engine, {
        "gates": root / "gates.yaml", "policy": root / "policy.yaml",
        "risk": root / "risk.yaml", "compliance": root / "compliance.yaml"},
        load_gates=load_gates)
    for kind in ("gates", "policy", "compliance"):
        row = request_config(desk.svc, kind, "initial review", desk.signer("alice"))
        approve_config(desk.svc, row.ref, desk.signer("carol"))
    return desk


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, candidate: Candidate) -> Desk:
    """The desk with gates, policy and an empty algo approvals list approved, built once."""
    return _desk(tmp_path_factory.mktemp("desk") / "root", candidate, [])


@pytest.fixture()
def desk(tmp_path: Path, template: Desk) -> Desk:
    return template.copy_to(tmp_path / "desk")


def test_canary_without_algo_approval_record_is_refused_and_audited(desk: Desk) -> None:
    v1 = desk.versions[0]
    assert desk.promote(v1, "shadow").ok
    _refused(desk, lambda: desk.promote(v1, "canary"),
             r"no broker approval record .* algo\.require_algo_id")


def test_canary_with_algo_approval_record_signs_it_into_the_snapshot(desk: Desk) -> None:
    record = {"strategy": "ema_cross", "version": 1, "algo_id": "NSEALGO42",
              "broker": "zerodha", "approval_ref": "ZAPP-2025-0042",
              "approved_on": date(2025, 6, 2)}
    v1 = desk.versions[0]
    _compliance(desk.root, [record | {"version": v1}])
    row = request_config(desk.svc, "compliance", "algo approved", desk.signer("alice"))
    approve_config(desk.svc, row.ref, desk.signer("carol"))
    assert desk.promote(v1, "shadow").ok
    check = desk.promote(v1, "canary")
    assert check.ok, check.problems
    snapshot = desk.svc.verify_deployment("ema_cross", "canary").snapshot
    assert snapshot is not None
    body = snapshot["body"]
    assert body["algo_approval"]["algo_id"] == "NSEALGO42"
    assert body["compliance_digest"] == hashlib.sha256(
        (desk.root / "compliance.yaml").read_bytes()).hexdigest()


@pytest.mark.parametrize("algo_id", ["NSE-42", "A" * 21])
def test_algo_id_not_fit_for_a_kite_tag_is_refused_at_config_request(
        desk: Desk, algo_id: str) -> None:
    _compliance(desk.root, [{"strategy": "ema_cross", "version": 1, "algo_id": algo_id,
                            "broker": "zerodha", "approval_ref": "Z",
                            "approved_on": date(2025, 6, 2)}])
    with pytest.raises(Exception, match=r"algo\.approvals\.0\.algo_id"):
        request_config(desk.svc, "compliance", "bad id", desk.signer("alice"))
