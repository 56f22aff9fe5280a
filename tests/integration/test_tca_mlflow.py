"""The daily TCA logged to MLflow (a real SQLite MLflow store): one run per strategy version
in the ``stratops_tca`` experiment, tagged with the version, its metrics and report files."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.journal import open_journal
from stratops.governance_ops import registry
from stratops.settings import Settings
from stratops.tca_ops import TCA_EXPERIMENT, log_tca, tca_report
from tests.unit.test_tca import DAY, at, events

pytestmark = pytest.mark.integration


@pytest.fixture()
def hand_journal_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    open_journal(url).append_many(events(), ts_record=at(30))
    return url


def test_log_tca_makes_one_run_per_version_tagged_with_it(tmp_path: Path,
                                                          hand_journal_url: str) -> None:
    settings = Settings(root=tmp_path)
    registry(settings).client.search_experiments()  # an MLflow store, as research makes
    found = tca_report(settings, DAY, url=hand_journal_url, out=tmp_path / "tca")
    (run_id,) = log_tca(settings, found.tables, found.files)
    run = registry(settings, create=False).client.get_run(run_id)
    assert (run.data.tags["stratops.strategy"], run.data.tags["stratops.version"]) == \
        ("ema_cross", "3")
    assert run.data.metrics["shortfall_inr"] == pytest.approx(805.0)
    client = registry(settings, create=False).client
    assert client.get_experiment(run.info.experiment_id).name == TCA_EXPERIMENT
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["tca.html", "tca.json"]
