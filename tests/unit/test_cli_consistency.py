"""The CLI's consistency rules: one version syntax, ``--json`` beside tables, ``NO_COLOR``,
and readers that report a missing store (exit 2, one ``error:`` line with a hint) instead of
creating an empty one."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stratops.cli import main
from stratops.cli_common import VersionRefError, parse_version
from stratops.live_ops import open_mode_journal
from stratops.settings import load_settings
from tests.unit.test_journal import sample_session

REPO = Path(__file__).resolve().parents[2]
SGR = re.compile(r"\x1b\[([0-9;]*)m")
COLOUR_CODES = {*range(30, 39), *range(40, 49), *range(90, 98), *range(100, 108)}


def colour_codes(text: str) -> list[str]:
    """The SGR escape sequences in ``text`` that set a colour (bold or italic are not one)."""
    return [m.group(0) for m in SGR.finditer(text)
            if any(p.isdigit() and int(p) in COLOUR_CODES for p in m.group(1).split(";"))]


@pytest.mark.parametrize(("argv", "strategy", "ref"), [
    (("ema_cross@3",), "ema_cross", "3"),
    (("ema_cross", "3"), "ema_cross", "3"),
    (("ema_cross@007",), "ema_cross", "7"),
    (("ema_cross@live",), "ema_cross", "@live"),
    (("ema_cross", "live"), "ema_cross", "@live"),
    (("ema_cross", "@live"), "ema_cross", "@live"),
    (("ema_cross@latest",), "ema_cross", "latest"),
    (("ema_cross", "latest"), "ema_cross", "latest"),
])
def test_parse_version_either_form_gives_the_same_ref(argv: tuple[str, ...], strategy: str,
                                                      ref: str) -> None:
    parsed = parse_version(*argv)
    assert (parsed.strategy, parsed.ref) == (strategy, ref)


@pytest.mark.parametrize(("argv", "message"), [
    (("ema_cross",), "'ema_cross' names no version; use STRATEGY@ALIAS"),
    (("ema_cross@3", "4"), "give the version once, as ema_cross@3 or ema_cross 3"),
    (("@3",), "'@3' is not a version"),
    (("ema_cross@",), "'ema_cross@' is not a version"),
    (("ema_cross", "a/b"), "version 'a/b' of 'ema_cross' is not a number"),
])
def test_parse_version_malformed_is_refused_naming_the_value(argv: tuple[str, ...],
                                                            message: str) -> None:
    with pytest.raises(VersionRefError, match=re.escape(message)):
        parse_version(*argv)


@pytest.fixture()
def empty_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the reviewed files and no stores at all."""
    root = tmp_path / "desk"
    root.mkdir()
    for name in ("gates.yaml", "policy.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    monkeypatch.setenv("STRATOPS_ROOT", str(root))
    monkeypatch.chdir(root)
    return root


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("argv", [
    ["promote", "status"], ["promote", "status", "--json"], ["config", "status"],
    ["config", "status", "--json"], ["audit", "show"], ["audit", "show", "--json"],
    ["audit", "verify"], ["audit", "export", "audit.jsonl"],
])
def test_reader_missing_governance_db_exits_two_with_hint_and_creates_nothing(
        empty_project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert f"no governance database at {empty_project / '.stratops' / 'governance.db'}" in err
    assert "stratops trust bootstrap" in err and "STRATOPS_GOVERNANCE__DB_URL" in err
    assert sorted(p.name for p in empty_project.iterdir()) == [
        "gates.yaml", "policy.yaml", "risk.yaml"]


@pytest.mark.parametrize("argv", [["gate", "check", "ema_cross@1"],
                                  ["gate", "check", "ema_cross", "1", "--json"]])
def test_gate_check_missing_mlflow_store_exits_two_with_hint_and_creates_nothing(
        empty_project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert f"no MLflow store at {empty_project / 'mlflow' / 'mlflow.db'}" in err
    assert "stratops research run" in err
    assert not (empty_project / "mlflow").exists()


def test_gate_check_without_a_version_exits_two_naming_both_forms(
        empty_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "check", "ema_cross"]) == 2
    assert "use STRATEGY@ALIAS, STRATEGY@VERSION or STRATEGY VERSION" in _one_error_line(capsys)


def test_deploy_verify_of_a_version_number_exits_two_asking_for_an_alias(
        empty_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "verify", "ema_cross@3"]) == 2
    assert "checks a stage alias (e.g. ema_cross@live), not ema_cross@3" in \
        _one_error_line(capsys)


@pytest.mark.parametrize("argv", [["risk", "report", "--mode", "live"],
                                  ["risk", "report", "--mode", "live", "--json"],
                                  ["journal", "replay", "--mode", "canary", "--json"]])
def test_journal_reader_of_a_mode_never_run_exits_two_and_creates_nothing(
        empty_project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert f"no {argv[3]} journal at" in _one_error_line(capsys)
    assert not (empty_project / ".stratops").exists()


def test_journal_replay_json_carries_the_printed_summary(
        empty_project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    messages = sample_session(2)
    open_mode_journal(load_settings(empty_project), "shadow").append_many(messages)
    assert main(["journal", "replay"]) == 0
    text = capsys.readouterr().out
    assert main(["journal", "replay", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events"] == len(messages) and data["mode"] == "shadow"
    assert f"trading state hash {data['trading_state_hash']}" in text
    assert f"events {data['events']:,}, orders {data['orders']}" in text
    assert [(p["strategy"], p["symbol"]) for p in data["positions"]] == sorted(
        (p["strategy"], p["symbol"]) for p in data["positions"])


def test_error_line_on_a_terminal_with_no_color_has_no_colour_codes(
        empty_project: Path) -> None:
    """click colours ``error:`` lines on a terminal whatever NO_COLOR says; ours must not."""
    def on_tty(**env: str) -> str:
        leader, follower = pty.openpty()
        environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        environ |= {"STRATOPS_ROOT": str(empty_project), "PYTHONPATH": str(REPO), **env}
        proc = subprocess.run([sys.executable, "-m", "stratops.cli", "journal", "verify",
                               "--mode", "live"], cwd=empty_project, env=environ,
                              stdin=follower, stdout=follower, stderr=follower, timeout=120)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert proc.returncode == 2
        return b"".join(chunks).decode()

    coloured, plain = on_tty(), on_tty(NO_COLOR="1")
    assert colour_codes(coloured) and "error: no live journal" in coloured  # the control
    assert colour_codes(plain) == [] and "error: no live journal" in plain


def test_live_create_databases_sqlite_journal_needs_nothing_and_creates_nothing(
        empty_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "create-databases", "--json"]) == 0
    assert {v["state"] for v in json.loads(capsys.readouterr().out).values()} == {"sqlite"}
    assert not (empty_project / ".stratops").exists()


@pytest.mark.parametrize(("values", "expected"), [
    ({}, "{root}/mlflow/artifacts"),
    ({"mlflow_artifact_root": "store/art"}, "{root}/store/art"),
    ({"mlflow_tracking_uri": "http://mlflow:5000"}, "mlflow-artifacts:/stratops"),
    ({"mlflow_tracking_uri": "https://mlflow", "mlflow_artifact_root": "s3://b/x"}, "s3://b/x"),
])
def test_settings_artifact_root_by_tracking_uri_is_a_folder_or_the_servers_store(
        tmp_path: Path, values: dict[str, str], expected: str) -> None:
    from stratops.settings import Settings

    assert str(Settings(root=tmp_path, **values).artifact_root) == expected.format(
        root=tmp_path)


def test_settings_unknown_tracking_scheme_exits_two_naming_it(
        empty_project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_MLFLOW_TRACKING_URI", "mysql://db/mlflow")
    assert main(["gate", "check", "ema_cross@1"]) == 2
    err = _one_error_line(capsys)
    assert "mlflow_tracking_uri" in err and "'mysql://db/mlflow'" in err and "http(s)://" in err
