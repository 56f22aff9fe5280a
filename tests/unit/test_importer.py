"""Import storage is all-or-nothing: a failed ``dvc add`` puts the previous version back."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.datasets.importer import DatasetStoreError, _store, default_name
from pipelines.datasets.schema import KIND_INTRADAY, DatasetMeta, conform
from tests.stubs import nse_minute_bars

META = DatasetMeta(name="nifty_1m", kind=KIND_INTRADAY, timeframe="1m", venue="NSE",
                   source="test")


def test_default_name_is_symbol_and_timeframe() -> None:
    assert default_name("BANK NIFTY", "5m") == "bank_nifty_5m"


def test_store_dvc_failure_restores_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "data/imports/nifty_1m.parquet"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"previous version")
    record = target.with_name(target.name + ".dvc")
    record.write_text("outs: [previous]\n")
    with pytest.raises(DatasetStoreError, match="could not version"):
        _store(tmp_path, target, conform(nse_minute_bars()), META)  # not a DVC repo
    assert target.read_bytes() == b"previous version"
    assert record.read_text() == "outs: [previous]\n"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([record.name, target.name])


def test_store_dvc_failure_leaves_no_new_file(tmp_path: Path) -> None:
    target = tmp_path / "data/imports/nifty_1m.parquet"
    with pytest.raises(DatasetStoreError):
        _store(tmp_path, target, conform(nse_minute_bars()), META)
    assert list(target.parent.iterdir()) == []
