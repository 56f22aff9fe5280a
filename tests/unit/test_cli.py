"""The command line: help everywhere, clean errors and exit codes scripts can rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratops.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["data", "--help"], ["data", "import", "--help"],
                                  ["data", "list", "--help"], ["data", "validate", "--help"],
                                  ["data", "build", "--help"], ["run", "--help"],
                                  ["ui", "--help"]])
def test_cli_help_exits_zero(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert "Usage" in capsys.readouterr().out


def test_cli_unknown_command_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_cli_import_missing_file_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    code = main(["data", "import", str(missing), "--symbol", "NIFTY", "--timeframe", "1m"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {missing}: no such file" in err
    assert "Traceback" not in err


def test_cli_import_bad_timeframe_names_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["data", "import", str(tmp_path / "x.csv"), "--symbol", "NIFTY",
                 "--timeframe", "1 minute"])
    assert code == 2
    assert "timeframe '1 minute'" in capsys.readouterr().err


def test_cli_import_unknown_venue_lists_venues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["data", "import", str(tmp_path / "x.csv"), "--symbol", "X", "--timeframe",
                 "1m", "--venue", "LSE"])
    assert code == 2
    assert "unknown venue 'LSE'" in capsys.readouterr().err


def test_cli_import_empty_file_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["data", "import", str(empty), "--symbol", "X", "--timeframe", "1m"]) == 2
    assert "file is empty" in capsys.readouterr().err


def test_cli_import_text_in_numeric_column_names_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close,volume\n"
                   "2025-01-06 09:15:00,100,101,99,abc,10\n")
    assert main(["data", "import", str(bad), "--symbol", "X", "--timeframe", "1m"]) == 2
    assert "column 'close'" in (err := capsys.readouterr().err) and "line 2: 'abc'" in err


def test_cli_import_traversal_symbol_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dvc.yaml", "pyproject.toml"):
        (project / name).write_text((Path(__file__).resolve().parents[2] / name).read_text())
    monkeypatch.setenv("STRATOPS_ROOT", str(project))
    source = tmp_path / "good.csv"
    source.write_text("date,open,high,low,close,volume\n"
                      "2025-01-06 09:15:00,100,101,99,100,10\n")
    escape = "../" * 12 + str(tmp_path.relative_to("/") / "escaped")
    before = sorted(p for p in tmp_path.rglob("*"))
    code = main(["data", "import", str(source), "--symbol", escape, "--timeframe", "1m"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --symbol '../") and "not a valid symbol" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_live_session_resume_says_how_many_bars_were_already_journaled(
        capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import pandas as pd

    from stratops.cli_live import _say_resume

    ist = ZoneInfo("Asia/Kolkata")
    ts = pd.date_range("2025-03-03 09:15", periods=5, freq="1min", tz=ist)
    frame = pd.DataFrame({"ts": ts, "symbol": "NIFTY"})
    _say_resume("shadow", frame, {"NIFTY": datetime(2025, 3, 3, 9, 18, tzinfo=ist)})
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at the terminal width
    assert "resuming the shadow journal at its last NIFTY bar" in out
    assert "3 earlier bars" in out


def test_live_session_fresh_journal_says_nothing_about_resuming(
        capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    from stratops.cli_live import _say_resume

    frame = pd.DataFrame({"ts": pd.date_range("2025-03-03", periods=2, tz="UTC"),
                          "symbol": "NIFTY"})
    _say_resume("shadow", frame, {})
    assert capsys.readouterr().out == ""


def test_journal_verify_of_a_mode_never_run_exits_two_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    assert main(["journal", "verify", "--mode", "live"]) == 2
    assert "no live journal at" in capsys.readouterr().err
    assert not (tmp_path / ".stratops" / "journal-live.db").exists()
