"""One asset per dataset (``datasets/<name>``): the DVC-versioned bars, brought up to date."""

from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.datasets.catalog import DatasetEntry, list_datasets
from pipelines.defs.data.resources import DvcDatasetStore

GROUP = "datasets"


def dataset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["datasets", name])


def entry_metadata(entry: DatasetEntry) -> dict[str, Any]:
    meta = entry.meta
    return {
        "dvc_md5": entry.md5 or "",
        "rows": dg.MetadataValue.int(entry.rows),
        "symbols": ", ".join(entry.symbols),
        "first_bar": entry.first,
        "last_bar": entry.last,
        "timeframe": meta.timeframe if meta else "",
        "venue": meta.venue if meta else "",
        "kind": meta.kind if meta else "",
        "synthetic": bool(meta.synthetic) if meta else False,
        "origin": entry.origin,
        "path": dg.MetadataValue.path(str(entry.path)),
    }


def build_dataset_asset(entry: DatasetEntry) -> dg.AssetsDefinition:
    """The asset for one catalog entry; materialising it runs DVC if the file is stale."""
    name = entry.name

    @dg.asset(
        key=dataset_key(name),
        group_name=GROUP,
        kinds={"parquet", "dvc"},
        description=f"Bars of dataset {name!r} ({entry.origin}), versioned by DVC.",
        code_version=entry.md5 or None,
    )
    def _dataset(context: dg.AssetExecutionContext, dvc_store: DvcDatasetStore) -> dg.MaterializeResult:
        current = dvc_store.ensure(name)
        context.log.info(f"{name}: md5 {current.md5}, {current.rows} rows")
        return dg.MaterializeResult(metadata=entry_metadata(current))

    return _dataset


def dataset_assets(root: Path) -> list[dg.AssetsDefinition]:
    return [build_dataset_asset(e) for e in list_datasets(root)]
