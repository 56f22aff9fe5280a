"""The dataset catalog: names, hashes and states."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.datasets.catalog import (
    DatasetNameError,
    UnknownDatasetError,
    check_name,
    file_md5,
    find_dataset,
    list_datasets,
)
from pipelines.datasets.schema import KIND_INTRADAY, DatasetMeta, write_dataset
from tests.stubs import nse_minute_bars

DVC_YAML = """stages:
  make:
    cmd: true
    outs:
      - data/datasets/alpha.parquet
"""


def _project(tmp_path: Path, *, lock_md5: str | None) -> Path:
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    if lock_md5 is not None:
        (tmp_path / "dvc.lock").write_text(
            "schema: '2.0'\nstages:\n  make:\n    cmd: 'true'\n    outs:\n"
            f"    - path: data/datasets/alpha.parquet\n      md5: {lock_md5}\n")
    return tmp_path


def _write_alpha(root: Path) -> Path:
    meta = DatasetMeta(name="alpha", kind=KIND_INTRADAY, timeframe="1m", venue="NSE",
                       source="test")
    return write_dataset(nse_minute_bars(), root / "data/datasets/alpha.parquet", meta)


def test_check_name_refuses_dashes() -> None:
    with pytest.raises(DatasetNameError, match="'nifty-1m'"):
        check_name("nifty-1m")


def test_list_datasets_stage_output_matching_lock_is_ok(tmp_path: Path) -> None:
    root = tmp_path
    path = _write_alpha(root)
    _project(root, lock_md5=file_md5(path))
    (entry,) = list_datasets(root)
    assert (entry.name, entry.state, entry.stage) == ("alpha", "ok", "make")
    assert entry.rows == 750 and entry.symbols == ("NIFTY",)
    assert entry.first == "2025-01-06T09:15:00+05:30"
    assert entry.last == "2025-01-07T15:29:00+05:30"


def test_list_datasets_edited_file_is_modified(tmp_path: Path) -> None:
    _project(tmp_path, lock_md5="0" * 32)
    _write_alpha(tmp_path)
    assert list_datasets(tmp_path)[0].state == "modified"


def test_list_datasets_unbuilt_output_is_missing(tmp_path: Path) -> None:
    _project(tmp_path, lock_md5=None)
    assert list_datasets(tmp_path)[0].state == "missing"


def test_find_dataset_unknown_lists_known(tmp_path: Path) -> None:
    _project(tmp_path, lock_md5=None)
    with pytest.raises(UnknownDatasetError, match=r"'beta'.*\['alpha'\]"):
        find_dataset(tmp_path, "beta")
