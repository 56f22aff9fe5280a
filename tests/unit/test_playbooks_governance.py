"""playbooks.yaml is a reviewed file: a change is requested by a maker and approved by a
risk officer; an invalid file cannot be requested; an edit after approval is a problem that
refuses canary and live runs (``config_problems``)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from live.config_changes import approve_config, request_config
from live.db import make_engine
from live.governance.configs import ConfigFiles
from live.governance.identity import create_keys, load_actor, load_directory
from live.governance.promotion import GovernanceRefusal, GovernanceService, Signer
from strategies.roster import STRATEGIES


def clock() -> datetime:
    return datetime(2026, 1, 5, 4, 0, tzinfo=UTC)


class Reviewed:
    def __init__(self, root: Path, repo_root: Path) -> None:
        self.keys, users = root / "keys", {}
        for name, roles in (("quinn", ["quant"]), ("rita", ["risk_officer"])):
            users[name] = {"roles": roles, "public_key": create_keys(name, self.keys)[1]}
        (root / "roles.yaml").write_text(yaml.safe_dump({"version": 1, "users": users}))
        self.path = root / "playbooks.yaml"
        shutil.copy(repo_root / "playbooks.yaml", self.path)
        self.directory = load_directory(root / "roles.yaml")
        engine = make_engine(f"sqlite:///{root / 'governance.db'}")
        self.svc = GovernanceService(
            engine=engine, directory=self.directory, registry=None,  # type: ignore[arg-type]
            configs=ConfigFiles(engine, {"playbooks": self.path}), clock=clock,
            known_strategies=set(STRATEGIES))

    def signer(self, user: str) -> Signer:
        actor = load_actor(self.directory, user, self.keys)
        return lambda payload: actor.sign(payload, now=clock(), ttl_seconds=900)

    def approve(self) -> int:
        row = request_config(self.svc, "playbooks", "initial playbooks", self.signer("quinn"))
        return approve_config(self.svc, row.ref, self.signer("rita"))


@pytest.fixture()
def reviewed(tmp_path: Path, repo_root: Path) -> Reviewed:
    return Reviewed(tmp_path, repo_root)


def test_playbooks_unapproved_file_is_a_config_problem(reviewed: Reviewed) -> None:
    (problem,) = reviewed.svc.config_problems()
    assert "playbooks.yaml has no approved version" in problem


def test_playbooks_approved_by_a_risk_officer_clears_the_problem(reviewed: Reviewed) -> None:
    assert reviewed.approve() == 1
    assert reviewed.svc.config_problems() == []


def test_playbooks_edited_after_approval_is_a_config_problem(reviewed: Reviewed) -> None:
    reviewed.approve()
    reviewed.path.write_text(reviewed.path.read_text().replace("max_actions: 1,",
                                                               "max_actions: 9,"))
    (problem,) = reviewed.svc.config_problems()
    assert "playbooks.yaml (sha" in problem and "is not its approved version 1" in problem


def test_playbooks_invalid_file_cannot_be_requested(reviewed: Reviewed) -> None:
    reviewed.path.write_text("version: 1\nplaybooks:\n  - {name: x, action: explode}\n")
    with pytest.raises(GovernanceRefusal, match="playbooks"):
        request_config(reviewed.svc, "playbooks", "oops", reviewed.signer("quinn"))

