"""Research partitions fanned out: with ``dagster_instance.executor: multiprocess`` two
(dataset, strategy) partitions run at once - two Dagster runs of the multiprocess executor
whose lifetimes overlap, steps in their own processes - and register the same gate verdicts
and metrics as the default in-process, one-after-another run (each in a fresh project copy
on the small daily GOOG dataset)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from tests.integration.conftest import run_in

pytestmark = pytest.mark.integration
STRATEGIES = ["ema_cross", "atr_reversal"]


def research(built_project: Path, folder: Path, executor: str) -> tuple[Path, list[dict]]:
    root = folder / "project"
    shutil.copytree(built_project, root, symlinks=True)
    (root / "stratops.yaml").write_text(yaml.safe_dump({
        "research": {"datasets": ["goog_1d"]},
        "dagster_instance": {"executor": executor, "max_concurrent": 2}}))
    args = [a for s in STRATEGIES for a in ("-s", s)]
    proc = run_in(root, "stratops", "research", "run", "-d", "goog_1d", "--json", *args)
    return root, json.loads(proc.stdout)


def verdicts(studies: list[dict[str, Any]]) -> dict[str, Any]:
    return {s["strategy"]: (s["success"], s["gate_passed"], s["version"]["metrics"])
            for s in studies}


@pytest.fixture(scope="module")
def both(built_project: Path, tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[list[dict], Path, list[dict]]:
    _, sequential = research(built_project, tmp_path_factory.mktemp("in_process"),
                             "in_process")
    root, fanned = research(built_project, tmp_path_factory.mktemp("multiprocess"),
                            "multiprocess")
    return sequential, root, fanned


def test_research_fan_out_registers_the_sequential_runs_verdicts_and_metrics(
        both: tuple[list[dict], Path, list[dict]]) -> None:
    sequential, _, fanned = both
    assert [s["strategy"] for s in fanned] == STRATEGIES  # in the order asked for
    assert all(s["success"] for s in fanned)
    assert verdicts(fanned) == verdicts(sequential)


def test_research_fan_out_runs_the_partitions_at_once_in_step_processes(
        both: tuple[list[dict], Path, list[dict]]) -> None:
    _, root, fanned = both
    with dg.DagsterInstance.from_config(str(root / ".dagster")) as instance:
        runs = {r.dagster_run.run_id: r for r in instance.get_run_records()}
        spans = [(runs[s["run_id"]].start_time, runs[s["run_id"]].end_time) for s in fanned]
        workers = instance.get_records_for_run(
            fanned[0]["run_id"], of_type=dg.DagsterEventType.STEP_WORKER_STARTED).records
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start is not None and b_start is not None and a_end is not None \
        and b_end is not None
    assert max(a_start, b_start) < min(a_end, b_end)  # the two runs overlapped
    assert workers  # steps ran in their own processes
