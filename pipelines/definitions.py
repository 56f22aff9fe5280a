"""The Dagster definitions for given project settings (the code location that loads them
from ``stratops.yaml`` is :mod:`stratops.definitions`: ``dagster dev -m stratops.definitions``
or ``stratops ui``)."""

from __future__ import annotations

import dagster as dg

from pipelines.defs import data, research
from pipelines.project import ProjectSettings

MAIN_JOB = "datasets_job"
RESEARCH_JOB = "research_job"


def definitions_for(settings: ProjectSettings) -> dg.Definitions:
    """Merge every domain's definitions for ``settings``."""
    return dg.Definitions.merge(data.build_defs(settings), research.build_defs(settings))
