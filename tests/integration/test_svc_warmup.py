"""The runner loads the venues' calendars, the strategies' compiled kernels, the rules'
compiled functions and the message codecs before the first bar (their first use costs from
~0.4 ms to about a second each, on the first order's bar), deciding nothing."""

from __future__ import annotations

import gc
from pathlib import Path

from live.events import _SPECS, MESSAGE_TYPES
from live.runner.feed import _sessions
from live.runner.preload import Preloaded, preload, warm_deployed, warm_sessions
from live.state import state_hash
from tests.integration.svc_driver import runner


def test_warm_up_loads_calendars_and_kernels_and_journals_nothing(tmp_path: Path) -> None:
    run, _ = runner(tmp_path, None)
    _sessions.cache_clear()  # a cache only: reloaded on use
    assert warm_sessions(run) == 1 and _sessions.cache_info().currsize == 2  # today, tomorrow
    assert warm_deployed(run.deployed) == len(run.deployed) == 1
    assert run.journal.head()[0] == 0 and not run.history


def test_preload_loads_everything_and_changes_no_state(tmp_path: Path) -> None:
    run, _ = runner(tmp_path, None)
    run.recover()
    before = state_hash(run.state), run.journal.head()
    _SPECS.clear()  # a cache only: rebuilt on use
    try:
        loaded = preload(run)
    finally:
        gc.unfreeze()  # this test process keeps collecting as before
    assert loaded == Preloaded(venues=1, kernels=1, rules=5, codecs=len(MESSAGE_TYPES))
    assert set(_SPECS) == set(MESSAGE_TYPES.values())
    assert (state_hash(run.state), run.journal.head()) == before  # nothing journaled
