"""Fan work out over spawned worker processes, a bounded number at once: how research
partitions run in parallel (:func:`stratops.research_job.run_studies`). Processes, not
threads: each partition is a Dagster run, and Dagster's run setup reconfigures Python's
logging, which deadlocks when two runs start in threads of one process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

_P = TypeVar("_P")
_R = TypeVar("_R")


def fan_out(items: Sequence[_P], run: Callable[[_P], _R],
            done: Callable[[int, _R], None], at_once: int) -> list[_R]:
    """``run(item)`` for each item, ``at_once`` at a time in spawned worker processes (1:
    one after another in this process); ``run`` is a module-level function and its result
    plain data (both cross a process boundary). ``done(i, result)`` (``i`` from 1) is called
    here as each finishes; the results come back in ``items`` order. An exception of one run
    is raised after the others have finished (none is abandoned)."""
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
