"""The instrument master as a dataset: the synthetic build, its suite, and a real dump's import
(validated first; a refused file leaves what is stored untouched)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.datasets.instrument_master import build_master, futures_symbol
from pipelines.datasets.master_import import import_master
from pipelines.datasets.master_validation import MasterRejectedError, validate_master
from strategies.instruments import InstrumentMasterError, parse_master

MASTER_TEXT = build_master(date(2025, 1, 1), date(2025, 6, 30)).to_csv()


def test_synthetic_master_has_index_rows_and_monthly_futures() -> None:
    master = parse_master(MASTER_TEXT)
    assert master.by_symbol("NIFTY 50", "NSE").instrument_token == 256265
    assert master.by_symbol("NIFTY BANK", "NSE").instrument_token == 260105
    assert [c.tradingsymbol for c in master.futures("BANKNIFTY")][:2] == [
        "BANKNIFTY25JANFUT", "BANKNIFTY25FEBFUT"]
    assert {(c.lot_size, c.tick_size, c.segment) for c in master.futures("NIFTY")} == {
        (75, 0.05, "NFO-FUT")}
    assert futures_symbol("NIFTY", date(2026, 3, 1)) == "NIFTY26MARFUT"


def test_synthetic_master_is_deterministic() -> None:
    again = build_master(date(2025, 1, 1), date(2025, 6, 30)).to_csv()
    assert again == MASTER_TEXT


def test_master_suite_passes_the_synthetic_master() -> None:
    _, report = validate_master(MASTER_TEXT, name="m", source="m.csv")
    assert report.passed
    assert len(report.outcomes) == 8


def test_master_suite_refuses_an_expiry_on_a_holiday_naming_the_row() -> None:
    bad = MASTER_TEXT.replace("2025-02-27", "2025-02-26")  # Mahashivratri: no session
    with pytest.raises(MasterRejectedError) as caught:
        validate_master(bad, name="m", source="m.csv")
    failed = caught.value.report.failures
    assert [o.name for o in failed] == ["futures: expiry is an NSE session"]
    assert {e["tradingsymbol"] for e in failed[0].examples} == {"NIFTY25FEBFUT",
                                                                "BANKNIFTY25FEBFUT"}


def test_master_suite_refuses_two_futures_on_one_expiry() -> None:
    bad = MASTER_TEXT.replace("2025-03-27", "2025-04-24")
    with pytest.raises(MasterRejectedError, match="one per underlying and expiry"):
        validate_master(bad, name="m", source="m.csv")


@pytest.fixture
def dvc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # DVC works from inside its repo, as the CLI does
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path,
                   check=True)
    return tmp_path


def test_import_master_stores_and_versions_a_valid_dump(dvc_root: Path, tmp_path: Path
                                                        ) -> None:
    source = tmp_path / "instruments.csv"
    source.write_text(MASTER_TEXT)
    result = import_master(source, root=dvc_root, max_bytes=1 << 20)
    assert result.path == dvc_root / "data/imports/kite_instruments.csv"
    assert result.path.read_text() == MASTER_TEXT
    assert result.path.with_name("kite_instruments.csv.dvc").is_file()


def test_import_master_refused_file_leaves_the_stored_one_untouched(dvc_root: Path,
                                                                    tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(MASTER_TEXT)
    stored = import_master(good, root=dvc_root, max_bytes=1 << 20).path
    record = stored.with_name(stored.name + ".dvc").read_text()
    bad.write_text(MASTER_TEXT.replace(",75,", ",0,", 1))
    with pytest.raises(InstrumentMasterError, match=r"bad\.csv: line 4: lot_size='0'"):
        import_master(bad, root=dvc_root, max_bytes=1 << 20)
    bad.write_text(MASTER_TEXT.replace("2025-02-27", "2025-02-26"))
    with pytest.raises(MasterRejectedError):
        import_master(bad, root=dvc_root, max_bytes=1 << 20)
    assert stored.read_text() == MASTER_TEXT
    assert stored.with_name(stored.name + ".dvc").read_text() == record


def test_import_master_refuses_an_oversized_file(tmp_path: Path) -> None:
    source = tmp_path / "instruments.csv"
    source.write_text(MASTER_TEXT)
    with pytest.raises(InstrumentMasterError, match="above the limit of 100"):
        import_master(source, root=tmp_path, max_bytes=100)


def test_cli_import_instruments_refuses_a_bad_dump_with_exit_codes(
        dvc_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from stratops.cli import main

    for name in ("dvc.yaml", "pyproject.toml"):
        (dvc_root / name).write_text((Path(__file__).resolve().parents[2] / name).read_text())
    monkeypatch.setenv("STRATOPS_ROOT", str(dvc_root))
    holiday = tmp_path / "holiday.csv"
    holiday.write_text(MASTER_TEXT.replace("2025-02-27", "2025-02-26"))
    assert main(["data", "import-instruments", str(holiday)]) == 1  # a failed rule
    assert "expiry is an NSE session" in capsys.readouterr().err
    broken = tmp_path / "broken.csv"
    broken.write_text(MASTER_TEXT.replace("NFO-FUT,NFO", "NFO-FUT,", 1))
    assert main(["data", "import-instruments", str(broken)]) == 2  # not a Kite dump
    assert "line 4: exchange=''" in capsys.readouterr().err
    assert not (dvc_root / "data/imports/kite_instruments.csv").exists()
    good = tmp_path / "good.csv"
    good.write_text(MASTER_TEXT)
    assert main(["data", "import-instruments", str(good), "--json"]) == 0
    assert '"futures": 12' in capsys.readouterr().out


def test_cli_validate_instruments_checks_a_master_in_place(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stratops.cli import main

    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(MASTER_TEXT)
    bad.write_text(MASTER_TEXT.replace("2025-03-27", "2025-04-24"))
    assert main(["data", "validate-instruments", str(good)]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert main(["data", "validate-instruments", str(bad)]) == 1
    assert "one per underlying and expiry" in capsys.readouterr().err
