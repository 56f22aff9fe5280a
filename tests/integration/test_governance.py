"""Maker/checker promotion on real stores (SQLite governance DB, MLflow registry with real
recorded versions, real Ed25519 keys): the happy path to live and a refusal of every kind
the governance issue lists, each audited with the state unchanged."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.config_changes import approve_config, request_config
from live.db import make_engine
from live.governance import store
from live.governance.audit import AuditLog
from live.governance.configs import ConfigFiles
from live.governance.identity import create_keys, load_actor, load_directory
from live.governance.policy import CanaryEvidence
from live.governance.promotion import GovernanceRefusal, GovernanceService
from live.governance.signing import sign
from live.runner.deployments import load_deployed
from pipelines.research.gates import load_gates
from pipelines.research.registry import ResearchRegistry
from strategies.roster import STRATEGIES
from tests.integration.test_registry import Candidate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LENIENT = {"version": 1, "defaults": {
    "min_oos_sharpe": -100.0, "min_dsr_probability": 0.0, "max_pbo": 1.0, "max_drawdown": 1.0,
    "min_trades": 0, "max_cost_share": float("inf"), "min_stability": 0.0}}
USERS = {"alice": ["quant"], "bob": ["desk_head"], "dave": ["desk_head"],
         "carol": ["risk_officer"], "erin": ["quant", "desk_head"], "rita": ["runner"]}


class Clock:
    """A settable clock: domain code never reads the wall clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Desk:
    """A project folder with roles, keys, gates, policy; a registry with versions v1, v2
    (passing the lenient gates) and v3 (failing them); the governance service."""

    def __init__(self, root: Path, cand: Candidate, evidence: Any = None) -> None:
        self.root, self.clock = root, Clock()
        keys = root / "keys"
        users = {}
        for name, roles in USERS.items():
            _, public = create_keys(name, keys)
            users[name] = {"roles": roles, "public_key": public}
        (root / "roles.yaml").write_text(yaml.safe_dump({"version": 1, "users": users}))
        (root / "gates.yaml").write_text(yaml.safe_dump(LENIENT))
        shutil.copy(REPO / "policy.yaml", root / "policy.yaml")
        self.directory = load_directory(root / "roles.yaml")
        self.keys = keys
        self.registry = ResearchRegistry(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")
        gates = load_gates(root / "gates.yaml", set(STRATEGIES))
        passing = gates.evaluate(cand.report.strategy, cand.report.metrics)
        strict = load_gates(REPO / "gates.yaml", set(STRATEGIES)).evaluate(
            cand.report.strategy, cand.report.metrics)
        self.versions = []
        for i, verdict in enumerate((passing, passing, strict)):
            lineage = replace(cand.lineage, code_revision=f"{i:040d}",
                              gates_digest=verdict.gates_digest,
                              verdict_digest=verdict.digest(), verdict_passed=verdict.passed)
            self.versions.append(self.registry.record(
                cand.report, verdict, lineage, cand.artifacts_dir, cand.model_config,
                cand.input_example).version)
        self.engine = make_engine(f"sqlite:///{root / 'governance.db'}")
        configs = ConfigFiles(self.engine, {"gates": root / "gates.yaml",
                                            "policy": root / "policy.yaml",
                                            "risk": root / "risk.yaml"},
                              load_gates=load_gates)
        kwargs = {"evidence": evidence} if evidence is not None else {}
        self.svc = GovernanceService(engine=self.engine, directory=self.directory,
                                     registry=self.registry, configs=configs,
                                     clock=self.clock, known_strategies=set(STRATEGIES),
                                     **kwargs)

    def copy_to(self, root: Path) -> Desk:
        """The same desk in ``root``: keys, files, registry and governance databases copied
        (the registry's artifacts stay where they were recorded: a test that alters them
        builds its own desk)."""
        self.engine.dispose()
        shutil.copytree(self.root, root)
        desk = object.__new__(Desk)
        desk.root, desk.clock, desk.keys = root, Clock(), root / "keys"
        desk.directory = load_directory(root / "roles.yaml")
        desk.versions = list(self.versions)
        desk.registry = ResearchRegistry(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")
        desk.engine = make_engine(f"sqlite:///{root / 'governance.db'}")
        configs = ConfigFiles(desk.engine, {kind: root / path.name
                                            for kind, path in self.svc.configs.paths.items()},
                              load_gates=load_gates)
        desk.svc = GovernanceService(engine=desk.engine, directory=desk.directory,
                                     registry=desk.registry, configs=configs,
                                     clock=desk.clock, evidence=self.svc.evidence,
                                     known_strategies=set(STRATEGIES))
        return desk

    def signer(self, user: str):  # returns a Signer callable
        actor = load_actor(self.directory, user, self.keys)
        return lambda payload: actor.sign(payload, now=self.clock(), ttl_seconds=900)

    def approve_configs(self) -> None:
        for kind in ("gates", "policy"):
            row = request_config(self.svc, kind, "initial review", self.signer("alice"))
            approve_config(self.svc, row.ref, self.signer("carol"))

    def promote(self, version: int, stage: str, maker: str = "alice",
                checker: str = "bob") -> Any:
        row = self.svc.request_promotion("ema_cross", version, stage, f"to {stage}",
                                         self.signer(maker))
        return self.svc.approve(row.ref, self.signer(checker))

    def refusals(self) -> int:
        return len(AuditLog(self.engine).records(kind="refused"))

    def aliases(self) -> dict[str, str]:
        aliases = self.registry.client.get_registered_model("ema_cross").aliases
        return {k: str(v) for k, v in aliases.items()}


EVIDENCE = CanaryEvidence(sessions=6, trades=25, open_breaks=0, source="test journal")


def _approved_desk(root: Path, candidate: Candidate) -> Desk:
    d = Desk(root, candidate, evidence=lambda s, v: EVIDENCE)
    d.approve_configs()
    return d


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory,
             candidate: Candidate) -> Desk:
    """The desk with gates and policy approved, built once (six keys, three recorded
    versions) and copied for each test."""
    return _approved_desk(tmp_path_factory.mktemp("desk") / "root", candidate)


@pytest.fixture()
def desk(tmp_path: Path, template: Desk) -> Desk:
    return template.copy_to(tmp_path / "desk")


def _refused(desk: Desk, call: Any, match: str) -> None:
    before = (desk.svc.deployments(), desk.refusals())
    with pytest.raises(GovernanceRefusal, match=match):
        call()
    assert desk.svc.deployments() == before[0]
    assert desk.refusals() == before[1] + 1


def test_version_walks_shadow_canary_live_with_two_users(desk: Desk) -> None:
    v1 = desk.versions[0]
    for stage in ("shadow", "canary", "live"):
        check = desk.promote(v1, stage)
        assert check.ok, check.problems
    assert desk.aliases() == {"shadow": str(v1), "canary": str(v1), "live": str(v1)}
    body = desk.svc.verify_deployment("ema_cross", "live").snapshot["body"]
    assert body["capital_fraction"] == 1.0 and body["version"] == v1
    assert AuditLog(desk.engine).verify().ok


def test_self_approval_is_refused(desk: Desk) -> None:
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("erin"))
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("erin")),
             "maker and checker must be different")


def test_quant_cannot_approve(desk: Desk) -> None:
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("alice")),
             "needs one of \\['desk_head'\\]")


def test_failed_gate_version_cannot_be_requested(desk: Desk) -> None:
    _refused(desk, lambda: desk.svc.request_promotion(
        "ema_cross", desk.versions[2], "shadow", "go", desk.signer("alice")),
        "failed its gates")


def test_skipping_a_stage_is_refused(desk: Desk) -> None:
    _refused(desk, lambda: desk.svc.request_promotion(
        "ema_cross", desk.versions[0], "live", "go", desk.signer("alice")), "no skipping")


def test_forged_signature_is_refused(desk: Desk) -> None:
    mallory = load_actor(desk.directory, "bob", desk.keys).private_key  # bob's key ...

    def forged(payload: dict) -> Any:  # ... claiming to be alice
        return sign(payload, mallory, "alice", now=desk.clock(), ttl_seconds=900)

    _refused(desk, lambda: desk.svc.request_promotion(
        "ema_cross", desk.versions[0], "shadow", "go", forged), "bad signature")


def test_expired_signature_is_refused(desk: Desk) -> None:
    actor = load_actor(desk.directory, "alice", desk.keys)

    def stale(payload: dict) -> Any:
        return actor.sign(payload, now=desk.clock() - timedelta(hours=2), ttl_seconds=900)

    _refused(desk, lambda: desk.svc.request_promotion(
        "ema_cross", desk.versions[0], "shadow", "go", stale), "expired")


def test_unknown_user_is_refused(desk: Desk, tmp_path: Path) -> None:
    create_keys("zed", tmp_path / "zkeys")
    key = load_actor.__globals__["load_private_key"]("zed", tmp_path / "zkeys")

    def stranger(payload: dict) -> Any:
        return sign(payload, key, "zed", now=desk.clock(), ttl_seconds=900)

    _refused(desk, lambda: desk.svc.request_promotion(
        "ema_cross", desk.versions[0], "shadow", "go", stranger), "unknown user")


def test_replayed_old_approval_is_refused(desk: Desk) -> None:
    captured: list[Any] = []
    bob = desk.signer("bob")

    def recording(payload: dict) -> Any:
        captured.append(bob(payload))
        return captured[-1]

    first = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                       desk.signer("alice"))
    desk.svc.approve(first.ref, recording)
    second = desk.svc.request_promotion("ema_cross", desk.versions[1], "shadow", "go",
                                        desk.signer("alice"))
    _refused(desk, lambda: desk.svc.approve(second.ref, lambda payload: captured[0]),
             "bad signature")
    _refused(desk, lambda: desk.svc.approve(first.ref, desk.signer("bob")), "already approved")


def test_concurrent_approvals_of_one_request_let_exactly_one_win(desk: Desk) -> None:
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def approve(user: str) -> None:
        barrier.wait()
        try:
            desk.svc.approve(row.ref, desk.signer(user))
            outcomes.append("approved")
        except GovernanceRefusal as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=approve, args=(u,)) for u in ("bob", "dave")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("approved") == 1, outcomes
    assert desk.svc.deployments()[("ema_cross", "shadow")][0] == desk.versions[0]


def test_canary_to_live_without_runner_evidence_is_refused(tmp_path: Path,
                                                           candidate: Candidate) -> None:
    desk = Desk(tmp_path, candidate)
    desk.approve_configs()
    desk.promote(desk.versions[0], "shadow")
    desk.promote(desk.versions[0], "canary")
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "live", "go",
                                     desk.signer("alice"))
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("bob")), "canary_evidence")


def test_unapproved_gates_change_blocks_approval(desk: Desk) -> None:
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    (desk.root / "gates.yaml").write_text((desk.root / "gates.yaml").read_text() + "\n# edit\n")
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("bob")),
             "not its approved version")


def test_config_change_needs_a_risk_officer_other_than_the_maker(desk: Desk) -> None:
    (desk.root / "gates.yaml").write_text((desk.root / "gates.yaml").read_text() + "\n# v2\n")
    row = request_config(desk.svc, "gates", "tighten", desk.signer("carol"))
    with pytest.raises(GovernanceRefusal, match="maker and checker"):
        approve_config(desk.svc, row.ref, desk.signer("carol"))
    with pytest.raises(GovernanceRefusal, match="risk_officer"):
        approve_config(desk.svc, row.ref, desk.signer("bob"))


def test_direct_alias_move_is_detected_as_unsigned(desk: Desk) -> None:
    desk.promote(desk.versions[0], "shadow")
    desk.registry.client.set_registered_model_alias("ema_cross", "shadow",
                                                    str(desk.versions[1]))
    check = desk.svc.verify_deployment("ema_cross", "shadow")
    assert not check.ok and "unsigned deployment" in " ".join(check.problems)


def test_tampered_snapshot_fails_verification(desk: Desk) -> None:
    desk.promote(desk.versions[0], "shadow")
    db = sqlite3.connect(desk.root / "governance.db")
    doc = db.execute("select document from gov_snapshots").fetchone()[0]
    db.execute("update gov_snapshots set document = ?",
               (doc.replace('"capital_fraction":0.0', '"capital_fraction":1.0'),))
    db.commit()
    check = desk.svc.verify_deployment("ema_cross", "shadow")
    assert not check.ok and "altered after approval" in " ".join(check.problems)


def test_swapped_model_artifact_is_refused(tmp_path: Path,
                                           candidate: Candidate) -> None:
    desk = _approved_desk(tmp_path, candidate)  # its own artifacts: this test alters them
    desk.promote(desk.versions[0], "shadow")
    uri = desk.registry.client.get_model_version_download_uri("ema_cross",
                                                               str(desk.versions[0]))
    model_file = Path(uri.removeprefix("file://")) / "MLmodel"
    model_file.write_text(model_file.read_text() + "\n# swapped\n")
    check = desk.svc.verify_deployment("ema_cross", "shadow")
    assert not check.ok and "swapped artifact" in " ".join(check.problems)


def test_rollback_returns_live_to_the_previous_version(desk: Desk) -> None:
    v1, v2 = desk.versions[:2]
    for version in (v1, v2):
        for stage in ("shadow", "canary", "live"):
            assert desk.promote(version, stage).ok
    assert desk.aliases()["previous-live"] == str(v1)
    check = desk.svc.rollback("ema_cross", "bad fills", desk.signer("carol"))
    assert check.ok and check.version == v1
    assert desk.aliases()["live"] == str(v1) and "previous-live" not in desk.aliases()
    assert [r.kind for r in AuditLog(desk.engine).records(kind="rollback")] == ["rollback"]


def test_quant_cannot_roll_back(desk: Desk) -> None:
    _refused(desk, lambda: desk.svc.rollback("ema_cross", "x", desk.signer("alice")),
             "rollback needs one of")


def test_audit_verify_names_an_edited_record(desk: Desk) -> None:
    desk.promote(desk.versions[0], "shadow")
    assert AuditLog(desk.engine).verify().ok
    db = sqlite3.connect(desk.root / "governance.db")
    db.execute("drop trigger if exists audit_log_no_update")
    db.execute("update audit_log set actor = 'mallory' where seq = 3")
    db.commit()
    verdict = AuditLog(desk.engine).verify()
    assert not verdict.ok and verdict.first_bad_seq == 3


def test_pending_requests_survive_and_store_signatures(desk: Desk) -> None:
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    with desk.engine.connect() as conn:
        stored = store.get_request(conn, row.id)
    assert stored is not None and stored.state == "pending"
    assert stored.maker_signature["signer"] == "alice"


def test_load_deployed_reads_the_approved_version_as_data(desk: Desk) -> None:
    desk.promote(desk.versions[0], "shadow")
    (deployed,), refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert refused == []
    assert (deployed.strategy, deployed.version, deployed.symbols) == \
        ("ema_cross", desk.versions[0], ("NIFTY",))


def test_canary_slipping_beyond_policy_is_refused_and_audited(
        tmp_path: Path, candidate: Candidate) -> None:
    """policy.yaml stages.canary.max_slippage_excess_bps 2.0; the canary's fills slipped
    3.0 bps against a research assumption of 0.5 bps: 2.5 bps over, refused and audited."""
    evidence = CanaryEvidence(sessions=6, trades=25, open_breaks=0, source="test journal",
                              realised_slippage_bps=3.0, assumed_slippage_bps=0.5)
    desk = Desk(tmp_path, candidate, evidence=lambda s, v: evidence)
    policy = yaml.safe_load((tmp_path / "policy.yaml").read_text())
    policy["stages"]["canary"]["max_slippage_excess_bps"] = 2.0
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    desk.approve_configs()
    desk.promote(desk.versions[0], "shadow")
    desk.promote(desk.versions[0], "canary")
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "live", "go",
                                     desk.signer("alice"))
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("bob")),
             "max_slippage_excess_bps")
