"""Resources of the research domain: project settings and the MLflow registry."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.research.config import ResearchSettings


class ResearchConfig(dg.ConfigurableResource):
    """The project root and its research settings (from ``stratops.yaml``)."""

    root: str

    @property
    def root_path(self) -> Path:
        return Path(self.root)

    @property
    def research(self) -> ResearchSettings:
        from stratops.settings import load_settings

        return load_settings(self.root_path).research


class MlflowRegistry(dg.ConfigurableResource):
    """MLflow tracking + model registry: SQLite under ``mlflow/`` by default, PostgreSQL by
    setting ``mlflow_tracking_uri`` (the same code)."""

    tracking_uri: str
    artifact_root: str

    def client(self):
        from pipelines.research.registry import ResearchRegistry

        return ResearchRegistry(self.tracking_uri, self.artifact_root)
