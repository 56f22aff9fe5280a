"""``stratops run --json`` on a fresh clone (the run ``make demo`` makes): one JSON document
on stdout that names the run, every asset, each registered version and its gate verdict, the
shadow session and the datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratops.main_job import RUN_RECORD_SCHEMA

pytestmark = [pytest.mark.integration, pytest.mark.acceptance]


def test_run_json_summarises_the_demo_run(demo_project: Path) -> None:
    record = json.loads((demo_project.parent / "run.json").read_text())
    assert record["schema"] == RUN_RECORD_SCHEMA
    assert record["status"] == "succeeded"
    assert record["job"]["name"] == "datasets_job" and record["job"]["run_id"]
    assets = {a["asset"]: a for a in record["job"]["assets"]}
    assert "datasets/nse_index_1m" in assets
    assert all(a["materialized"] and a["gx_suite"] == "passed" and a["failed_rules"] == []
               for a in assets.values())
    studies = {(r["strategy"], r["dataset"]) for r in record["research"]}
    versions = {(v["strategy"], v["dataset"]): v for v in record["versions"]}
    assert set(versions) == studies and len(studies) >= 4
    assert {v["gate_verdict"] for v in versions.values()} <= {"pass", "fail"}
    assert all(v["model_uri"].startswith("models:/") for v in versions.values())
    shadow = record["shadow"]
    assert shadow["mode"] == "shadow" and shadow["candidates"] is True
    assert shadow["bars"] > 0 and shadow["journal_seq"] > 0 and len(shadow["state_hash"]) == 64
    assert {d["name"] for d in record["datasets"]} >= {"nse_index_1m"}
