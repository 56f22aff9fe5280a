"""A real research run with the Dagster instance on a fresh PostgreSQL database and the
multiprocess executor: the run and its events are recorded there (read back through Dagster's
own API), not in local SQLite, and its steps ran in their own processes. (That it registers
the in-process run's numbers is measured by ``benchmarks/research_fanout.py``.)"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from stratops.research_fanout import STEP_PRELOAD
from tests.integration.conftest import run_in
from tests.integration.postgres import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.services]
# not in requirements.lock (no release matches our dagster; README): installed beside it
pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed")
URL_ENV = "STRATOPS_DAGSTER_PG_URL"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    yield from fresh_database("stratops_dagster")


def test_research_on_a_postgres_instance_records_its_multiprocess_run_in_postgres(
        project: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the small daily GOOG series (what is tested is where the run is recorded, not the
    # study: the NSE minute series would add minutes of walk-forward and enable matrix)
    (project / "stratops.yaml").write_text(
        "research:\n  datasets: [goog_1d]\n"
        "dagster_instance:\n  storage: postgres\n  executor: multiprocess\n")
    monkeypatch.setenv(URL_ENV, pg_url)
    proc = run_in(project, "stratops", "research", "run", "-d", "goog_1d", "-s", "ema_cross",
                  "--json")
    (study,) = json.loads(proc.stdout)
    assert study["success"] and study["version"]["metrics"]["oos_trades"] > 0

    os.environ[URL_ENV] = pg_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    with dg.DagsterInstance.from_config(str(project / ".dagster")) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        (run,) = instance.get_runs()
        assert run.run_id == study["run_id"]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == "goog_1d|ema_cross"
        assert run.run_config["execution"] == {"config": {"multiprocess": {
            "max_concurrent": 2,
            "start_method": {"forkserver": {"preload_modules": list(STEP_PRELOAD)}}}}}
        started = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED).records
        assert {r.event_log_entry.step_key for r in started} >= {"features",
                                                                "walk_forward_report"}
    assert not (project / ".dagster" / "history").exists()  # no SQLite run storage
