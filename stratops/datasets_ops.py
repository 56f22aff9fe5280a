"""What the ``data`` commands do, apart from printing: DVC builds, imports, validation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.progress import Progress

from pipelines.datasets.catalog import DatasetUnavailableError, find_dataset, list_datasets
from pipelines.datasets.importer import ImportResult, import_dataset
from pipelines.datasets.normalise import NormaliseOptions
from pipelines.datasets.schema import read_dataset
from pipelines.datasets.timestamps import DateOrder
from pipelines.datasets.validation import ValidationReport, validate_bars
from stratops.settings import load_settings

if TYPE_CHECKING:
    from pipelines.datasets.master_import import MasterImport


def build_datasets(progress: Progress, *, push: bool) -> list[tuple[str, str]]:
    """``dvc repro`` each stage of ``dvc.yaml``; returns (stage, 'rebuilt'|'up to date')."""
    import logging

    from dvc.repo import Repo

    from pipelines.defs.data.resources import with_python_on_path  # imports Dagster (~1 s)

    logging.getLogger("dvc").setLevel(logging.WARNING)
    root = load_settings().root
    stages = list((yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages", {}))
    task = progress.add_task("dvc repro", total=len(stages) + int(push))
    results = []
    with_python_on_path()
    with Repo(str(root)) as repo:
        for stage in stages:
            progress.update(task, description=f"dvc repro {stage}")
            ran = repo.reproduce(stage, single_item=True)
            results.append((stage, "rebuilt" if ran else "up to date"))
            progress.advance(task)
        if push:
            progress.update(task, description="dvc push")
            repo.push()
            progress.advance(task)
    return results


def import_file(
    path: Path, *, symbol: str, timeframe: str, tz: str | None, venue: str,
    name: str | None, date_order: DateOrder, run_suite: Any = None,
) -> ImportResult:
    """Import ``path`` into the project with the configured limits and thresholds
    (``run_suite``: the GX worker's runner, :func:`pipelines.datasets.gx_worker.gx_head_start`)."""
    from pipelines.datasets.timeframes import parse_timeframe
    from strategies.venues import get_venue

    parse_timeframe(timeframe)
    venue_name = get_venue(venue).name
    settings = load_settings()
    options = NormaliseOptions(symbol=symbol, timeframe=timeframe, venue=venue_name, tz=tz,
                               date_order=date_order)
    return import_dataset(path, options, root=settings.root, name=name,
                          max_bytes=settings.data.import_max_bytes,
                          validation=settings.validation, run_suite=run_suite)


def import_instruments(path: Path, *, name: str) -> MasterImport:
    """Validate a Kite instruments dump and store it as ``data/imports/<name>.csv``."""
    from pipelines.datasets.master_import import import_master

    settings = load_settings()
    return import_master(path, root=settings.root, name=name,
                         max_bytes=settings.data.import_max_bytes)


def validate_datasets(names: list[str], progress: Progress) -> list[ValidationReport]:
    """Validate the named datasets (all when empty) against their kind's suite."""
    settings = load_settings()
    entries = ([find_dataset(settings.root, n) for n in names] if names
               else list_datasets(settings.root))
    task = progress.add_task("validate", total=len(entries))
    reports = []
    for entry in entries:
        progress.update(task, description=f"validate {entry.name}")
        if entry.meta is None:
            raise DatasetUnavailableError(
                f"dataset {entry.name!r} is {entry.state} ({entry.path}); run `stratops data "
                "build` or `dvc pull`"
            )
        meta = entry.meta
        reports.append(validate_bars(
            read_dataset(entry.path), name=entry.name, kind=meta.kind, venue=meta.venue,
            timeframe=meta.timeframe, has_volume=meta.has_volume, config=settings.validation,
        ))
        progress.advance(task)
    return reports
