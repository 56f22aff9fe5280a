"""Re-run research when a dataset version changes (its DVC md5 moves).

The cursor holds the md5 each researched dataset had when last seen. The first evaluation
records them (nothing to re-run: research on that version is the CLI's or the user's call);
afterwards a changed md5 requests one research run per strategy partition, with a run key
of (dataset, md5, strategy) so one dataset version is researched once per strategy.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from pipelines.datasets.catalog import find_dataset
from pipelines.defs.research.partitions import partition_key
from pipelines.research.config import ResearchSettings

RESEARCH_JOB = "research_job"


def current_md5s(root: Path, datasets: tuple[str, ...]) -> dict[str, str]:
    """The recorded DVC md5 of each dataset whose file matches its record."""
    out: dict[str, str] = {}
    for name in datasets:
        entry = find_dataset(root, name)
        if entry.state == "ok" and entry.md5 is not None:
            out[name] = entry.md5
    return out


def research_requests(previous: dict[str, str], current: dict[str, str],
                      strategies: tuple[str, ...]) -> list[dg.RunRequest]:
    """One run request per strategy of every dataset whose md5 changed since ``previous``."""
    return [
        dg.RunRequest(run_key=f"{name}:{md5}:{strategy}",
                      partition_key=partition_key(name, strategy),
                      tags={"stratops/dataset_md5": md5})
        for name, md5 in sorted(current.items()) if previous.get(name) != md5
        for strategy in strategies
    ]


def build_sensor(root: Path, research: ResearchSettings) -> dg.SensorDefinition:
    @dg.sensor(job_name=RESEARCH_JOB, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Research again when a dataset's DVC version changes.")
    def research_on_dataset_version(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        current = current_md5s(root, research.datasets)
        if context.cursor is None:
            return dg.SensorResult(skip_reason="recorded the current dataset versions",
                                   cursor=json.dumps(current, sort_keys=True))
        previous = json.loads(context.cursor)
        return dg.SensorResult(run_requests=research_requests(previous, current,
                                                              research.strategies),
                               cursor=json.dumps({**previous, **current}, sort_keys=True))

    return research_on_dataset_version
