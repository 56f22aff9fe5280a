"""The dataset catalog: names, hashes and states."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.datasets.catalog import (
    DatasetNameError,
    UnknownDatasetError,
    check_name,
    file_md5,
    find_dataset,
    list_datasets,
)
from pipelines.datasets.schema import (
    KIND_INTRADAY,
    DatasetMeta,
    DatasetSchemaError,
    read_dataset,
    write_dataset,
)
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


def _write_alpha_with_symbol(root: Path, symbol: str) -> Path:
    """A stage output whose symbol column holds ``symbol`` (written past the schema check)."""
    path = _write_alpha(root)
    table = pq.read_table(path)
    column = pa.array([symbol] * table.num_rows, type=pa.string())
    table = table.set_column(table.schema.get_field_index("symbol"), "symbol", column)
    pq.write_table(table, path)
    return path


def test_list_datasets_traversal_symbol_column_is_unreadable_naming_it(tmp_path: Path) -> None:
    path = _write_alpha_with_symbol(tmp_path, "../../../../../tmp/x")
    _project(tmp_path, lock_md5=file_md5(path))
    (entry,) = list_datasets(tmp_path)
    assert (entry.state, entry.symbols, entry.meta) == ("unreadable", (), None)
    assert "'../../../../../tmp/x'" in entry.problem


def test_read_dataset_traversal_symbol_column_is_refused(tmp_path: Path) -> None:
    path = _write_alpha_with_symbol(tmp_path, "../../x")
    with pytest.raises(DatasetSchemaError, match=r"invalid symbol\(s\) '\.\./\.\./x'"):
        read_dataset(path)


def test_write_dataset_traversal_symbol_is_refused_and_nothing_written(tmp_path: Path) -> None:
    meta = DatasetMeta(name="alpha", kind=KIND_INTRADAY, timeframe="1m", venue="NSE",
                       source="test")
    frame = nse_minute_bars().assign(symbol="../x")
    with pytest.raises(DatasetSchemaError, match=r"'\.\./x'"):
        write_dataset(frame, tmp_path / "alpha.parquet", meta)
    assert list(tmp_path.iterdir()) == []
