"""Governance from the shell as an operator would type it: the trust ceremony, and refusals
that happen before any signature can be checked - each audited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from live.db import make_engine
from live.governance.audit import AuditLog
from stratops.cli import main

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = root / "keys"

    def run(self, *argv: str) -> int:
        return main(list(argv))

    def audit(self, kind: str) -> list:
        engine = make_engine("sqlite:///.stratops/governance.db", self.root)
        return AuditLog(engine).records(kind=kind)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "desk"
    root.mkdir()
    for name in ("gates.yaml", "policy.yaml", "risk.yaml", "playbooks.yaml", "compliance.yaml"):
        shutil.copy(REPO / name, root / name)
    monkeypatch.setenv("STRATOPS_ROOT", str(root))
    monkeypatch.setenv("STRATOPS_KEYS_DIR", str(root / "keys"))
    monkeypatch.delenv("STRATOPS_USER", raising=False)
    desk = Project(root)
    for user, role in (("alice", "quant"), ("bob", "desk_head"), ("carol", "risk_officer")):
        assert desk.run("keys", "create", user, "--role", role, "--add-to-roles") == 0
    return desk


def _ceremony(project: Project) -> None:
    assert project.run("trust", "bootstrap", "--maker", "alice", "--checker", "carol",
                       "--reason", "desk setup") == 0


def test_keys_create_with_roles_claim_is_audited(project: Project) -> None:
    created = project.audit("keys_created")
    assert [r.subject for r in created] == ["alice", "bob", "carol"]
    assert created[0].detail["roles_claimed"] == ["quant"]
    assert created[0].detail["trusted"] is False


def test_signed_action_without_trust_lock_is_refused_and_audited(project: Project) -> None:
    assert project.run("config", "request", "gates", "--reason", "x", "--as", "alice") == 1
    refusal = project.audit("refused")[-1]
    assert refusal.actor == "unverified:alice"
    assert "no trust lock" in refusal.detail["reason"]


def test_ceremony_makes_the_lock_and_trust_show_verifies(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _ceremony(project)
    assert (project.root / "roles.lock.json").is_file()
    capsys.readouterr()
    assert project.run("trust", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["entries"] == 1 and shown["pending"] is False
    assert shown["users"]["bob"] == ["desk_head"]


def test_self_granted_desk_head_is_refused_and_audited(project: Project) -> None:
    _ceremony(project)
    assert project.run("keys", "create", "mallory", "--role", "desk_head",
                       "--add-to-roles") == 0
    assert project.run("trust", "show") == 1  # roles.yaml now holds an unapproved claim
    assert project.run("promote", "approve", "R1", "--as", "mallory") == 1
    refusal = project.audit("refused")[-1]
    assert refusal.actor == "unverified:mallory"
    assert "unknown user 'mallory'" in refusal.detail["reason"]


def test_exposed_key_file_refusal_is_audited(project: Project) -> None:
    _ceremony(project)
    (project.keys / "alice.key").chmod(0o644)
    assert project.run("config", "request", "gates", "--reason", "x", "--as", "alice") == 1
    refusal = project.audit("refused")[-1]
    assert refusal.actor == "unverified:alice"
    assert "lets group or others read it" in refusal.detail["reason"]


def test_deploy_verify_failure_is_audited(project: Project) -> None:
    _ceremony(project)
    assert project.run("deploy", "verify", "ema_cross@live") == 1
    refused = project.audit("deployment_refused")[-1]
    assert refused.subject == "ema_cross@live"
    assert "no approved live deployment" in refused.detail["problems"][0]


def test_unsignable_kill_still_halts_unsigned_and_audited(project: Project) -> None:
    _ceremony(project)
    assert project.run("kill", "--reason", "runaway", "--mode", "flatten", "--as",
                       "mallory") == 0
    pulled = project.audit("kill_switch")[-1]
    assert pulled.actor == "unverified:mallory" and pulled.detail["signed"] is False


def test_audit_verify_before_the_ceremony_needs_no_trust_lock(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert project.run("audit", "verify") == 0
    assert "no checkpoint file" in " ".join(capsys.readouterr().out.split())


def test_kill_action_flag_pulls_the_switch(project: Project,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _ceremony(project)
    assert project.run("kill", "--reason", "runaway", "--action", "flatten", "--as",
                       "mallory") == 0
    assert project.audit("kill_switch")[-1].detail["mode"] == "flatten"
    assert "deprecated" not in capsys.readouterr().err


def test_kill_deprecated_mode_flag_works_with_a_one_line_note(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _ceremony(project)
    capsys.readouterr()
    assert project.run("kill", "--reason", "runaway", "--mode", "reduce", "--as",
                       "mallory") == 0
    assert project.audit("kill_switch")[-1].detail["mode"] == "reduce"
    notes = [line for line in capsys.readouterr().err.splitlines() if "deprecated" in line]
    assert notes == ["note: kill --mode (it means the stage elsewhere) is deprecated; use "
                     "kill --action"]


@pytest.mark.parametrize("argv", [["--action", "pause"],
                                  ["--action", "halt", "--mode", "flatten"]])
def test_kill_bad_action_exits_two_and_pulls_nothing(
        project: Project, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    _ceremony(project)
    capsys.readouterr()
    assert project.run("kill", "--reason", "x", *argv, "--as", "carol") == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "deprecated" not in line]
    assert len(err) == 1 and err[0].startswith("error: --action ")
    assert project.audit("kill_switch") == []


def test_kill_help_shows_action_and_hides_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kill", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--action" in out and "--mode" not in out


def test_promote_and_config_status_json_after_the_ceremony(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _ceremony(project)
    capsys.readouterr()
    assert project.run("promote", "status", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"deployments": [], "requests": []}
    assert project.run("config", "status", "--json") == 1  # nothing approved yet
    status = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in status["files"]] == ["gates", "policy", "risk", "playbooks",
                                                    "compliance"]
    assert all(f["approved_version"] is None and len(f["file_sha256"]) == 64
               for f in status["files"])
    assert status["problems"]
