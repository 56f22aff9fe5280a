"""``stratops run --json``: the document's fields, built from the job's, studies' and
session's outcomes (the end-to-end run is in tests/acceptance/test_run_json.py)."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.datasets.catalog import DatasetEntry
from pipelines.datasets.schema import DatasetMeta
from pipelines.research.recorded import RecordedVersion
from strategies.lineage import Lineage
from stratops.main_job import RUN_RECORD_SCHEMA, JobOutcome, run_record
from stratops.research_job import StudyOutcome

LINEAGE = Lineage(strategy="ema_cross", dataset="nse_index_1m", dataset_md5="d" * 32,
                  symbol="NIFTY", code_revision="c" * 40, strategies_source_hash="s" * 64,
                  params_hash="p" * 64, params={"fast": 5}, feature_set_version="1",
                  feature_key="k", gates_digest="g" * 64, verdict_digest="v" * 64,
                  verdict_passed=False)
VERSION = RecordedVersion(strategy="ema_cross", dataset="nse_index_1m", symbol="NIFTY",
                          version=3, model_uri="models:/ema_cross/3", run_id="r", reused=False,
                          passed=False, lineage=LINEAGE, metrics={"oos_sharpe": 0.4})


def _job() -> JobOutcome:
    return JobOutcome(run_id="abc123", success=True,
                      materialized=["datasets/goog_1d", "datasets/nse_index_1m"],
                      checks=[("datasets/goog_1d", True, "none"),
                              ("datasets/nse_index_1m", False, "high >= open (2 rows)")],
                      failed_rules={"datasets/nse_index_1m": ["high >= open"]})


def _entry() -> DatasetEntry:
    meta = DatasetMeta(name="goog_1d", kind="ohlcv_daily", timeframe="1d", venue="NYSE",
                       source="shipped")
    return DatasetEntry("goog_1d", Path("/nonexistent/goog_1d.parquet"), "stage:shipped",
                        "f" * 32, "ok", meta, rows=2148, symbols=("GOOG",),
                        first="2004-08-19", last="2013-03-01")


def test_run_record_lists_assets_with_their_suite_verdicts() -> None:
    record = run_record("datasets_job", _job(), [], None, [], success=False)
    assert record["schema"] == RUN_RECORD_SCHEMA
    assert record["status"] == "failed"
    assert record["job"]["run_id"] == "abc123"
    assert record["job"]["assets"] == [
        {"asset": "datasets/goog_1d", "materialized": True, "gx_suite": "passed",
         "failed_rules": [], "failed_summary": "none"},
        {"asset": "datasets/nse_index_1m", "materialized": True, "gx_suite": "failed",
         "failed_rules": ["high >= open"], "failed_summary": "high >= open (2 rows)"},
    ]
    assert (record["research"], record["versions"], record["shadow"]) == ([], [], None)


def test_run_record_versions_carry_the_gate_verdict() -> None:
    studies = [StudyOutcome("nse_index_1m", "ema_cross", "run1", True, version=VERSION),
               StudyOutcome("goog_1d", "atr_reversal", "run2", False, error="boom")]
    record = run_record("datasets_job", _job(), studies, None, [], success=False)
    assert record["versions"] == [
        {"strategy": "ema_cross", "dataset": "nse_index_1m", "symbol": "NIFTY", "version": 3,
         "model_uri": "models:/ema_cross/3", "reused": False, "gate_verdict": "fail"}]
    assert [r["error"] for r in record["research"]] == ["", "boom"]


def test_run_record_is_json_with_session_and_datasets() -> None:
    session = {"mode": "shadow", "bars": 375, "journal_seq": 12}
    record = run_record("datasets_job", _job(), [], session, [_entry()], success=True)
    decoded = json.loads(json.dumps(record))
    assert decoded["status"] == "succeeded"
    assert decoded["shadow"]["bars"] == 375
    assert decoded["datasets"][0]["name"] == "goog_1d"
    assert decoded["datasets"][0]["kind"] == "ohlcv_daily"
