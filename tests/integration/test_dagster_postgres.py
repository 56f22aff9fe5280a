"""A real research run with the Dagster instance on a fresh PostgreSQL database: the run and
its events are recorded there (read back through Dagster's own API), not in local SQLite.
(The multiprocess executor's run, which pays a process start per step, is measured and
compared with the in-process numbers by ``benchmarks/research_fanout.py``.)"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.integration.conftest import run_in
from tests.integration.postgres import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.services]
URL_ENV = "STRATOPS_DAGSTER_PG_URL"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    yield from fresh_database("stratops_dagster")


def test_research_on_a_postgres_instance_records_its_run_in_postgres(
        project: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "stratops.yaml").write_text("dagster_instance:\n  storage: postgres\n")
    monkeypatch.setenv(URL_ENV, pg_url)
    proc = run_in(project, "stratops", "research", "run", "-s", "ema_cross", "--json")
    (study,) = json.loads(proc.stdout)
    assert study["success"] and study["version"]["metrics"]["oos_trades"] > 0

    os.environ[URL_ENV] = pg_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    with dg.DagsterInstance.from_config(str(project / ".dagster")) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        (run,) = instance.get_runs()
        assert run.run_id == study["run_id"]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == "nse_index_1m|ema_cross"
        assert instance.get_records_for_run(run.run_id, limit=5).records
    assert not (project / ".dagster" / "history").exists()  # no SQLite run storage
