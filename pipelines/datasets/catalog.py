"""The dataset catalog: every dataset in ``data/``, its DVC content hash and its footer facts.

Two origins: outputs of DVC stages (``data/datasets/*.parquet``, hashes in ``dvc.lock``)
and user imports (``data/imports/<name>.parquet`` with a ``.dvc`` file). The DVC md5 is the
dataset's version: it is what lineage tags and caches key on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from pipelines.datasets.schema import DatasetMeta, DatasetSchemaError, check_symbols, read_meta
from strategies.errors import BadInputError
from strategies.names import NAME as NAME_PATTERN
from strategies.names import InvalidNameError, validate_name

STAGE_DIR = Path("data/datasets")
IMPORT_DIR = Path("data/imports")


class UnknownDatasetError(BadInputError, KeyError):
    """A dataset name that is not in the catalog."""

    def __str__(self) -> str:
        name, known = self.args
        return f"unknown dataset {name!r}; known datasets: {known}"


class DatasetUnavailableError(BadInputError, RuntimeError):
    """A catalogued dataset whose file is missing, unreadable or not what DVC recorded."""


class DatasetNameError(InvalidNameError):
    """A dataset name that is not lower-case letters, digits and underscores."""


def check_name(name: str) -> str:
    """Return ``name`` if valid as a dataset (and Dagster asset) name, else raise."""
    try:
        return validate_name(name, field="dataset name")
    except InvalidNameError as exc:
        raise DatasetNameError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class DatasetEntry:
    """One dataset: where it is, its recorded DVC md5 and whether the file matches it."""

    name: str
    path: Path
    origin: str  # "stage:<stage name>" or "import"
    md5: str | None
    state: str  # ok | modified | missing | unversioned
    meta: DatasetMeta | None
    rows: int = 0
    symbols: tuple[str, ...] = ()
    first: str = ""
    last: str = ""
    problem: str = ""  # why an entry is unreadable

    def to_dict(self) -> dict[str, Any]:
        """The entry as ``data list --json`` and ``stratops run --json`` print it."""
        meta = self.meta
        return {
            "name": self.name, "md5": self.md5, "state": self.state, "origin": self.origin,
            "path": str(self.path), "symbols": list(self.symbols), "rows": self.rows,
            "timeframe": meta.timeframe if meta else None,
            "venue": meta.venue if meta else None, "kind": meta.kind if meta else None,
            "synthetic": meta.synthetic if meta else None, "first": self.first,
            "last": self.last,
        }

    @property
    def stage(self) -> str | None:
        return self.origin.split(":", 1)[1] if self.origin.startswith("stage:") else None


def file_md5(path: Path) -> str:
    """MD5 of the file's bytes, as DVC records it for a single-file output."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _stage_outputs(root: Path) -> dict[str, tuple[str, str | None]]:
    """Map each stage output path under STAGE_DIR to (stage, md5 in dvc.lock)."""
    stages = _load_yaml(root / "dvc.yaml").get("stages", {})
    locked = _load_yaml(root / "dvc.lock").get("stages", {})
    result: dict[str, tuple[str, str | None]] = {}
    for stage, spec in stages.items():
        lock_outs = {o["path"]: o.get("md5") for o in locked.get(stage, {}).get("outs", [])}
        for out in spec.get("outs", []):
            out_path = out if isinstance(out, str) else next(iter(out))
            if Path(out_path).parent == STAGE_DIR and out_path.endswith(".parquet"):
                result[out_path] = (stage, lock_outs.get(out_path))
    return result


def _import_outputs(root: Path) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for dvc_file in sorted((root / IMPORT_DIR).glob("*.parquet.dvc")):
        outs = _load_yaml(dvc_file).get("outs", [])
        md5 = outs[0].get("md5") if outs else None
        result[str(IMPORT_DIR / dvc_file.name[: -len(".dvc")])] = md5
    return result


def _entry(root: Path, rel: str, origin: str, md5: str | None) -> DatasetEntry:
    path = root / rel
    name = _name_of(rel)
    if not NAME_PATTERN.fullmatch(name):  # a file name no dataset may have: never used
        return DatasetEntry(name, path, origin, md5, "unreadable", None,
                            problem=f"{path}: {name!r} is not a valid dataset name")
    if not path.is_file():
        return DatasetEntry(name, path, origin, md5, "missing", None)
    state = "unversioned" if md5 is None else ("ok" if file_md5(path) == md5 else "modified")
    try:
        meta = read_meta(path)
        pf = pq.ParquetFile(path)
        symbols = tuple(sorted(set(pf.read(columns=["symbol"]).column(0).to_pylist())))
        check_symbols(path, symbols)
        stats = [pf.metadata.row_group(i).column(0).statistics for i in range(pf.num_row_groups)]
        first = min(s.min for s in stats if s is not None and s.has_min_max)
        last = max(s.max for s in stats if s is not None and s.has_min_max)
    except (DatasetSchemaError, ValueError, OSError) as exc:
        return DatasetEntry(name, path, origin, md5, "unreadable", None, problem=str(exc))
    return DatasetEntry(
        name, path, origin, md5, state, meta, rows=pf.metadata.num_rows, symbols=symbols,
        first=_stamp(first, meta), last=_stamp(last, meta),
    )


def _stamp(value: object, meta: DatasetMeta) -> str:
    import pandas as pd

    from strategies.venues import get_venue

    ts = pd.Timestamp(value)
    ts = (ts.tz_localize("UTC") if ts.tzinfo is None else ts).tz_convert(get_venue(meta.venue).tz)
    return str(ts.strftime("%Y-%m-%d") if meta.timeframe.endswith(("d", "w")) else ts.isoformat())


def _locations(root: Path) -> list[tuple[str, str, str | None]]:
    """(relative path, origin, recorded md5) of every dataset, in catalog order: stage
    outputs first, then imports, each by name. Reads only ``dvc.yaml``/``dvc.lock``/``.dvc``."""
    stage = sorted(((rel, f"stage:{s}", md5) for rel, (s, md5) in _stage_outputs(root).items()),
                   key=lambda loc: _name_of(loc[0]))
    imports = sorted(((rel, "import", md5) for rel, md5 in _import_outputs(root).items()),
                     key=lambda loc: _name_of(loc[0]))
    return stage + imports


def _name_of(rel: str) -> str:
    return Path(rel).name.removesuffix(".parquet")


def list_datasets(root: Path) -> list[DatasetEntry]:
    """Every dataset the project knows, stage outputs first, then imports, by name."""
    return [_entry(root, *loc) for loc in _locations(root)]


def dataset_origin(root: Path, name: str) -> str | None:
    """``stage:<stage>`` or ``import`` for a known dataset name, None for a free one (reads
    no data file)."""
    return next((origin for rel, origin, _ in _locations(root) if _name_of(rel) == name), None)


def find_dataset(root: Path, name: str) -> DatasetEntry:
    """The catalog entry called ``name`` (only its own file is read and hashed)."""
    locations = _locations(root)
    for loc in locations:
        if _name_of(loc[0]) == name:
            return _entry(root, *loc)
    raise UnknownDatasetError(name, [_name_of(rel) for rel, _, _ in locations])
