"""Import a user's export: read, normalise, validate, and only then store and version it.

Nothing touches ``data/`` until the file has passed its expectation suite. Storing is
atomic (temporary file, rename) and ``dvc add`` runs right after; if DVC fails, the
previous file and ``.dvc`` record are put back, so an import either lands whole or not at all.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.datasets.catalog import (
    IMPORT_DIR,
    DatasetEntry,
    check_name,
    dataset_origin,
    find_dataset,
)
from pipelines.datasets.normalise import NormaliseOptions, normalise
from pipelines.datasets.schema import DatasetMeta, conform, write_dataset
from pipelines.datasets.source_file import read_source
from pipelines.datasets.validation import (
    RuleOutcome,
    ValidationConfig,
    ValidationReport,
    validate_bars,
)
from strategies.errors import BadInputError, RefusedError

if TYPE_CHECKING:
    import pandas as pd


class DatasetRejectedError(RefusedError, ValueError):
    """The file failed validation; carries the report. Nothing was written."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.render())
        self.report = report


class DatasetStoreError(BadInputError, RuntimeError):
    """Storing or versioning failed; the previous version was restored."""


@dataclass(slots=True)
class ImportResult:
    """What landed: the catalog entry, its validation report and notes from normalising."""

    entry: DatasetEntry
    report: ValidationReport
    notes: list[str] = field(default_factory=list)


def default_name(symbol: str, timeframe: str) -> str:
    """``NIFTY``, ``5m`` -> ``nifty_5m``."""
    clean = "".join(ch if ch.isalnum() else "_" for ch in symbol.lower()).strip("_")
    return f"{clean}_{timeframe.lower()}"


def _check_free(root: Path, name: str) -> None:
    origin = dataset_origin(root, name)
    if origin is not None and origin != "import":
        raise DatasetStoreError(
            f"dataset name {name!r} belongs to DVC stage {origin.split(':', 1)[1]!r}; "
            "pick another --name"
        )


def import_dataset(
    source: Path, options: NormaliseOptions, *, root: Path, name: str | None = None,
    max_bytes: int, validation: ValidationConfig | None = None,
    run_suite: Callable[..., list[RuleOutcome]] | None = None,
) -> ImportResult:
    """Import ``source`` as dataset ``name`` (default ``<symbol>_<timeframe>``) under ``root``.
    ``run_suite``: where the GX suite runs (default in process; see :func:`validate_bars`).

    Raises
    ------
    SourceFileError, NormaliseError, TimestampParseError
        The file cannot be read or mapped; nothing was written.
    DatasetRejectedError
        The file failed validation; nothing was written.
    DatasetStoreError
        Writing or ``dvc add`` failed; the previous version is back in place.
    """
    name = check_name(name or default_name(options.symbol, options.timeframe))
    _check_free(root, name)
    raw = read_source(source, max_bytes=max_bytes)
    bars = normalise(raw, options)
    with opened_dvc_repo(root) as repo:  # read-only until validated; overlaps a GX worker
        report = validate_bars(
            bars.frame, name=name, kind=bars.kind, venue=options.venue,
            timeframe=options.timeframe, has_volume=bars.has_volume, config=validation,
            run_suite=run_suite,
        )
        if not report.passed:
            raise DatasetRejectedError(report)
        meta = DatasetMeta(
            name=name, kind=bars.kind, timeframe=options.timeframe, venue=options.venue,
            source=f"import: {source.name}", has_volume=bars.has_volume,
        )
        _store(root, root / IMPORT_DIR / f"{name}.parquet", conform(bars.frame), meta,
               repo=repo)
    return ImportResult(find_dataset(root, name), report, bars.notes)


@contextmanager
def opened_dvc_repo(root: Path) -> Iterator[Any | None]:
    """The project's DVC repo, opened, locked and with its index read ahead of ``dvc add``
    (which then reuses the index: DVC resets it only when it takes the lock itself). Nothing
    is written. None when it cannot be opened: :func:`_store` opens it again and reports why,
    after putting back what was there."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo, lock_repo

    stack = ExitStack()
    repo: Any | None
    try:
        repo = stack.enter_context(Repo(str(root)))
        stack.enter_context(lock_repo(repo))
        repo.scm_context.quiet = True
        repo.index  # noqa: B018 - read every stage and .dvc file now
    except DvcException:
        stack.close()
        repo = None
    with stack:
        yield repo


def _store(root: Path, target: Path, frame: pd.DataFrame, meta: DatasetMeta, *,
           repo: Any | None = None) -> None:
    """Write ``target`` and ``dvc add`` it (in ``repo`` when given, see
    :func:`opened_dvc_repo`); on any failure restore what was there before."""
    store_versioned(root, target, lambda: write_dataset(frame, target, meta), repo=repo)


def store_versioned(root: Path, target: Path, write: Callable[[], object], *,
                    repo: Any | None = None) -> None:
    """Call ``write()`` (which writes ``target`` atomically) and ``dvc add`` ``target``; on
    any failure put back the previous file, its ``.dvc`` record and ``.gitignore``."""
    record = target.with_name(target.name + ".dvc")
    gitignore = target.parent / ".gitignore"
    backups = {p: p.with_name(f".{p.name}.bak") for p in (target, record, gitignore)}
    existed = {p: p.exists() for p in backups}
    target.parent.mkdir(parents=True, exist_ok=True)
    for p, bak in backups.items():
        if existed[p]:
            shutil.copy2(p, bak)
    try:
        write()
        _dvc_add(root, target, repo)
    except BaseException as exc:
        for p, bak in backups.items():
            if existed[p]:
                os.replace(bak, p)
            else:
                p.unlink(missing_ok=True)
        if isinstance(exc, Exception):
            raise DatasetStoreError(f"could not version {target} with DVC: {exc}") from exc
        raise
    for bak in backups.values():
        bak.unlink(missing_ok=True)


def _dvc_add(root: Path, target: Path, repo: Any | None) -> None:
    """``dvc add`` in process; DVC's "To track the changes with git" hint is not printed (the
    CLI prints the exact ``git add`` line itself)."""
    if repo is not None:
        repo.add(str(target.relative_to(root)))
        return
    from dvc.repo import Repo

    with Repo(str(root)) as opened:
        opened.scm_context.quiet = True
        opened.add(str(target.relative_to(root)))
