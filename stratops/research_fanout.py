"""How one research partition executes: in process, or with Dagster's multiprocess executor
(each step in its own process, ``dagster_instance.max_concurrent`` at once)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg

from stratops.dagster_instance import DagsterInstanceSettings


def research_job_def() -> dg.JobDefinition:
    """The research job of the current project settings (what a step process rebuilds)."""
    from stratops.definitions import RESEARCH_JOB, build_definitions

    return build_definitions().resolve_job_def(RESEARCH_JOB)


def multiprocess_run_config(run_config: Mapping[str, Any], max_concurrent: int
                            ) -> dict[str, Any]:
    """``run_config`` selecting the multiprocess executor with ``max_concurrent`` steps."""
    return {**run_config,
            "execution": {"config": {"multiprocess": {"max_concurrent": max_concurrent}}}}


@contextmanager
def execute_partition(job: dg.JobDefinition, key: dg.MultiPartitionKey,
                      instance: dg.DagsterInstance, config: DagsterInstanceSettings,
                      run_config: Mapping[str, Any]) -> Iterator[Any]:
    """Run ``job`` on partition ``key``; yield its result (outputs readable inside the
    ``with``: the multiprocess result reads them back through the IO managers)."""
    if config.executor == "in_process":
        yield job.execute_in_process(partition_key=key, instance=instance,
                                     raise_on_error=False, run_config=dict(run_config))
        return
    partitions = job.partitions_def
    tags = partitions.get_tags_for_partition_key(key) if partitions is not None else {}
    with dg.execute_job(dg.reconstructable(research_job_def), instance=instance,
                        run_config=multiprocess_run_config(run_config, config.max_concurrent),
                        tags=tags, raise_on_error=False) as result:
        yield result
