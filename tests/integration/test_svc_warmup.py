"""The runner loads the venues' calendars, the strategies' compiled kernels, the rules'
compiled functions and the message codecs before the first bar (their first use costs from
~0.4 ms to about a second each, on the first order's bar), deciding nothing."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pytest

from live.events import _SPECS, MESSAGE_TYPES
from live.runner.feed import _sessions
from live.runner.preload import Preloaded, preload, preloaded, warm_deployed, warm_sessions
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
    with preloaded(run) as loaded:
        assert gc.get_freeze_count() > 0  # start-up's objects out of the session's scans
    assert gc.get_freeze_count() == 0  # the session over: collectable again
    assert loaded == Preloaded(venues=1, kernels=1, rules=5, codecs=len(MESSAGE_TYPES))
    assert set(_SPECS) == set(MESSAGE_TYPES.values())
    assert (state_hash(run.state), run.journal.head()) == before  # nothing journaled


def test_a_governed_version_warms_its_classifier_and_a_failing_step_does_not_stop_the_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run, _ = runner(tmp_path, None, governance_seed=1)
    with caplog.at_level(logging.WARNING, logger="live.runner.preload"):
        assert warm_deployed(run.deployed) == 1
    assert not caplog.records  # the classifier read the synthetic bars without a failure

    def broken() -> int:
        raise RuntimeError("rules not loadable")

    monkeypatch.setattr("live.runner.preload.preload_rules", broken)
    with caplog.at_level(logging.WARNING, logger="live.runner.preload"):
        loaded = preload(run)
    assert loaded.rules == 0 and loaded.codecs == len(MESSAGE_TYPES)
    assert "rules not loadable" in caplog.text
