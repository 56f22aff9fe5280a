"""Storage for feature frames: the feature store keeps the Parquet, Dagster keeps a pointer.

Materialising ``features`` writes nothing twice: the frame is already in the feature store
under its key, so the IO manager records only that key and path, and a downstream step (in
this run or a later one) reads the Parquet back, checked against the recorded key.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import dagster as dg

from pipelines.datasets.schema import atomic_write
from pipelines.research.features import FeatureKey, FeatureStore, StoredFeatures


class FeatureStoreIOManager(dg.ConfigurableIOManager):
    """Pointers to feature-store files under ``base_dir``, one JSON file per partition."""

    base_dir: str

    def _pointer(self, context: dg.OutputContext | dg.InputContext) -> Path:
        parts = context.get_asset_identifier()
        return Path(self.base_dir).joinpath(*parts).with_suffix(".json")

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
        path = Path(pointer["path"])
        store = FeatureStore(path.parent.parent)
        frame, flat = store.read(path, key)
        return StoredFeatures(key, path, frame, flat, cache_hit=True)
