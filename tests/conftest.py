"""Shared fixtures: the repository root and a built, throw-away copy of the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
METRICS_PORT_ENV = "STRATOPS_OBSERVABILITY__METRICS__PORT"


def pytest_configure(config: pytest.Config) -> None:
    """Tests run in parallel (pytest-xdist) and many start runners: none binds the default
    metrics port (9464) unless a test gives it one (observability tests pick a free port);
    the environment is inherited by the processes tests start."""
    os.environ.setdefault(METRICS_PORT_ENV, "0")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
