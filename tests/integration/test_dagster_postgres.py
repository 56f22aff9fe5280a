"""A real research run with the Dagster instance on a fresh PostgreSQL database and the
multiprocess executor: the run is recorded in PostgreSQL (read back through Dagster's own
API), executed step by step in processes, with the in-process run's numbers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import run_in
from tests.integration.postgres import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.services]
METRICS = ("oos_sharpe", "pbo", "oos_trades", "oos_max_drawdown", "dsr_probability")
URL_ENV = "STRATOPS_DAGSTER_PG_URL"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    yield from fresh_database("stratops_dagster")


def _metrics(proc_stdout: str) -> dict[str, float]:
    (study,) = json.loads(proc_stdout)
    assert study["success"], study
    return {k: study["version"]["metrics"][k] for k in METRICS}


def test_research_on_a_postgres_instance_with_the_multiprocess_executor_matches_in_process(
        built_project: Path, tmp_path: Path, pg_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import dagster as dg

    local, remote = tmp_path / "local", tmp_path / "remote"
    for root in (local, remote):
        shutil.copytree(built_project, root, symlinks=True)
    args = ("stratops", "research", "run", "-s", "ema_cross", "--json")
    in_process = _metrics(run_in(local, *args).stdout)  # the default: SQLite, one process
    assert "storage" not in (local / ".dagster" / "dagster.yaml").read_text()

    (remote / "stratops.yaml").write_text(
        "dagster_instance:\n  storage: postgres\n  executor: multiprocess\n"
        "  max_concurrent: 2\n")
    monkeypatch.setenv(URL_ENV, pg_url)
    assert _metrics(run_in(remote, *args).stdout) == in_process

    os.environ[URL_ENV] = pg_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    with dg.DagsterInstance.from_config(str(remote / ".dagster")) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == "nse_index_1m|ema_cross"
        assert run.run_config["execution"] == {
            "config": {"multiprocess": {"max_concurrent": 2}}}
        started = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED)
        assert {e.step_key for e in started} >= {"features", "walk_forward_report"}
    assert not (remote / ".dagster" / "history").exists()  # no SQLite run storage
