"""The real datasets built by DVC in a clean copy, the main job, list, import and refusal."""

from __future__ import annotations

import importlib.resources
import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.datasets.catalog import file_md5
from pipelines.datasets.schema import (
    KIND_DAILY,
    DatasetMeta,
    read_dataset,
    read_meta,
    write_dataset,
)
from pipelines.datasets.validation import ValidationConfig, suite_rules
from strategies.roster import get_strategy
from tests.integration.conftest import run_in

pytestmark = pytest.mark.integration

DATASETS = {"goog_1d", "eurusd_1h", "sp500_1d", "nse_index_1m", "nse_futures_1m",
            "nse_futures_front_1m", "nse_futures_cont_1m"}


def _locked_outs(lock: Path) -> dict[str, str]:
    stages = yaml.safe_load(lock.read_text())["stages"]
    return {o["path"]: o["md5"] for s in stages.values() for o in s["outs"]}


def _goog_csv(tmp_path: Path) -> Path:
    dest = tmp_path / "GOOG.csv"
    dest.write_bytes(importlib.resources.files("backtesting").joinpath("test/GOOG.csv")
                     .read_bytes())
    return dest


def _goog_rows(tmp_path: Path) -> int:
    """Rows of the package's GOOG.csv: one per daily session."""
    return len(pd.read_csv(_goog_csv(tmp_path)))


def test_dvc_repro_clean_copy_reproduces_committed_hashes(built_project: Path,
                                                          repo_root: Path) -> None:
    assert _locked_outs(built_project / "dvc.lock") == _locked_outs(repo_root / "dvc.lock")


def test_dvc_repro_second_run_changes_nothing(built_project: Path) -> None:
    proc = run_in(built_project, "dvc", "status")
    assert "up to date" in proc.stdout.lower()


def test_data_list_shows_every_dataset_with_hash(built_project: Path) -> None:
    listed = json.loads(run_in(built_project, "stratops", "data", "list", "--json").stdout)
    by_name = {e["name"]: e for e in listed}
    assert set(by_name) == DATASETS
    for entry in listed:
        assert entry["state"] == "ok"
        assert entry["md5"] == file_md5(Path(entry["path"]))
        assert entry["rows"] > 0 and entry["first"] < entry["last"]
    assert by_name["nse_index_1m"]["symbols"] == ["BANKNIFTY", "NIFTY"]
    assert by_name["nse_index_1m"]["synthetic"] is True
    assert len(by_name["sp500_1d"]["symbols"]) == 20


def test_shipped_goog_matches_package_csv(built_project: Path) -> None:
    ours = read_dataset(built_project / "data/datasets/goog_1d.parquet")
    theirs = pd.read_csv(importlib.resources.files("backtesting").joinpath("test/GOOG.csv"),
                         index_col=0)
    assert len(ours) == len(theirs)
    assert ours["close"].tolist() == theirs["Close"].astype(float).tolist()
    assert str(ours["ts"].dt.tz) == "America/New_York"


def test_stratops_run_main_job_passes_every_check(project: Path) -> None:
    """The datasets job alone: the research and shadow session that follow it are the
    suite's ``make demo`` run (tests/integration/conftest.py ``demo_project``: its
    document is tests/acceptance/test_run_json.py's, its studies test_research_pipeline's)."""
    proc = run_in(project, "stratops", "run", "--no-research")
    assert "run succeeded" in proc.stdout
    for name in DATASETS:
        assert f"datasets/{name}" in proc.stdout
    assert (project / ".dagster" / "dagster.yaml").is_file()


def test_data_validate_all_shipped_datasets_pass(built_project: Path) -> None:
    reports = json.loads(run_in(built_project, "stratops", "data", "validate", "--json").stdout)
    assert {r["dataset"] for r in reports} == DATASETS
    assert all(r["passed"] for r in reports)


def test_import_real_file_is_stored_and_versioned(project: Path, tmp_path: Path) -> None:
    proc = run_in(project, "stratops", "data", "import", str(_goog_csv(tmp_path)),
                  "--symbol", "GOOG", "--timeframe", "1d", "--venue", "NYSE",
                  "--name", "goog_user")
    assert f"imported goog_user: {_goog_rows(tmp_path)} rows" in proc.stdout
    stored = project / "data/imports/goog_user.parquet"
    record = yaml.safe_load((project / "data/imports/goog_user.parquet.dvc").read_text())
    assert record["outs"][0]["md5"] == file_md5(stored)
    assert read_meta(stored).source == "import: GOOG.csv"
    listed = json.loads(run_in(project, "stratops", "data", "list", "--json").stdout)
    assert {e["name"] for e in listed} == DATASETS | {"goog_user"}


def test_import_real_file_prints_validation_summary_not_dvc_hint(project: Path,
                                                                 tmp_path: Path) -> None:
    proc = run_in(project, "stratops", "data", "import", str(_goog_csv(tmp_path)),
                  "--symbol", "GOOG", "--timeframe", "1d", "--venue", "NYSE",
                  "--name", "goog_user")
    digest = file_md5(project / "data/imports/goog_user.parquet")
    assert "To track the changes" not in proc.stdout + proc.stderr
    days = pd.read_csv(_goog_csv(tmp_path), index_col=0).index  # one row per session
    rows, first, last = len(days), min(days)[:10], max(days)[:10]
    assert f"{rows} rows, {first} .. {last}, {rows} sessions" in proc.stdout
    assert "stored   data/imports/goog_user.parquet (DVC record " in proc.stdout
    assert f"md5      {digest}" in proc.stdout
    n_rules = len(suite_rules(KIND_DAILY, has_volume=True, config=ValidationConfig()))
    assert f"validation: {n_rules} of {n_rules} rules passed" in proc.stdout
    assert f"ok  high >= open: 0/{rows} failing" in proc.stdout
    assert f"ok  bars inside the venue's sessions: 0/{rows} failing" in proc.stdout


def test_import_json_reports_dataset_md5_and_every_rule(project: Path, tmp_path: Path) -> None:
    proc = run_in(project, "stratops", "data", "import", str(_goog_csv(tmp_path)),
                  "--symbol", "GOOG", "--timeframe", "1d", "--venue", "NYSE",
                  "--name", "goog_user", "--json")
    out = json.loads(proc.stdout)
    assert out["imported"] is True
    rows = _goog_rows(tmp_path)
    assert (out["name"], out["rows"], out["sessions"]) == ("goog_user", rows, rows)
    assert out["path"] == "data/imports/goog_user.parquet"
    assert out["md5"] == file_md5(project / out["path"])
    rules = out["validation"]["rules"]
    suite = suite_rules(KIND_DAILY, has_volume=True, config=ValidationConfig())
    assert [r["name"] for r in rules] == [r.name for r in suite]  # every rule, in order
    assert all(r["passed"] and r["failed"] == 0 for r in rules)


def test_import_then_dvc_push_pull_restores_offline(project: Path, tmp_path: Path) -> None:
    run_in(project, "stratops", "data", "import", str(_goog_csv(tmp_path)), "--symbol", "GOOG",
           "--timeframe", "1d", "--venue", "NYSE", "--name", "goog_user")
    stored = project / "data/imports/goog_user.parquet"
    digest = file_md5(stored)
    run_in(project, "dvc", "push")
    stored.unlink()
    run_in(project, "dvc", "gc", "--workspace", "--force")  # forget the local cache too
    run_in(project, "dvc", "pull")
    assert file_md5(stored) == digest


def _bad_csv(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,open,high,low,close,volume\n"
        "2025-01-06 09:15:00,100,101,99,100.5,10\n"
        "2025-01-06 09:16:00,100.5,99,101,100,10\n"  # high < low
        "2025-01-06 09:17:00,100,101,99,100.2,10\n"
    )
    return bad


def test_import_bad_file_is_refused_and_nothing_changes(
    project: Path, tmp_path: Path, snapshot: Callable[[Path], dict[str, bytes]]
) -> None:
    before = snapshot(project)
    proc = run_in(project, "stratops", "data", "import", str(_bad_csv(tmp_path)),
                  "--symbol", "NIFTY", "--timeframe", "1m", check=False)
    assert proc.returncode == 1
    assert "nothing was written" in proc.stderr
    assert "FAIL high >= open" in proc.stderr and "line=3" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(project) == before


def test_import_bad_version_keeps_previous_version(
    project: Path, tmp_path: Path, snapshot: Callable[[Path], dict[str, bytes]]
) -> None:
    good = tmp_path / "good.csv"
    minutes = pd.date_range("2025-01-06 09:15", "2025-01-06 15:29", freq="1min")
    good.write_text("date,open,high,low,close,volume\n"
                    + "".join(f"{t:%Y-%m-%d %H:%M:%S},100,101,99,100,10\n" for t in minutes))
    run_in(project, "stratops", "data", "import", str(good), "--symbol", "NIFTY",
           "--timeframe", "1m", "--name", "nifty_user")
    before = snapshot(project)
    proc = run_in(project, "stratops", "data", "import", str(_bad_csv(tmp_path)), "--symbol",
                  "NIFTY", "--timeframe", "1m", "--name", "nifty_user", check=False)
    assert proc.returncode == 1
    assert snapshot(project) == before


def test_main_job_blocking_check_fails_on_corrupted_dataset(project: Path) -> None:
    """A file versioned behind the importer's back (plain ``dvc add``) is caught by the check."""
    frame = read_dataset(project / "data/datasets/goog_1d.parquet")
    frame.loc[5, "high"] = frame.loc[5, "low"] - 1.0
    target = project / "data/imports/goog_bad.parquet"
    meta = read_meta(project / "data/datasets/goog_1d.parquet")
    write_dataset(frame, target, DatasetMeta(**{**_meta_fields(meta), "name": "goog_bad"}))
    run_in(project, "dvc", "add", "data/imports/goog_bad.parquet")
    proc = run_in(project, "stratops", "run", "--json", check=False)
    assert proc.returncode == 1
    assert "datasets/goog_bad" in proc.stderr and "FAILED" in proc.stderr  # the table
    record = json.loads(proc.stdout)  # stdout holds only the JSON document
    assert (record["status"], record["research"], record["shadow"]) == ("failed", [], None)
    bad = next(a for a in record["job"]["assets"] if a["asset"] == "datasets/goog_bad")
    assert bad["gx_suite"] == "failed" and "high >= open" in bad["failed_rules"]


def _meta_fields(meta: DatasetMeta) -> dict:
    return {f: getattr(meta, f) for f in meta.__dataclass_fields__}


def test_dagster_definitions_validate_passes(built_project: Path) -> None:
    proc = run_in(built_project, "dagster", "definitions", "validate", "-m",
                  "stratops.definitions")
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def test_stratops_backtest_prints_stats_and_writes_trades(project: Path) -> None:
    proc = run_in(project, "stratops", "backtest", "--strategy", "ema_cross", "--dataset",
                  "nse_index_1m", "--symbol", "NIFTY", "--param", "fast=9", "--param",
                  "slow=30", "--stop-points", "30", "--from", "2025-03-01", "--to", "2025-03-31")
    assert "Sharpe Ratio" in proc.stdout and "costs schedule 2024-10-01" in proc.stdout
    trades = pd.read_csv(project / "data/backtests/ema_cross_nse_index_1m_NIFTY_trades.csv")
    assert len(trades) > 10
    assert set(trades["exit_reason"]) <= {"signal", "stop", "trail", "target", "cutoff",
                                          "session_end", "end_of_data", "ruin"}
    assert (trades["costs_inr"] > 0).all()


def test_stratops_backtest_param_outside_space_is_refused(project: Path) -> None:
    proc = run_in(project, "stratops", "backtest", "--strategy", "ema_cross", "--dataset",
                  "nse_index_1m", "--param", "fast=500", "--param", "slow=600", check=False)
    assert proc.returncode == 2
    assert "fast=500" in proc.stderr and "Traceback" not in proc.stderr


def test_stratops_grid_writes_every_combination(project: Path) -> None:
    proc = run_in(project, "stratops", "grid", "--strategy", "atr_reversal", "--dataset",
                  "nse_index_1m", "--symbol", "NIFTY", "--from", "2025-02-01", "--to",
                  "2025-02-28", "--stop-points", "25")
    frame = pd.read_csv(project / "data/backtests/atr_reversal_nse_index_1m_NIFTY_grid.csv")
    combos = math.prod(len(values) for values in get_strategy("atr_reversal").space.values())
    assert len(frame) == combos  # every combination of the declared space, each valid
    assert f"{combos} combinations written" in proc.stdout
