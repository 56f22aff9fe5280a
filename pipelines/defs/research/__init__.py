"""Research domain: features -> walk-forward -> gate verdict -> registered strategy version."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.research.assets import FEATURES_IO, GROUP, research_assets
from pipelines.defs.research.io_managers import FeatureStoreIOManager, JsonIOManager
from pipelines.defs.research.portfolio_assets import (
    PORTFOLIO_GROUP,
    PORTFOLIO_JOB,
    portfolio_asset,
)
from pipelines.defs.research.resources import MlflowRegistry, ResearchConfig
from pipelines.defs.research.sensors import RESEARCH_JOB, build_sensor
from pipelines.project import ProjectSettings


def build_defs(settings: ProjectSettings) -> dg.Definitions:
    root, research = settings.root, settings.research
    storage = settings.dagster_home_path / "storage"
    return dg.Definitions(
        assets=[*research_assets(research), portfolio_asset(research)],
        resources={
            "research_config": ResearchConfig(root=str(root),
                                              research_json=research.model_dump_json(),
                                              gates_file=str(settings.gates_path)),
            "mlflow_registry": MlflowRegistry(
                tracking_uri=settings.tracking_uri,
                artifact_root=str(settings.artifact_root)),
            FEATURES_IO: FeatureStoreIOManager(
                base_dir=str(storage / "feature_pointers"),
                store_dir=str(settings.path(research.feature_store))),
            # JSON + Parquet: Dagster's filesystem IO manager would pickle (and unpickle) them
            "io_manager": JsonIOManager(base_dir=str(storage)),
        },
        jobs=[dg.define_asset_job(RESEARCH_JOB, selection=dg.AssetSelection.groups(GROUP)),
              dg.define_asset_job(PORTFOLIO_JOB,
                                  selection=dg.AssetSelection.groups(PORTFOLIO_GROUP))],
        sensors=[build_sensor(root, research)],
    )
