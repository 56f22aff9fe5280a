"""Resources of the research domain: project settings and the MLflow registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from pipelines.research.config import ResearchSettings

if TYPE_CHECKING:
    from pipelines.research.registry import ResearchRegistry


class ResearchConfig(dg.ConfigurableResource):
    """The project root, its research settings and its reviewed gates file (from
    ``stratops.yaml``, loaded by the app layer when it builds the definitions)."""

    root: str
    research_json: str  # ResearchSettings as JSON (a resource's config is plain data)
    gates_file: str

    @property
    def root_path(self) -> Path:
        return Path(self.root)

    @property
    def research(self) -> ResearchSettings:
        return ResearchSettings.model_validate_json(self.research_json)

    @property
    def gates_path(self) -> Path:
        return Path(self.gates_file)


class MlflowRegistry(dg.ConfigurableResource):
    """MLflow tracking + model registry: SQLite under ``mlflow/`` by default, PostgreSQL by
    setting ``mlflow_tracking_uri`` (the same code)."""

    tracking_uri: str
    artifact_root: str

    def client(self) -> ResearchRegistry:
        from pipelines.research.registry import ResearchRegistry

        return ResearchRegistry(self.tracking_uri, self.artifact_root)
