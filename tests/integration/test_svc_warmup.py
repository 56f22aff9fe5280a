"""The execution service loads the venues' calendars and the strategies' compiled kernels
before the first bar (their first use costs about a second each), deciding nothing."""

from __future__ import annotations

from pathlib import Path

from live.runner.feed import _sessions
from live.svc.execution import warm_kernels, warm_sessions
from tests.integration.svc_driver import runner


def test_warm_up_loads_calendars_and_kernels_and_journals_nothing(tmp_path: Path) -> None:
    run, _ = runner(tmp_path, None)
    _sessions.cache_clear()  # a cache only: reloaded on use
    assert warm_sessions(run) == 1 and _sessions.cache_info().currsize == 2  # today, tomorrow
    assert warm_kernels(run) == len(run.deployed) == 1
    assert run.journal.head()[0] == 0 and not run.history
