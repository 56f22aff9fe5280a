"""Import a real Kite instruments dump: validate it, and only then store and version it.

The file is read (size-limited), parsed and run through the master's suite
(:func:`pipelines.datasets.master_validation.validate_master`); a refused file leaves what is
stored untouched. A passing one is written atomically to ``data/imports/<name>.csv`` and
``dvc add``-ed (the previous version is put back if DVC fails). Point
``instruments.master_file`` at it to trade from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.datasets.catalog import IMPORT_DIR, check_name, file_md5
from pipelines.datasets.importer import opened_dvc_repo, store_versioned
from pipelines.datasets.master_validation import validate_master
from pipelines.datasets.validation import ValidationReport
from strategies.files import atomic_write
from strategies.instruments import InstrumentMaster, InstrumentMasterError


@dataclass(frozen=True, slots=True)
class MasterImport:
    """What landed: where, its md5, the parsed master and its validation report."""

    path: Path
    md5: str
    master: InstrumentMaster
    report: ValidationReport


def read_master_text(path: Path, *, max_bytes: int) -> str:
    """The dump's text; refuses a missing, oversized or non-UTF-8 file naming it."""
    if not path.is_file():
        raise InstrumentMasterError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InstrumentMasterError(f"{path}: {size} bytes is above the limit of {max_bytes}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InstrumentMasterError(f"{path}: not UTF-8 text ({exc})") from exc


def import_master(source: Path, *, root: Path, name: str = "kite_instruments",
                  max_bytes: int) -> MasterImport:
    """Validate ``source`` and store it as ``data/imports/<name>.csv`` (DVC-versioned).

    Raises
    ------
    InstrumentMasterError
        Unreadable or not a valid Kite dump; nothing was written.
    MasterRejectedError
        A rule of the master's suite failed; nothing was written.
    DatasetStoreError
        Writing or ``dvc add`` failed; the previous version is back in place.
    """
    name = check_name(name)
    text = read_master_text(source, max_bytes=max_bytes)
    target = root / IMPORT_DIR / f"{name}.csv"
    with opened_dvc_repo(root) as repo:
        master, report = validate_master(text, name=name, source=str(source))
        store_versioned(root, target, lambda: atomic_write(
            target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8")), repo=repo)
    return MasterImport(target, file_md5(target), master, report)
