"""Blocking Great Expectations checks on every dataset asset."""


from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.datasets.catalog import DatasetEntry, list_datasets
from pipelines.datasets.validation import ValidationConfig, ValidationReport, validate_bars
from pipelines.defs.data.assets import dataset_key
from pipelines.defs.data.resources import DvcDatasetStore


def report_metadata(report: ValidationReport) -> dict[str, Any]:
    failed = [f"{o.name} ({o.failed} rows)" for o in report.failures]
    return {
        "rules": dg.MetadataValue.int(len(report.outcomes)),
        "failed_rules": ", ".join(failed) or "none",
        "failed_rule_names": dg.MetadataValue.json([o.name for o in report.failures]),
        "sessions": dg.MetadataValue.int(report.sessions),
        "missing_bars": dg.MetadataValue.int(report.missing_bars),
        "incomplete_sessions": dg.MetadataValue.int(report.incomplete_sessions),
        "report": dg.MetadataValue.md(f"```\n{report.render()}\n```"),
    }


def build_dataset_check(entry: DatasetEntry, config: ValidationConfig) -> dg.AssetChecksDefinition:
    name = entry.name

    @dg.asset_check(
        asset=dataset_key(name), name="gx_suite", blocking=True,
        description="Great Expectations suite of the dataset's kind (schema, OHLC, sessions).",
    )
    def _check(dvc_store: DvcDatasetStore) -> dg.AssetCheckResult:
        current = dvc_store.entry(name)
        if current.meta is None:
            return dg.AssetCheckResult(
                passed=False, metadata={"error": f"dataset is {current.state}"})
        meta = current.meta
        report = validate_bars(
            dvc_store.load(name), name=name, kind=meta.kind, venue=meta.venue,
            timeframe=meta.timeframe, has_volume=meta.has_volume, config=config,
        )
        return dg.AssetCheckResult(
            passed=report.passed, severity=dg.AssetCheckSeverity.ERROR,
            metadata=report_metadata(report),
        )

    return _check


def dataset_checks(root: Path, config: ValidationConfig) -> list[dg.AssetChecksDefinition]:
    return [build_dataset_check(e, config) for e in list_datasets(root)]
