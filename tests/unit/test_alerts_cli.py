"""``stratops playbook`` and ``stratops alerts``: bad input exits 2 naming it, readers create
nothing, proposals are read from the mode's journal."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from live.events import PlaybookActed
from stratops.cli import main
from stratops.live_ops import open_mode_journal
from stratops.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "desk"
    root.mkdir()
    for name in ("gates.yaml", "policy.yaml", "risk.yaml", "playbooks.yaml"):
        shutil.copy(REPO / name, root / name)
    monkeypatch.setenv("STRATOPS_ROOT", str(root))
    monkeypatch.chdir(root)
    return root


def test_playbook_check_shipped_file_exits_zero(desk: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbook", "check", "--json"]) == 0
    names = [p["name"] for p in json.loads(capsys.readouterr().out)["playbooks"]]
    assert "runaway_pause" in names


def test_playbook_check_bad_action_exits_two_naming_the_field(
        desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = yaml.safe_load((desk / "playbooks.yaml").read_text())
    document["playbooks"][0]["action"] = "panic"
    (desk / "playbooks.yaml").write_text(yaml.safe_dump(document))
    assert main(["playbook", "check"]) == 2
    assert "playbooks[0] (runaway_pause).action='panic'" in capsys.readouterr().err


def test_alerts_list_without_a_queue_exits_two_and_creates_nothing(
        desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (desk / "stratops.yaml").write_text(yaml.safe_dump({"alerts": {
        "webhooks": [{"name": "h", "url": "http://127.0.0.1:9/", "secret_env": "NOPE_X"}],
        "tiers": [["h"]]}}))
    assert main(["alerts", "list"]) == 2
    assert "no alert queue at" in capsys.readouterr().err
    assert not (desk / ".stratops" / "alerts.db").exists()


def test_playbook_proposals_lists_a_waiting_proposal(
        desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = open_mode_journal(load_settings(), "live")
    journal.append(PlaybookActed(trace_id="al1", ts_event=datetime(2025, 3, 3, 4, tzinfo=UTC),
                                 playbook="unexplained_pnl_flatten",
                                 alert_code="unexplained_pnl", action="flatten",
                                 scope="ema_cross", outcome="proposed",
                                 proposal="PB0123456789"))
    assert main(["playbook", "proposals", "--mode", "live", "--json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)["proposals"]
    assert (found["proposal"], found["action"], found["trace_id"]) == \
        ("PB0123456789", "flatten", "al1")
