"""The Dagster code location: ``dagster dev -m stratops.definitions`` or ``stratops ui``.

The app layer loads the settings and hands them to :func:`pipelines.definitions.definitions_for`.
"""

from __future__ import annotations

import dagster as dg

from pipelines.definitions import MAIN_JOB, RESEARCH_JOB, definitions_for
from stratops.settings import load_settings

__all__ = ["MAIN_JOB", "RESEARCH_JOB", "build_definitions", "defs"]


def build_definitions() -> dg.Definitions:
    """Every domain's definitions for the current project settings."""
    return definitions_for(load_settings())


defs = build_definitions()
