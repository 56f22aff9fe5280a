"""Red-team review: an insider with SQL and MLflow edit rights (and a key of their own) tries
to trade a version nobody approved, or something other than what was approved. Each attack
is one test; each is refused (or cannot change what trades), audited, with the state unchanged.

Real stores (SQLite governance DB, MLflow registry with recorded versions, Ed25519 keys), a
trust lock from the bootstrap ceremony (``TrustedDesk``); no mocks."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from live.canonical import canonical_json, digest
from live.config_changes import approve_config, request_config
from live.governance import store
from live.governance.audit import AuditLog
from live.governance.promotion import GovernanceRefusal
from live.governance.rollback import approve_request, request_rollback
from live.governance.signing import Signature
from live.runner.deployments import load_deployed
from tests.integration.test_governance import REPO
from tests.integration.test_governance_insider import TrustedDesk
from tests.integration.test_registry import Candidate

pytestmark = pytest.mark.integration
TAG = "stratops."


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory,
             candidate: Candidate) -> TrustedDesk:
    return TrustedDesk(tmp_path_factory.mktemp("redteam") / "root", candidate)


@pytest.fixture()
def desk(tmp_path: Path, template: TrustedDesk) -> TrustedDesk:
    return template.copy_to(tmp_path / "desk")


def _tag(desk: TrustedDesk, version: int, name: str, value: str) -> None:
    """The insider's MLflow edit right: any tag of any version."""
    desk.registry.client.set_model_version_tag("ema_cross", str(version), f"{TAG}{name}",
                                               value)


def _refused_approval(desk: TrustedDesk, ref: str, match: str) -> None:
    before = (desk.svc.deployments(), len(desk.records("refused")))
    with pytest.raises(GovernanceRefusal, match=match):
        desk.svc.approve(ref, desk.signer("bob"))
    assert desk.svc.deployments() == before[0]
    assert len(desk.records("refused")) == before[1] + 1


def _prepare(desk: TrustedDesk, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """``stratops live run --mode MODE`` on the desk's stores (raises before trading)."""
    from stratops.live_ops import prepare
    from stratops.settings import load_settings

    monkeypatch.setenv("STRATOPS_GOVERNANCE__DB_URL", f"sqlite:///{desk.root}/governance.db")
    monkeypatch.setenv("STRATOPS_MLFLOW_TRACKING_URI", f"sqlite:///{desk.root}/mlflow.db")
    prepare(mode, "replay:nse_index_1m", None, None, ["ema_cross"], False,
            load_settings(desk.root))


# -- an alias moved by hand ------------------------------------------------------------------

def test_alias_set_without_any_approval_is_refused_by_the_runner_and_audited(
        desk: TrustedDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratops.live_ops import LiveSetupError

    desk.registry.client.set_registered_model_alias("ema_cross", "canary",
                                                    str(desk.versions[0]))
    with pytest.raises(LiveSetupError, match="unsigned deployment"):
        _prepare(desk, monkeypatch, "canary")
    refused = desk.records("deployment_refused")[-1]
    assert (refused.actor, refused.subject) == ("runner:canary", "ema_cross@canary")


def test_alias_moved_to_an_unapproved_version_is_not_loaded(desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    desk.registry.client.set_registered_model_alias("ema_cross", "shadow",
                                                    str(desk.versions[1]))
    deployed, refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert deployed == []
    assert "an unsigned deployment" in refused[0].reason


# -- MLflow tags edited ------------------------------------------------------------------------

def _requested(desk: TrustedDesk) -> str:
    return desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "go",
                                      desk.signer("alice")).ref


def test_params_tag_edited_after_the_request_is_refused_at_approval(
        desk: TrustedDesk) -> None:
    ref = _requested(desk)
    params = json.loads(desk.registry.get_version("ema_cross", desk.versions[0])
                        .tags[f"{TAG}params"])
    params["slow"] = params["slow"] + 1  # what the checker would read and sign
    _tag(desk, desk.versions[0], "params", json.dumps(params, sort_keys=True))
    _refused_approval(desk, ref, "are not the params its model config trades")


def test_params_hash_tag_edited_is_refused_at_approval(desk: TrustedDesk) -> None:
    ref = _requested(desk)
    _tag(desk, desk.versions[0], "params_hash", "0" * 16)
    _refused_approval(desk, ref, "tag params_hash '0000000000000000' != ")


def test_symbol_tag_edited_to_another_symbol_is_refused_at_approval(
        desk: TrustedDesk) -> None:
    ref = _requested(desk)
    _tag(desk, desk.versions[0], "symbol", "BANKNIFTY")
    _refused_approval(desk, ref, "tag symbol 'BANKNIFTY' is not one of the symbols its "
                                 "model config trades \\['NIFTY'\\]")


def test_lineage_tags_edited_after_approval_change_nothing_that_trades(
        desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    (before,), _ = load_deployed(desk.svc, "shadow", ["ema_cross"])
    for name, value in (("params", '{"fast":2,"slow":3}'), ("params_hash", "0" * 16),
                        ("gate_verdict", "fail"), ("dataset_md5", "f" * 32),
                        ("symbol", "BANKNIFTY")):
        _tag(desk, desk.versions[0], name, value)
    (after,), refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert refused == []
    assert (after.params, after.symbols, after.snapshot_digest) == \
        (before.params, before.symbols, before.snapshot_digest)


def test_model_digest_tag_edited_after_approval_refuses_the_load(desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    _tag(desk, desk.versions[0], "model_digest", "0" * 64)
    deployed, refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert deployed == [] and "!= recorded " + "0" * 64 in refused[0].reason


def test_source_hash_tag_edited_after_approval_refuses_the_load(desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    _tag(desk, desk.versions[0], "strategies_source_hash", "0" * 64)
    deployed, refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert deployed == [] and "recorded strategies_source_hash" in refused[0].reason


# -- governance rows edited with SQL -------------------------------------------------------------

def test_snapshot_copied_to_another_version_row_is_not_verified(desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    v2 = desk.versions[1]
    desk.sql("INSERT INTO gov_snapshots (strategy, stage, version, document, created_at) "
             "SELECT strategy, stage, ?, document, created_at FROM gov_snapshots", v2)
    desk.sql("UPDATE gov_deployments SET version = ?, snapshot_id = "
             "(SELECT max(id) FROM gov_snapshots)", v2)
    desk.registry.client.set_registered_model_alias("ema_cross", "shadow", str(v2))
    check = desk.svc.verify_deployment("ema_cross", "shadow")
    assert not check.ok
    assert any(f"points at version {v2} but the approved deployment is version "
               f"{desk.versions[0]}" in p for p in check.problems), check.problems


def test_signed_approval_naming_other_params_is_not_loaded(desk: TrustedDesk) -> None:
    """A snapshot whose signed body names params other than the model config's (signed
    before approvals compared tags with the config): the runner trades only what was signed."""
    assert desk.promote(desk.versions[0], "shadow").ok
    snapshot_id = desk.svc.deployments()[("ema_cross", "shadow")][1]
    with desk.engine.connect() as conn:
        document = store.get_snapshot(conn, snapshot_id)
    document["body"]["params_hash"] = "0" * 16
    payload = {**document["approval"]["payload"], "snapshot_digest": digest(document["body"])}
    document["approval"] = {"payload": payload,
                            "signature": desk.signer("bob")(payload).to_dict()}
    desk.sql("UPDATE gov_snapshots SET document = ? WHERE id = ?",
             canonical_json(document).decode(), snapshot_id)
    assert desk.svc.verify_deployment("ema_cross", "shadow").ok
    deployed, refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert deployed == [] and "the checker approved other params" in refused[0].reason


def test_deleted_audit_row_is_named_by_verify(desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    desk.sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
    desk.sql("DELETE FROM audit_log WHERE seq = 2")
    verdict = AuditLog(desk.engine).verify()
    assert not verdict.ok and verdict.first_bad_seq == 3


# -- rollback abuse ---------------------------------------------------------------------------

def _two_live_versions(desk: TrustedDesk) -> None:
    for version in desk.versions[:2]:
        for stage in ("shadow", "canary", "live"):
            assert desk.promote(version, stage).ok


def _insert_fake_previous_live(desk: TrustedDesk) -> None:
    """A history row claiming v2's *canary* snapshot was once promoted to live."""
    canary_id = desk.svc.deployments()[("ema_cross", "canary")][1]
    desk.sql("INSERT INTO gov_deployment_history (strategy, stage, version, snapshot_id, "
             "action, actor, at) VALUES ('ema_cross', 'live', ?, ?, 'promote', 'bob', 'x')",
             desk.versions[1], canary_id)


def test_rollback_to_an_inserted_history_row_is_refused_and_live_stays(
        desk: TrustedDesk) -> None:
    _two_live_versions(desk)
    _insert_fake_previous_live(desk)
    before = desk.svc.deployments()
    with pytest.raises(GovernanceRefusal, match=r"previous live deployment of ema_cross "
                                                r"\(v2\) does not verify: .*for stage "
                                                r"'canary', not 'live'"):
        desk.svc.rollback("ema_cross", "fills worse", desk.signer("carol"))
    assert desk.svc.deployments() == before
    assert desk.records("refused")[-1].detail["action"] == "rollback"


def test_approved_rollback_request_to_an_inserted_row_is_refused(
        desk: TrustedDesk) -> None:
    _two_live_versions(desk)
    _insert_fake_previous_live(desk)
    row = request_rollback(desk.svc, "ema_cross", desk.versions[1], "health breach",
                           desk.signer("alice"))
    before = desk.svc.deployments()
    with pytest.raises(GovernanceRefusal, match="does not verify"):
        approve_request(desk.svc, row.ref, desk.signer("bob"))
    assert desk.svc.deployments() == before


# -- reviewed files changed without the config maker/checker ---------------------------------

def _approve_risk(desk: TrustedDesk) -> Path:
    risk = desk.root / "risk.yaml"
    risk.write_bytes((REPO / "risk.yaml").read_bytes())
    row = request_config(desk.svc, "risk", "the shipped limits", desk.signer("alice"))
    approve_config(desk.svc, row.ref, desk.signer("carol"))
    assert desk.svc.config_problems() == []
    return risk


def test_deleted_approved_risk_file_blocks_approvals(desk: TrustedDesk) -> None:
    _approve_risk(desk).unlink()
    ref = _requested(desk)
    _refused_approval(desk, ref, "risk.yaml is missing but has approved version 1")


def test_unapproved_policy_edit_refuses_a_canary_start_and_is_audited(
        desk: TrustedDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratops.live_ops import LiveSetupError

    policy = desk.root / "policy.yaml"
    policy.write_text(policy.read_text() + "\n# loosened by hand\n")
    sha = hashlib.sha256(policy.read_bytes()).hexdigest()[:12]
    with pytest.raises(LiveSetupError, match=f"canary refused: policy.yaml \\(sha {sha}\\) "
                                             "is not its approved version"):
        _prepare(desk, monkeypatch, "canary")
    refused = desk.records("refused")[-1]
    assert refused.actor == "runner:canary" and refused.detail["action"] == "live_start"


def test_replaced_trust_lock_refuses_a_canary_start_and_is_audited(
        desk: TrustedDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratops.live_ops import LiveSetupError

    lock: dict[str, Any] = json.loads(desk.lock.read_text())
    lock["entries"][0]["previous"] = "0" * 64  # re-chained by hand
    desk.lock.write_text(json.dumps(lock))
    with pytest.raises(LiveSetupError, match="canary refused"):
        _prepare(desk, monkeypatch, "canary")
    refused = desk.records("refused")[-1]
    assert refused.actor == "runner:canary" and refused.detail["action"] == "live_start"


# -- path traversal through a strategy name ------------------------------------------------------

def test_traversal_strategy_name_in_a_request_is_refused_and_audited(
        desk: TrustedDesk) -> None:
    before = len(desk.records("refused"))
    with pytest.raises(GovernanceRefusal, match=re.escape("'../../etc' is not valid")):
        desk.svc.request_promotion("../../etc", 1, "shadow", "go", desk.signer("alice"))
    assert len(desk.records("refused")) == before + 1


# -- signatures reused, rows edited, artifacts swapped -----------------------------------------

def test_canary_approval_signature_replayed_on_the_live_request_is_refused(
        desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    captured: list[Signature] = []
    bob = desk.signer("bob")
    canary = desk.svc.request_promotion("ema_cross", desk.versions[0], "canary", "go",
                                        desk.signer("alice"))
    def recording(payload: Mapping[str, Any]) -> Signature:
        captured.append(bob(payload))
        return captured[-1]

    desk.svc.approve(canary.ref, recording)
    live = desk.svc.request_promotion("ema_cross", desk.versions[0], "live", "go",
                                      desk.signer("alice"))
    before = desk.svc.deployments()
    with pytest.raises(GovernanceRefusal, match="bad signature"):
        desk.svc.approve(live.ref, lambda payload: captured[0])
    assert desk.svc.deployments() == before
    assert desk.records("refused")[-1].actor == "unverified:bob"


def test_pending_request_payload_edited_with_sql_is_refused(desk: TrustedDesk) -> None:
    """Alice asked for v1; the insider points her pending request at v2 before bob looks."""
    ref = _requested(desk)
    desk.sql("UPDATE gov_requests SET payload = replace(payload, '\"version\":1', "
             "'\"version\":2')")
    _refused_approval(desk, ref, "maker signature does not verify over its payload")


def test_second_identity_with_the_makers_key_is_refused_in_the_roles_file(
        desk: TrustedDesk) -> None:
    """Alice lists her own key under a second, desk-head name: the roles change itself is
    refused (each user needs their own key), so she can never check her own request."""
    import yaml

    roles = yaml.safe_load(desk.roles.read_text())
    roles["users"]["alice2"] = {"roles": ["desk_head"],
                                "public_key": roles["users"]["alice"]["public_key"]}
    desk.roles.write_text(yaml.safe_dump(roles))
    same_key = re.escape("the same key as users.alice.public_key")
    with pytest.raises(GovernanceRefusal, match=same_key):
        request_config(desk.svc, "roles", "a second hat", desk.signer("alice"))


def test_params_swapped_in_the_artifact_store_after_approval_refuses_the_load(
        desk: TrustedDesk) -> None:
    """The insider rewrites the approved version's ``MLmodel`` model_config params in the
    artifact store (the template's files: restored afterwards)."""
    assert desk.promote(desk.versions[0], "shadow").ok
    uri = desk.registry.client.get_model_version_download_uri("ema_cross",
                                                               str(desk.versions[0]))
    mlmodel = Path(uri.removeprefix("file://")) / "MLmodel"
    original = mlmodel.read_bytes()
    text = original.decode()
    assert "slow: " in text
    head, _, tail = text.partition("slow: ")
    number, _, rest = tail.partition("\n")
    try:
        mlmodel.write_text(f"{head}slow: {int(number) + 1}\n{rest}")
        deployed, refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    finally:
        mlmodel.write_bytes(original)
    assert deployed == [] and "a swapped artifact" in refused[0].reason


def test_candidates_outside_shadow_are_refused(desk: TrustedDesk,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from stratops.live_ops import LiveSetupError, prepare
    from stratops.settings import load_settings

    monkeypatch.setenv("STRATOPS_MLFLOW_TRACKING_URI", f"sqlite:///{desk.root}/mlflow.db")
    with pytest.raises(LiveSetupError, match="shadow-only"):
        prepare("canary", "replay:nse_index_1m", None, None, ["ema_cross"], True,
                load_settings(desk.root))


# -- a decided request reset to pending with SQL ---------------------------------------------

def _reset_to_pending(desk: TrustedDesk, ref: str) -> None:
    desk.sql("UPDATE gov_requests SET state = 'pending', decided_by = NULL, decision = NULL, "
             "decided_at = NULL WHERE id = ?", int(ref.removeprefix("R")))


def test_rejected_request_reset_to_pending_cannot_be_approved(desk: TrustedDesk) -> None:
    ref = _requested(desk)
    desk.svc.reject(ref, "not this one", desk.signer("bob"))
    _reset_to_pending(desk, ref)
    before = desk.svc.deployments()
    with pytest.raises(GovernanceRefusal, match="already decided \\(promotion_rejected by "
                                                "'bob'"):
        desk.svc.approve(ref, desk.signer("dave"))
    assert desk.svc.deployments() == before


def test_old_approved_request_reset_to_pending_is_not_approved_again(
        desk: TrustedDesk) -> None:
    """v1 was approved to shadow (R), then v2 replaced it; re-approving alice's old request
    would bring v1 back without her asking again."""
    ref = _requested(desk)
    assert desk.svc.approve(ref, desk.signer("bob")).ok
    assert desk.promote(desk.versions[1], "shadow").ok
    _reset_to_pending(desk, ref)
    before = desk.svc.deployments()
    with pytest.raises(GovernanceRefusal, match="already decided \\(promotion_approved"):
        desk.svc.approve(ref, desk.signer("dave"))
    assert desk.svc.deployments() == before


# -- SIGKILL during an approval ---------------------------------------------------------------

def _approval_state(desk: TrustedDesk, ref: str) -> str:
    """The request's state, after checking the stores agree on it whatever moment the
    approving process died at: the audit chain intact; the request approved exactly when a
    deployment, its snapshot and one ``promotion_approved`` record exist; the runner loading
    v1 only when it was approved (an alias not yet moved is refused, never traded)."""
    assert AuditLog(desk.engine).verify().ok
    with desk.engine.connect() as conn:
        row = store.get_request(conn, int(ref.removeprefix("R")))
    assert row is not None
    approved = [r for r in desk.records("promotion_approved") if r.subject == ref]
    deployed = desk.svc.deployments()
    assert (row.state == "approved") == bool(deployed) == (len(approved) == 1), \
        (row.state, deployed, approved)
    loaded, _ = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert [d.version for d in loaded] in ([], [desk.versions[0]] if deployed else [])
    return row.state


def _kill_when(command: list[str], env: dict[str, str], cwd: Path,
               ready: Any) -> str:
    """Start ``command``, SIGKILL it as soon as ``ready()`` holds (polled every 10 ms, at
    most 300 s), return its output."""
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    return str(proc.communicate()[0])


def _state_now(desk: TrustedDesk, ref: str) -> str | None:
    import sqlite3

    with sqlite3.connect(desk.root / "governance.db") as conn:
        found = conn.execute("SELECT state FROM gov_requests WHERE id = ?",
                             (int(ref.removeprefix("R")),)).fetchone()
    return None if found is None else str(found[0])


def test_sigkill_during_promote_approve_leaves_all_or_nothing(desk: TrustedDesk) -> None:
    """``stratops promote approve`` killed -9 once after its opening audit checkpoint (before
    the approval commits) and once the moment the approval is committed (before the aliases
    move or the closing checkpoint): the stores agree each time, and ``promote sync``
    brings the alias to the approved state."""
    import os
    import subprocess
    import sys

    ref = _requested(desk)
    env = {**os.environ, "STRATOPS_ROOT": str(desk.root), "STRATOPS_KEYS_DIR": str(desk.keys),
           "STRATOPS_GOVERNANCE__DB_URL": f"sqlite:///{desk.root}/governance.db",
           "STRATOPS_MLFLOW_TRACKING_URI": f"sqlite:///{desk.root}/mlflow.db"}
    command = [str(Path(sys.executable).parent / "stratops"), "promote", "approve", ref,
               "--as", "bob"]
    checkpoints = desk.root / ".stratops" / "checkpoints" / "audit.jsonl"
    out = _kill_when(command, env, desk.root, checkpoints.exists)
    assert _approval_state(desk, ref) == "pending", out
    out = _kill_when(command, env, desk.root, lambda: _state_now(desk, ref) == "approved")
    assert _approval_state(desk, ref) == "approved", out
    status = subprocess.run([*command[:2], "sync", "ema_cross"], cwd=desk.root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert status.returncode == 0, status.stdout + status.stderr
    (loaded,), refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert refused == [] and loaded.version == desk.versions[0]


# -- a pending config request's stored content edited with SQL -------------------------------

def test_roles_request_content_edited_with_sql_is_refused_and_audited(
        desk: TrustedDesk) -> None:
    """Carol reviews alice's roles change (erin leaves); the insider swaps the stored content
    that would enter the trust lock for one making mallory a desk head."""
    import yaml

    roles = yaml.safe_load(desk.roles.read_text())
    erin = roles["users"].pop("erin")
    forged = yaml.safe_dump({**roles, "users": {**roles["users"], "mallory": {
        "roles": ["desk_head"], "public_key": erin["public_key"]}}})
    desk.roles.write_text(yaml.safe_dump(roles))
    desk.reload()
    row = request_config(desk.svc, "roles", "erin leaves", desk.signer("alice"))
    desk.sql("UPDATE gov_requests SET content = ? WHERE id = ?", forged, row.id)
    lock_before = desk.lock.read_bytes()
    with pytest.raises(GovernanceRefusal, match=r"stored content .* is not what its maker "
                                                r"signed"):
        approve_config(desk.svc, row.ref, desk.signer("carol"))
    assert desk.lock.read_bytes() == lock_before
    assert desk.records("refused")[-1].detail["action"] == "config_approve"


def test_requested_version_deleted_from_mlflow_is_refused_and_audited(
        desk: TrustedDesk) -> None:
    ref = _requested(desk)
    desk.registry.client.delete_model_version("ema_cross", str(desk.versions[0]))
    _refused_approval(desk, ref, f"no version '{desk.versions[0]}' of registered model")


def test_pending_request_payload_stripped_with_sql_is_refused_and_audited(
        desk: TrustedDesk) -> None:
    ref = _requested(desk)
    desk.sql("UPDATE gov_requests SET payload = '{\"action\":\"promotion_request\"}'")
    _refused_approval(desk, ref, "payload")


def test_snapshot_document_corrupted_with_sql_is_a_refusal_not_a_crash(
        desk: TrustedDesk) -> None:
    assert desk.promote(desk.versions[0], "shadow").ok
    desk.sql("UPDATE gov_snapshots SET document = '{not json'")
    deployed, refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    assert deployed == [] and "not a readable signed snapshot" in refused[0].reason


def test_request_row_edited_into_invalid_json_is_refused_and_audited(
        desk: TrustedDesk) -> None:
    ref = _requested(desk)
    desk.sql("UPDATE gov_requests SET maker_signature = '{oops'")
    _refused_approval(desk, ref, f"request {ref} is unreadable")


def test_classifier_file_planted_in_the_approved_model_folder_refuses_the_load(
        desk: TrustedDesk) -> None:
    """A regime classifier (skops) and its reference distribution planted in the approved
    version's artifact folder after approval (removed afterwards: the template's files)."""
    assert desk.promote(desk.versions[0], "shadow").ok
    uri = desk.registry.client.get_model_version_download_uri("ema_cross",
                                                               str(desk.versions[0]))
    planted = Path(uri.removeprefix("file://")) / "signal_governance"
    planted.mkdir()
    try:
        (planted / "classifier.skops").write_bytes(b"PK\x03\x04 not a reviewed model")
        (planted / "reference.json").write_text('{"rv_30": [0.0, 1.0]}')
        deployed, refused = load_deployed(desk.svc, "shadow", ["ema_cross"])
    finally:
        for path in planted.iterdir():
            path.unlink()
        planted.rmdir()
    assert deployed == [] and "a swapped artifact" in refused[0].reason


def test_request_subject_column_pointed_at_another_strategy_is_refused(
        desk: TrustedDesk) -> None:
    """The subject column (not signed) names the strategy the deployment row is written
    for: pointed at another strategy, the approval would deploy a snapshot of ema_cross as
    atr_divergence's."""
    ref = _requested(desk)
    desk.sql("UPDATE gov_requests SET subject = 'atr_divergence' WHERE id = ?",
             int(ref.removeprefix("R")))
    _refused_approval(desk, ref, "the subject column says 'atr_divergence' but its maker "
                                 "signed a request for 'ema_cross'")


def test_config_request_subject_pointed_at_roles_is_refused(desk: TrustedDesk) -> None:
    gates = desk.root / "gates.yaml"
    gates.write_text(gates.read_text() + "# reviewed comment\n")
    row = request_config(desk.svc, "gates", "a comment", desk.signer("alice"))
    desk.sql("UPDATE gov_requests SET subject = 'roles' WHERE id = ?", row.id)
    lock_before = desk.lock.read_bytes()
    with pytest.raises(GovernanceRefusal, match="the subject column says 'roles' but its "
                                                "maker signed a 'gates' change"):
        approve_config(desk.svc, row.ref, desk.signer("carol"))
    assert desk.lock.read_bytes() == lock_before


def test_rollback_request_subject_pointed_at_another_strategy_is_refused(
        desk: TrustedDesk) -> None:
    _two_live_versions(desk)
    row = request_rollback(desk.svc, "ema_cross", desk.versions[1], "health breach",
                           desk.signer("alice"))
    desk.sql("UPDATE gov_requests SET subject = 'atr_divergence' WHERE id = ?", row.id)
    before = desk.svc.deployments()
    with pytest.raises(GovernanceRefusal, match="signed a rollback of 'ema_cross'"):
        approve_request(desk.svc, row.ref, desk.signer("bob"))
    assert desk.svc.deployments() == before
