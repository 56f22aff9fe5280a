"""An insider with SQL and MLflow access and a key of their own tries to bypass maker/checker:
each attempt is refused (or, for a kill, fails toward halting), audited, and changes nothing.

Real stores (SQLite governance DB, MLflow registry with recorded versions, Ed25519 keys), a
trust lock made by the bootstrap ceremony; no mocks."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.config_changes import approve_config, request_config
from live.db import make_engine
from live.governance import store
from live.governance.audit import AuditLog
from live.governance.configs import ConfigFiles
from live.governance.identity import create_keys, load_actor
from live.governance.kill import approve_rearm, pull, request_rearm, verified_commands
from live.governance.promotion import GovernanceRefusal, GovernanceService
from live.governance.signing import sign
from live.governance.trust import TrustError, bootstrap, load_trusted, lock_path_for
from live.runner.controls import KillGate
from live.runner.deployments import load_deployed
from pipelines.research.registry import ResearchRegistry
from stratops.roles_file import add_user
from tests.integration.test_governance import EVIDENCE, Clock, Desk
from tests.integration.test_registry import Candidate

pytestmark = pytest.mark.integration


class TrustedDesk(Desk):
    """A desk whose roles went through the bootstrap ceremony (alice makes, carol checks),
    with gates and policy approved. Built once per module, then copied for each test."""

    def __init__(self, root: Path, cand: Candidate) -> None:
        super().__init__(root, cand, evidence=lambda s, v: EVIDENCE)
        self.roles, self.lock = root / "roles.yaml", lock_path_for(root / "roles.yaml")
        bootstrap(self.roles, self.lock, "desk setup", self.signer("alice"),
                  self.signer("carol"))
        self.reload()
        self.approve_configs()

    def copy_to(self, root: Path) -> TrustedDesk:
        """The same desk in ``root`` (the registry's artifacts stay where they were
        recorded; no test here alters them)."""
        self.engine.dispose()
        shutil.copytree(self.root, root)
        desk = object.__new__(TrustedDesk)
        desk.root, desk.clock, desk.keys = root, Clock(), root / "keys"
        desk.roles, desk.lock = root / "roles.yaml", lock_path_for(root / "roles.yaml")
        desk.versions = list(self.versions)
        desk.registry = ResearchRegistry(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")
        desk.engine = make_engine(f"sqlite:///{root / 'governance.db'}")
        desk.svc = replace_configs(self.svc, desk.engine, root)
        desk.reload()
        return desk

    def reload(self) -> None:
        self.trust = load_trusted(self.roles, self.lock)
        self.directory = self.trust.directory
        self.svc = GovernanceService(
            engine=self.engine, directory=self.directory, registry=self.registry,
            configs=self.svc.configs, clock=self.clock, evidence=self.svc.evidence,
            known_strategies=self.svc.known_strategies, trust=self.trust)

    def sql(self, statement: str, *args: Any) -> None:
        with sqlite3.connect(self.root / "governance.db") as conn:
            conn.execute(statement, args)

    def records(self, kind: str) -> list[Any]:
        return AuditLog(self.engine).records(kind=kind)


def replace_configs(svc: GovernanceService, engine: Any, root: Path) -> GovernanceService:
    configs = ConfigFiles(engine, {kind: root / path.name
                                   for kind, path in svc.configs.paths.items()},
                          load_gates=svc.configs.load_gates)
    return GovernanceService(engine=engine, directory=svc.directory, registry=svc.registry,
                             configs=configs, clock=svc.clock, evidence=svc.evidence,
                             known_strategies=svc.known_strategies)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory,
             candidate: Candidate) -> TrustedDesk:
    return TrustedDesk(tmp_path_factory.mktemp("desk") / "root", candidate)


@pytest.fixture()
def desk(tmp_path: Path, template: TrustedDesk) -> TrustedDesk:
    return template.copy_to(tmp_path / "desk")


def _mallory(desk: TrustedDesk) -> None:
    """Mallory makes a key and writes herself into roles.yaml as a desk head."""
    _, public = create_keys("mallory", desk.keys)
    add_user(desk.roles, "mallory", ["desk_head"], public)
    desk.reload()


# -- 1 and 15: roles are approved config; trust starts at the ceremony ---------------------

def test_roles_claim_not_approved_grants_nothing(desk: TrustedDesk) -> None:
    _mallory(desk)
    assert "mallory" not in desk.directory.users
    with pytest.raises(Exception, match="unknown user 'mallory'"):
        load_actor(desk.directory, "mallory", desk.keys)
    mallory_key = load_actor.__globals__["load_private_key"]("mallory", desk.keys)
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    with pytest.raises(GovernanceRefusal, match="unknown user 'mallory'"):
        desk.svc.approve(row.ref, lambda p: sign(p, mallory_key, "mallory",
                                                 now=desk.clock(), ttl_seconds=900))
    refusal = desk.records("refused")[-1]
    assert refusal.actor == "unverified:mallory"
    assert desk.svc.deployments() == {}


def test_unapproved_roles_edit_blocks_every_approval(desk: TrustedDesk) -> None:
    _mallory(desk)
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    with pytest.raises(GovernanceRefusal, match=r"roles.yaml .* is not its approved version"):
        desk.svc.approve(row.ref, desk.signer("bob"))


def test_roles_change_approved_by_a_risk_officer_enters_the_lock(desk: TrustedDesk) -> None:
    _mallory(desk)
    request = request_config(desk.svc, "roles", "mallory joins as desk head",
                             desk.signer("alice"))
    with pytest.raises(GovernanceRefusal, match="needs one of \\['risk_officer'\\]"):
        approve_config(desk.svc, request.ref, desk.signer("bob"))
    approve_config(desk.svc, request.ref, desk.signer("carol"))
    desk.reload()
    assert desk.trust.head_seq == 2 and not desk.trust.pending
    assert "mallory" in desk.directory.users


def test_roles_change_approved_by_its_maker_is_refused(desk: TrustedDesk) -> None:
    _mallory(desk)
    request = request_config(desk.svc, "roles", "me", desk.signer("carol"))
    with pytest.raises(GovernanceRefusal, match="maker and checker must be different"):
        approve_config(desk.svc, request.ref, desk.signer("carol"))
    assert load_trusted(desk.roles, desk.lock).head_seq == 1


def test_trust_lock_edited_by_hand_is_refused_naming_the_entry(desk: TrustedDesk) -> None:
    lock = json.loads(desk.lock.read_text())
    roles = yaml.safe_load(lock["entries"][0]["content"])
    roles["users"]["alice"]["roles"] = ["quant", "desk_head"]
    content = yaml.safe_dump(roles)
    lock["entries"][0]["content"] = content
    lock["entries"][0]["sha256"] = __import__("hashlib").sha256(content.encode()).hexdigest()
    desk.lock.write_text(json.dumps(lock))
    with pytest.raises(TrustError, match="entry 1: the request does not ask for this"):
        load_trusted(desk.roles, desk.lock)


def test_trust_lock_replaced_is_refused_by_the_pinned_root(desk: TrustedDesk) -> None:
    with pytest.raises(TrustError, match="not the pinned trust root"):
        load_trusted(desk.roles, desk.lock, pinned_root="0" * 64)
    assert load_trusted(desk.roles, desk.lock, pinned_root=desk.trust.root_sha).head_seq == 1


def test_second_bootstrap_ceremony_is_refused(desk: TrustedDesk) -> None:
    with pytest.raises(TrustError, match="already exists"):
        bootstrap(desk.roles, desk.lock, "again", desk.signer("alice"), desk.signer("carol"))


def test_approval_signed_with_a_revoked_key_is_refused(desk: TrustedDesk) -> None:
    check = desk.promote(desk.versions[0], "shadow")
    assert check.ok
    bob_key = desk.directory.key_id_of("bob")
    roles = yaml.safe_load(desk.roles.read_text())
    _, new_public = create_keys("bob2", desk.keys)  # bob's replacement key
    roles["users"]["bob"]["public_key"] = new_public
    roles["revoked_keys"] = {bob_key: "laptop lost"}
    desk.roles.write_text(yaml.safe_dump(roles))
    desk.reload()
    request = request_config(desk.svc, "roles", "revoke bob's lost key", desk.signer("alice"))
    approve_config(desk.svc, request.ref, desk.signer("carol"))
    desk.reload()
    verdict = desk.svc.verify_deployment("ema_cross", "shadow")
    assert not verdict.ok
    assert any("revoked" in p for p in verdict.problems), verdict.problems


def test_inserted_config_version_row_approves_nothing(desk: TrustedDesk) -> None:
    gates = desk.root / "gates.yaml"
    gates.write_text(gates.read_text() + "# loosened by an insider\n")
    sha = __import__("hashlib").sha256(gates.read_bytes()).hexdigest()
    desk.sql("INSERT INTO gov_config_versions (kind, version, sha256, content, request_id, "
             "approved_by, approved_at) VALUES ('gates', 99, ?, '', 1, 'carol', 'now')", sha)
    problems = desk.svc.config_problems()
    assert any("approved gates version 99" in p for p in problems), problems
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    with pytest.raises(GovernanceRefusal, match="approved gates version 99"):
        desk.svc.approve(row.ref, desk.signer("bob"))


# -- 2: a deployment row is nothing without its signed chain ---------------------------------

def _canary(desk: TrustedDesk) -> None:
    for stage in ("shadow", "canary"):
        assert desk.promote(desk.versions[0], stage).ok


def _forge_live_row(desk: TrustedDesk) -> None:
    """Canary approved; then a live row pointing at the canary snapshot, and the alias."""
    _canary(desk)
    canary_snapshot = desk.svc.deployments()[("ema_cross", "canary")][1]
    desk.sql("INSERT INTO gov_deployments (strategy, stage, version, snapshot_id) "
             "VALUES ('ema_cross', 'live', ?, ?)", desk.versions[0], canary_snapshot)
    desk.registry.client.set_registered_model_alias("ema_cross", "live",
                                                    str(desk.versions[0]))


def test_inserted_live_row_with_alias_move_is_not_verified_and_audited(
        desk: TrustedDesk) -> None:
    _forge_live_row(desk)
    check = desk.svc.verify_deployment("ema_cross", "live", audit_as="deploy_verify")
    assert not check.ok
    assert any("for stage 'canary', not 'live'" in p for p in check.problems)
    assert desk.records("deployment_refused")[-1].subject == "ema_cross@live"
    deployed, refused = load_deployed(desk.svc, "live")
    assert deployed == [] and refused and refused[0].strategy == "ema_cross"


def test_live_approval_must_chain_to_a_canary_approval_of_the_same_version(
        desk: TrustedDesk) -> None:
    _canary(desk)
    assert desk.promote(desk.versions[0], "live").ok
    live_id = desk.svc.deployments()[("ema_cross", "live")][1]
    canary_id = desk.svc.deployments()[("ema_cross", "canary")][1]
    # the insider deletes the canary snapshot the live approval names (SQLite lets a
    # table without triggers be edited): the live deployment no longer verifies
    desk.sql("DELETE FROM gov_snapshots WHERE id = ?", canary_id)
    desk.sql("DELETE FROM gov_deployments WHERE stage = 'canary'")
    check = desk.svc.verify_deployment("ema_cross", "live")
    assert not check.ok and live_id
    assert any("no signed canary approval" in p for p in check.problems), check.problems


def test_live_snapshot_body_keeps_the_canary_evidence(desk: TrustedDesk) -> None:
    _canary(desk)
    check = desk.promote(desk.versions[0], "live")
    assert check.ok, check.problems
    body = check.snapshot["body"]
    assert body["canary_evidence"]["trades"] == EVIDENCE.trades
    assert body["previous_stage_snapshot"] is not None
    assert body["roles_digest"] == desk.trust.head_sha


# -- 3: kill-switch commands are signed -----------------------------------------------------

def _halt(desk: TrustedDesk) -> int:
    return pull(desk.svc, "all", "halt", "fat finger", desk.signer("bob"))


def test_signed_kill_verifies(desk: TrustedDesk) -> None:
    command = _halt(desk)
    [found] = verified_commands(desk.engine, desk.directory, 0)
    assert found.id == command and found.verified and found.actor == "bob"


def test_inserted_off_row_is_ignored_alerted_and_audited(desk: TrustedDesk) -> None:
    _halt(desk)
    desk.sql("INSERT INTO gov_kill_commands (scope, mode, actor, reason, created_at) "
             "VALUES ('all', 'off', 'carol', 're-armed', '2026-01-05')")
    gate = KillGate()
    commands = verified_commands(desk.engine, desk.directory, 0, clock=desk.clock)
    decisions = [gate.admit(c) for c in commands]
    assert decisions[0] == (True, None)
    assert decisions[1][0] is False and "ignored" in str(decisions[1][1])
    refusal = desk.records("refused")[-1]
    assert refusal.actor == "unverified:carol" and refusal.detail["effect"] == "ignored"


def test_unsigned_kill_row_still_halts(desk: TrustedDesk) -> None:
    desk.sql("INSERT INTO gov_kill_commands (scope, mode, actor, reason, created_at) "
             "VALUES ('all', 'flatten', 'bob', 'panic', '2026-01-05')")
    [command] = verified_commands(desk.engine, desk.directory, 0, clock=desk.clock)
    apply, alert = KillGate().admit(command)
    assert apply is True and "fail closed" in str(alert)


def test_kill_row_mode_edited_is_unverified(desk: TrustedDesk) -> None:
    _halt(desk)
    desk.sql("UPDATE gov_kill_commands SET mode = 'off'")
    [command] = verified_commands(desk.engine, desk.directory, 0)
    assert not command.verified and KillGate().admit(command)[0] is False


def _rearm(desk: TrustedDesk) -> int:
    row = request_rearm(desk.svc, "all", "checked", desk.signer("alice"))
    return approve_rearm(desk.svc, row.ref, desk.signer("carol"))


def test_signed_rearm_verifies_and_a_copied_row_is_a_replay(desk: TrustedDesk) -> None:
    _halt(desk)
    off = _rearm(desk)
    desk.sql("INSERT INTO gov_kill_commands (scope, mode, actor, reason, created_at, document) "
             "SELECT scope, mode, actor, reason, created_at, document FROM gov_kill_commands "
             "WHERE id = ?", off)
    gate = KillGate()
    halt, rearm, copy = verified_commands(desk.engine, desk.directory, 0)
    assert rearm.verified and rearm.actor == "carol"
    for command in (halt, rearm):
        assert gate.admit(command)[0]
        gate.note(command.scope, command.mode == "off",
                  f"K{command.id}: x [approval {command.nonce}]" if command.nonce
                  else f"K{command.id}: x")
    apply, alert = gate.admit(copy)
    assert apply is False and "already used" in str(alert)


def test_rearm_approved_before_a_later_kill_does_not_lift_it(desk: TrustedDesk) -> None:
    _halt(desk)
    row = request_rearm(desk.svc, "all", "checked", desk.signer("alice"))
    second = _halt(desk)  # a new kill after the re-arm was requested
    approve_rearm(desk.svc, row.ref, desk.signer("carol"))
    gate = KillGate()
    for command in verified_commands(desk.engine, desk.directory, 0)[:2]:
        gate.admit(command)
        gate.note(command.scope, False, f"K{command.id}: x")
    [rearm] = verified_commands(desk.engine, desk.directory, second)
    apply, alert = gate.admit(rearm)
    assert apply is False and f"before kill K{second}" in str(alert)


# -- 4 and 5: the maker is who signed; a forged claim is recorded as a claim ------------------

def test_edited_maker_column_does_not_let_the_maker_approve(desk: TrustedDesk) -> None:
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("erin"))
    desk.sql("UPDATE gov_requests SET maker = 'alice' WHERE id = ?", row.id)
    with pytest.raises(GovernanceRefusal, match="signed by 'erin' \\(an edited row\\)"):
        desk.svc.approve(row.ref, desk.signer("erin"))
    assert desk.svc.deployments() == {}


def test_forged_claim_is_audited_as_unverified_with_the_real_key(desk: TrustedDesk) -> None:
    bob = load_actor(desk.directory, "bob", desk.keys).private_key

    def forged(payload: dict) -> Any:  # bob's key, claiming to be alice
        return sign(payload, bob, "alice", now=desk.clock(), ttl_seconds=900)

    with pytest.raises(GovernanceRefusal, match="bad signature"):
        desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go", forged)
    record = desk.records("refused")[-1]
    assert record.actor == "unverified:alice"
    assert record.detail["signed_with"] == f"bob ({desk.directory.key_id_of('bob')})"


def test_request_rows_keep_their_signatures(desk: TrustedDesk) -> None:
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                     desk.signer("alice"))
    with desk.engine.connect() as conn:
        stored = store.get_request(conn, row.id)
    assert stored is not None and stored.maker_signature["signer"] == "alice"


def test_runner_ignores_an_inserted_off_row_and_restart_does_not_realert(
        desk: TrustedDesk, tmp_path: Path) -> None:
    from live.events import KillMode
    from tests.unit.test_runner_engine import alerts, day_bars, stores_in

    stores = stores_in(tmp_path / "run")
    bars = day_bars(40)

    def commands(last: int) -> list:
        return verified_commands(desk.engine, desk.directory, last, clock=desk.clock)

    runner = stores.runner(kill_commands=commands)
    runner.recover()
    _halt(desk)
    runner.run(bars[:5])
    desk.sql("INSERT INTO gov_kill_commands (scope, mode, actor, reason, created_at) "
             "VALUES ('all', 'off', 'carol', 're-armed', '2026-01-05')")
    runner.run(bars[5:10])
    assert runner.state.kill_switches["all"] is KillMode.HALT
    assert len(alerts(stores, "kill_command_refused")) == 1
    again = stores.runner(kill_commands=commands)
    again.recover()
    again.run(bars[10:15])
    assert again.state.kill_switches["all"] is KillMode.HALT
    assert len(alerts(stores, "kill_command_refused")) == 1
    _rearm(desk)
    again.run(bars[15:17])
    assert again.state.kill_switches["all"] is KillMode.OFF


def test_runner_load_refusal_is_audited(desk: TrustedDesk,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from stratops.live_ops import LiveSetupError, prepare
    from stratops.settings import load_settings

    _forge_live_row(desk)
    monkeypatch.setenv("STRATOPS_GOVERNANCE__DB_URL", f"sqlite:///{desk.root}/governance.db")
    monkeypatch.setenv("STRATOPS_MLFLOW_TRACKING_URI", f"sqlite:///{desk.root}/mlflow.db")
    with pytest.raises(LiveSetupError, match="nothing to trade in live mode: ema_cross"):
        prepare("live", "replay:nse_index_1m", None, None, ["ema_cross"], False,
                load_settings(desk.root))
    refused = desk.records("deployment_refused")[-1]
    assert refused.actor == "runner:live" and refused.strategy == "ema_cross"
