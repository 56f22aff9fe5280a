"""The DVC-versioned dataset store as a Dagster resource."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
import pandas as pd

from pipelines.datasets.catalog import DatasetEntry, find_dataset
from pipelines.datasets.schema import read_dataset


class DvcDatasetStore(dg.ConfigurableResource):
    """Datasets under ``data/`` at the project ``root``, brought up to date through DVC."""

    root: str

    @property
    def root_path(self) -> Path:
        return Path(self.root)

    def entry(self, name: str) -> DatasetEntry:
        return find_dataset(self.root_path, name)

    def ensure(self, name: str) -> DatasetEntry:
        """Make the file match its DVC record: re-run its stage, or check an import out."""
        entry = self.entry(name)
        if entry.state == "ok":
            return entry
        from dvc.repo import Repo

        with_python_on_path()
        with Repo(self.root) as repo:
            if entry.stage is not None:
                repo.reproduce(entry.stage, single_item=True)
            else:
                repo.checkout(str(entry.path.relative_to(self.root_path)), force=True)
        entry = self.entry(name)
        if entry.state != "ok":
            raise RuntimeError(f"dataset {name!r} is {entry.state} after DVC ran; see `dvc status`")
        return entry

    def load(self, name: str) -> pd.DataFrame:
        return read_dataset(self.entry(name).path)


def with_python_on_path() -> None:
    """Put this interpreter's bin folder first on PATH, so DVC stage commands (``python -m
    ...``) run in the same environment as stratops."""
    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[:1] != [bin_dir]:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *parts])
