"""How one research partition executes: in process, or with Dagster's multiprocess executor
(each step in its own process, ``dagster_instance.max_concurrent`` at once). Partitions fan
out over worker processes with :func:`stratops.partition_pool.fan_out`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg

from stratops.dagster_settings import DagsterInstanceSettings


def research_job_def() -> dg.JobDefinition:
    """The research job of the current project settings (what a step process rebuilds)."""
    from stratops.definitions import RESEARCH_JOB, build_definitions

    return build_definitions().resolve_job_def(RESEARCH_JOB)


#: What a step process imports before it runs anything (about 5 s each when spawned): with
#: ``start_method: forkserver`` the server imports them once and forks each step from it.
STEP_PRELOAD = ("dagster._core.executor.multiprocess", "stratops.research_fanout",
                "stratops.definitions", "pipelines.defs.research", "mlflow", "vectorbt",
                "sklearn.ensemble")


def multiprocess_run_config(run_config: Mapping[str, Any], config: DagsterInstanceSettings
                            ) -> dict[str, Any]:
    """``run_config`` selecting the multiprocess executor: ``config.max_concurrent`` steps at
    once, each started by ``config.start_method``."""
    start: dict[str, Any] = {"spawn": {}} if config.start_method == "spawn" else \
        {"forkserver": {"preload_modules": list(STEP_PRELOAD)}}
    return {**run_config, "execution": {"config": {"multiprocess": {
        "max_concurrent": config.max_concurrent, "start_method": start}}}}


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
                        run_config=multiprocess_run_config(run_config, config),
                        tags=tags, raise_on_error=False) as result, \
            dg.build_resources({"io_manager": job.resource_defs["io_manager"]}) as resources:
        yield StoredOutputs(result, job, key, resources.io_manager)


class StoredOutputs:
    """A multiprocess run's result whose :meth:`output_for_node` reads an asset's stored
    value of this partition through the job's IO manager (the run's own reader has no asset
    context for a partitioned asset)."""

    def __init__(self, result: Any, job: dg.JobDefinition, key: dg.MultiPartitionKey,
                 io_manager: Any) -> None:
        self._result, self._job, self._key, self._io = result, job, key, io_manager

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def output_for_node(self, asset: str) -> Any:
        """The stored value of ``asset`` (an asset of this job) for this partition."""
        context = dg.build_input_context(asset_key=dg.AssetKey(asset), partition_key=self._key,
                                         asset_partitions_def=self._job.partitions_def)
        return self._io.load_input(context)
