"""Datasets domain: DVC-versioned bars as assets, GX suites as blocking checks."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.data.assets import GROUP, dataset_assets
from pipelines.defs.data.checks import dataset_checks
from pipelines.defs.data.resources import DvcDatasetStore
from pipelines.project import ProjectSettings


def build_defs(settings: ProjectSettings) -> dg.Definitions:
    root = settings.root
    return dg.Definitions(
        assets=dataset_assets(root),
        asset_checks=dataset_checks(root, settings.validation),
        resources={"dvc_store": DvcDatasetStore(root=str(root))},
        jobs=[dg.define_asset_job("datasets_job", selection=dg.AssetSelection.groups(GROUP))],
    )
