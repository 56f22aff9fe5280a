"""The Dagster code location: ``dagster dev -m pipelines.definitions`` or ``stratops ui``."""

from __future__ import annotations

import dagster as dg

from pipelines.defs import data, research
from stratops.settings import load_settings

MAIN_JOB = "datasets_job"
RESEARCH_JOB = "research_job"


def build_definitions() -> dg.Definitions:
    """Merge every domain's definitions for the current project settings."""
    settings = load_settings()
    return dg.Definitions.merge(data.build_defs(settings), research.build_defs(settings))


defs = build_definitions()
