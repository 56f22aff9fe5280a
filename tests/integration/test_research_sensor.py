"""The research sensor on a project whose datasets ``dvc repro`` built: the first tick
records every dataset's DVC md5 and runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from stratops.definitions import build_definitions
from stratops.settings import ROOT_ENV

pytestmark = pytest.mark.integration


def test_sensor_first_tick_records_versions_without_running(
        built_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROOT_ENV, str(built_project))
    sensor = build_definitions().resolve_sensor_def("research_on_dataset_version")
    with dg.build_sensor_context(cursor=None) as context:
        result = sensor(context)
    assert not result.run_requests
    lock = yaml.safe_load((built_project / "dvc.lock").read_text())
    md5 = {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]}
    researched = "nse_futures_cont_1m"
    assert json.loads(result.cursor)[researched] == md5[f"data/datasets/{researched}.parquet"]
