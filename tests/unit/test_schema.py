"""The normalised schema, its self-describing footer and the atomic writer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.datasets.schema import (
    KIND_INTRADAY,
    DatasetMeta,
    DatasetSchemaError,
    Instrument,
    conform,
    read_dataset,
    read_meta,
    write_dataset,
)
from tests.stubs import nse_minute_bars

META = DatasetMeta(name="t", kind=KIND_INTRADAY, timeframe="1m", venue="NSE", source="test",
                   instruments={"NIFTY": Instrument(lot_size=75, tick_size=0.05)})


def test_write_dataset_roundtrips_rows_and_meta(tmp_path: Path) -> None:
    bars = nse_minute_bars()
    path = write_dataset(bars, tmp_path / "t.parquet", META)
    pd.testing.assert_frame_equal(read_dataset(path), conform(bars))
    assert read_meta(path) == META


def test_write_dataset_same_input_same_bytes(tmp_path: Path) -> None:
    bars = nse_minute_bars()
    a = write_dataset(bars, tmp_path / "a.parquet", META).read_bytes()
    b = write_dataset(bars, tmp_path / "b.parquet", META).read_bytes()
    assert a == b


def test_write_dataset_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_dataset(nse_minute_bars(), tmp_path / "t.parquet", META)
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_write_dataset_failure_keeps_previous_file(tmp_path: Path) -> None:
    path = write_dataset(nse_minute_bars(), tmp_path / "t.parquet", META)
    before = path.read_bytes()
    with pytest.raises(DatasetSchemaError):
        write_dataset(nse_minute_bars().drop(columns="close"), path, META)
    assert path.read_bytes() == before


def test_conform_naive_ts_is_refused() -> None:
    bars = nse_minute_bars()
    bars["ts"] = bars["ts"].dt.tz_localize(None)
    with pytest.raises(DatasetSchemaError, match="timezone-aware"):
        conform(bars)


def test_conform_sorts_by_symbol_then_ts() -> None:
    bars = pd.concat([nse_minute_bars(symbol="NIFTY"), nse_minute_bars(symbol="BANKNIFTY")])
    out = conform(bars.sample(frac=1.0, random_state=3))
    assert out["symbol"].iloc[0] == "BANKNIFTY"
    assert out.groupby("symbol")["ts"].apply(lambda s: s.is_monotonic_increasing).all()


def test_dataset_meta_unknown_kind_is_refused() -> None:
    with pytest.raises(DatasetSchemaError, match="kind 'ticks'"):
        DatasetMeta(name="t", kind="ticks", timeframe="1m", venue="NSE", source="x")


def test_read_meta_plain_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(DatasetSchemaError, match="no stratops metadata"):
        read_meta(path)
