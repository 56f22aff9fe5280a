"""How research partitions execute: in process one after another, or fanned out - up to
``dagster_instance.max_concurrent`` partitions at once, each a Dagster run of the
multiprocess executor (each step in its own process), launched from a pool of worker
processes (spawned: one Dagster run per worker at a time - Dagster's run setup reconfigures
Python's logging and deadlocks when two runs start in threads of one process)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

import dagster as dg

from stratops.dagster_settings import DagsterInstanceSettings

_P = TypeVar("_P")
_R = TypeVar("_R")


def fan_out(items: Sequence[_P], run: Callable[[_P], _R],
            done: Callable[[int, _R], None], at_once: int) -> list[_R]:
    """``run(item)`` for each item, ``at_once`` at a time in spawned worker processes (1:
    in order, in this process; ``run`` is then a module-level function and its result plain
    data); ``done(i, result)`` (``i`` from 1) as each finishes; the results in ``items``
    order. An exception of one run is raised after the others finished (none abandoned)."""
    if at_once < 1:
        raise ValueError(f"at_once={at_once!r}: must be >= 1")
    if at_once == 1 or len(items) < 2:
        results = []
        for i, item in enumerate(items, start=1):
            results.append(run(item))
            done(i, results[-1])
        return results
    found: dict[int, _R] = {}
    with ProcessPoolExecutor(max_workers=min(at_once, len(items)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run, item): i for i, item in enumerate(items, start=1)}
        failed: BaseException | None = None
        for future in as_completed(futures):
            i = futures[future]
            try:
                found[i] = future.result()
            except Exception as exc:  # raised below, once every other run has ended
                failed = failed or exc
                continue
            done(i, found[i])
    if failed is not None:
        raise failed
    return [found[i] for i in range(1, len(items) + 1)]


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
