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
