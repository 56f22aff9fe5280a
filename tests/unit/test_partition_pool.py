"""Work fanned out over spawned worker processes: each item runs in its own process, at most
``at_once`` at a time, results in the order asked for; a failure is raised after the rest."""

from __future__ import annotations

import os
import time

import pytest

from stratops.partition_pool import fan_out


def pid_after(seconds: float) -> tuple[float, int]:
    """Sleep, then answer with the delay and the worker's pid."""
    time.sleep(seconds)
    return seconds, os.getpid()


def fails_on_zero(value: float) -> float:
    if value == 0:
        raise ZeroDivisionError("zero refused")
    return 1 / value


def test_fan_out_runs_items_in_other_processes_and_returns_them_in_order() -> None:
    finished: list[int] = []
    results = fan_out([0.3, 0.0, 0.1], pid_after, lambda i, _: finished.append(i), 2)
    assert [r[0] for r in results] == [0.3, 0.0, 0.1]
    assert os.getpid() not in {r[1] for r in results}
    assert len({r[1] for r in results}) <= 2  # at most at_once workers
    assert sorted(finished) == [1, 2, 3]


def test_fan_out_of_one_at_a_time_stays_in_this_process() -> None:
    results = fan_out([0.0, 0.0], pid_after, lambda i, _: None, 1)
    assert {r[1] for r in results} == {os.getpid()}


def test_fan_out_raises_a_workers_failure_after_the_others_finish() -> None:
    finished: list[int] = []
    with pytest.raises(ZeroDivisionError, match="zero refused"):
        fan_out([0.0, 2.0, 4.0], fails_on_zero, lambda i, _: finished.append(i), 2)
    assert sorted(finished) == [2, 3]
