"""Shared fixtures: the repository root and a built, throw-away copy of the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
METRICS_PORT_ENV = "STRATOPS_OBSERVABILITY__METRICS__PORT"
#: Native thread pools (scikit-learn's OpenMP, numpy's and scipy's OpenBLAS) start one
#: thread per core in every process. Under pytest-xdist each worker (and each process a
#: test starts) is already one of the processes sharing the cores, and these pools
#: busy-wait: two workers fitting classifiers on two cores ran five HistGradientBoosting
#: fits in 57 s with one thread each and had not finished after 5 min with two (README,
#: Tests). One thread per process under -n; a value set by the caller is kept.
SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: The longest test files, run first: under pytest-xdist (``--dist loadfile`` in
#: pyproject.toml: a file's tests stay on one worker, so a module fixture runs once and
#: order-dependent files keep their order) files are handed out in collection order, and a
#: long file handed out last would run alone at the end. Ordered so the two workers start
#: on different long chains and the second does not wait for the first's ``dvc repro``
#: (test_runner_crash needs no built project); test_research_pipeline is the first to ask
#: for the ``make demo`` project (tests/integration/conftest.py ``demo_project``), and two
#: files that need only the built project follow it, so the other worker is busy with them
#: while the demo is built instead of waiting for it on the walk-throughs. Measured
#: durations: README, Tests.
LONG_FIRST = (
    "tests/integration/test_datasets_pipeline.py",
    "tests/integration/test_runner_crash.py",
    "tests/integration/test_research_pipeline.py",
    "tests/integration/test_dagster_postgres.py",
    "tests/integration/test_research_fanout.py",
    "tests/acceptance/test_readme_walkthroughs.py",
    "tests/integration/test_registry.py",
    "tests/integration/test_governance.py",
    "tests/integration/test_kite_session.py",
    "tests/integration/test_hot_standby.py",
    "tests/integration/test_backtest_live_parity.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """Tests run in parallel (pytest-xdist) and many start runners: none binds the default
    metrics port (9464) unless a test gives it one (observability tests pick a free port),
    and under -n every process keeps one native thread (:data:`SINGLE_THREAD_ENV`); the
    environment is inherited by the xdist workers and the processes tests start."""
    os.environ.setdefault(METRICS_PORT_ENV, "0")
    if config.getoption("numprocesses", None) or "PYTEST_XDIST_WORKER" in os.environ:
        for name in SINGLE_THREAD_ENV:  # before the workers start: they inherit it
            os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the files of :data:`LONG_FIRST` to the front, in that order (the rest, and the
    tests inside every file, keep pytest's order)."""
    rank = {name: i for i, name in enumerate(LONG_FIRST)}

    def key(item: pytest.Item) -> int:
        return rank.get(item.nodeid.split("::", 1)[0], len(LONG_FIRST))

    items.sort(key=key)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
