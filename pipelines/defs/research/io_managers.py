"""Where Dagster keeps research outputs - as data, never as pickles.

Feature frames: the feature store keeps the Parquet, Dagster keeps a pointer. Materialising
``features`` writes nothing twice: the frame is already in the feature store under its key,
so the IO manager records only that key, and a downstream step (in this run or a later one)
reads the Parquet back from the path the key gives, checked against the key.

Every other output (walk-forward report, gate verdict, registered version) goes through
:class:`JsonIOManager`: JSON for values, Parquet for frames (:mod:`pipelines.research.serde`).
Dagster's default filesystem IO manager pickles outputs and unpickles them on load, and
unpickling a file runs whatever code it names; nothing here does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.datasets.schema import atomic_write
from pipelines.research.features import FeatureKey, FeatureStore, StoredFeatures
from pipelines.research.serde import decode, encode, read_frame, write_frame
from strategies.names import path_under


def _storage_path(base_dir: str, context: dg.OutputContext | dg.InputContext,
                  suffix: str) -> Path:
    """``<base_dir>/<asset key path>/<partition key><suffix>``, kept under ``base_dir``."""
    parts = [str(p) for p in context.get_asset_identifier()]
    parts[-1] += suffix
    return path_under(Path(base_dir), *parts)



def _bytes_writer(data: bytes) -> Callable[[str], object]:
    return lambda tmp: Path(tmp).write_bytes(data)

class FeatureStoreIOManager(dg.ConfigurableIOManager):
    """Pointers to feature-store files under ``base_dir``, one JSON file per partition; the
    frames themselves are read from the feature store at ``store_dir``."""

    base_dir: str
    store_dir: str

    def _pointer(self, context: dg.OutputContext | dg.InputContext) -> Path:
        return _storage_path(self.base_dir, context, ".json")

    def handle_output(self, context: dg.OutputContext, obj: StoredFeatures) -> None:
        pointer = {"key": asdict(obj.key), "path": str(obj.path),
                   "flat_at_session_end": obj.flat_at_session_end}
        text = json.dumps(pointer, sort_keys=True)
        atomic_write(self._pointer(context), lambda tmp: Path(tmp).write_text(text))

    def load_input(self, context: dg.InputContext) -> StoredFeatures:
        pointer_path = self._pointer(context)
        if not pointer_path.is_file():
            raise FileNotFoundError(
                f"{pointer_path}: features of this partition were never materialised")
        pointer = json.loads(pointer_path.read_text())
        key = FeatureKey(**pointer["key"])
        store = FeatureStore(Path(self.store_dir))
        path = store.path(key)  # from the validated key, not from a path stored in a file
        frame, flat = store.read(path, key)
        return StoredFeatures(key, path, frame, flat, cache_hit=True)


class JsonIOManager(dg.ConfigurableIOManager):
    """Outputs as ``<asset>/<partition>.json`` under ``base_dir``; a value's frames as
    content-addressed Parquet files beside it (written first, so the JSON - replaced
    atomically - never names a missing or half-written frame)."""

    base_dir: str

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        doc, frames = encode(obj)
        target = _storage_path(self.base_dir, context, ".json")
        names: dict[str, str] = {}
        for field, frame in frames.items():
            data = write_frame(frame)
            name = f"{target.stem}.{field}.{hashlib.sha256(data).hexdigest()[:16]}.parquet"
            atomic_write(target.with_name(name), _bytes_writer(data))
            names[field] = name
        text = json.dumps({**doc, "frames": names}, sort_keys=True, default=_plain)
        atomic_write(target, lambda tmp: Path(tmp).write_text(text))
        keep = set(names.values())
        for old in target.parent.glob(f"{target.stem}.*.parquet"):
            if old.name not in keep:
                old.unlink(missing_ok=True)

    def load_input(self, context: dg.InputContext) -> Any:
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            # an input spanning partitions (the portfolio study reads every strategy's):
            # {partition key: value}, each read the way a single one is
            path = context.asset_key.path
            return {key: self._read(path_under(Path(self.base_dir), *path, f"{key}.json"))
                    for key in sorted(context.asset_partition_keys)}
        return self._read(_storage_path(self.base_dir, context, ".json"))

    def _read(self, source: Path) -> Any:
        if not source.is_file():
            raise FileNotFoundError(f"{source}: this output was never materialised")
        doc = json.loads(source.read_text())
        frames = {field: read_frame(path_under(source.parent, name))
                  for field, name in doc.pop("frames", {}).items()}
        return decode(doc, frames, source=str(source))


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers; anything else is not JSON and is refused."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")
