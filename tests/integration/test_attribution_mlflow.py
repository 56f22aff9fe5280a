"""The attribution report through ``stratops report attribution`` and logged to MLflow (a
real SQLite MLflow store): one run per strategy version, its components as metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stratops.attribution_ops import ATTRIBUTION_EXPERIMENT, attribution_report
from stratops.cli import app
from stratops.governance_ops import registry
from stratops.settings import Settings
from tests.anomaly_flows import T0
from tests.unit.test_attribution import journal_of_one_trade

pytestmark = pytest.mark.integration


def test_attribution_logged_to_mlflow_one_run_per_version(tmp_path: Path) -> None:
    journal_of_one_trade(tmp_path)
    settings = Settings(root=tmp_path)
    registry(settings).client.search_experiments()  # an MLflow store, as research makes
    found = attribution_report(settings, T0.date(), url=f"sqlite:///{tmp_path / 'j.db'}",
                               out=tmp_path / "attribution", log_mlflow=True)
    (run_id,) = found.mlflow_runs
    client = registry(settings, create=False).client
    run = client.get_run(run_id)
    assert run.data.tags["stratops.strategy"] == "ema_cross"
    assert run.data.metrics["signal_inr"] == pytest.approx(375.0)
    assert run.data.metrics["timing_inr"] == pytest.approx(-75.0)
    assert client.get_experiment(run.info.experiment_id).name == ATTRIBUTION_EXPERIMENT
    assert sorted(a.path for a in client.list_artifacts(run_id)) == \
        ["attribution.html", "attribution.json"]


def test_cli_report_attribution_prints_the_split_as_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal_of_one_trade(tmp_path)
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    result = CliRunner().invoke(app, ["report", "attribution", "--day", "2025-01-06",
                                      "--journal", f"sqlite:///{tmp_path / 'j.db'}",
                                      "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["rows"]
    assert row["slippage_inr"] == pytest.approx(-45.0)
    assert row["residual_inr"] == pytest.approx(0.0, abs=1e-9)


def test_cli_report_attribution_bad_day_is_refused_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "attribution", "--day", "06-01-2025"])
    assert result.exit_code == 2 and "06-01-2025" in result.output
