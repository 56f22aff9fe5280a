"""The feature frame and its Parquet store: exact round trip, hits on the same key only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.research.features import (
    UNLABELLED,
    FeatureKey,
    FeatureStore,
    FeatureStoreError,
    bars_from_features,
    feature_frame,
    labels_digest,
    load_labels,
)
from pipelines.research.research_report import ReportInputError
from strategies.bars import Bars, bars_from_frame
from strategies.names import InvalidNameError
from tests.stubs import nse_minute_bars

KEY = FeatureKey(dataset="nse_index_1m", dataset_md5="a" * 32, symbol="NIFTY",
                 cutoff="venue", labels_sha256="none")


@pytest.fixture(scope="module")
def bars() -> Bars:
    return bars_from_frame(nse_minute_bars(), symbol="NIFTY", venue="NSE")


def _labels() -> pd.Series:
    return pd.Series(["trend"], index=pd.DatetimeIndex([pd.Timestamp("2025-01-06")]))


def test_feature_frame_rebuilds_identical_bars(bars: Bars) -> None:
    back = bars_from_features(feature_frame(bars, None), flat_at_session_end=True)
    for name in ("open", "high", "low", "close", "volume", "session", "bar_in_session",
                 "entry_ok", "entry_ok_at_close", "cutoff_exit", "session_last"):
        assert np.array_equal(getattr(back, name), getattr(bars, name)), name
    assert back.ts.equals(bars.ts)


def test_feature_frame_labels_each_bar_with_its_session_regime(bars: Bars) -> None:
    frame = feature_frame(bars, _labels())
    day = pd.DatetimeIndex(frame["ts"]).tz_localize(None).normalize()
    assert set(frame.loc[day == pd.Timestamp("2025-01-06"), "regime"]) == {"trend"}
    assert set(frame.loc[day == pd.Timestamp("2025-01-07"), "regime"]) == {UNLABELLED}


def test_feature_store_second_read_is_a_hit_with_the_same_frame(
        bars: Bars, tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    first = store.get_or_build(KEY, lambda: bars, None)
    second = store.get_or_build(KEY, lambda: pytest.fail("recomputed"), None)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    pd.testing.assert_frame_equal(first.frame, second.frame)


@pytest.mark.parametrize("field", ["dataset_md5", "symbol", "cutoff", "labels_sha256"])
def test_feature_key_changes_with_each_input(field: str) -> None:
    assert replace(KEY, **{field: "other"}).digest != KEY.digest


def test_feature_store_refuses_a_file_whose_footer_key_differs(
        bars: Bars, tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    built = store.get_or_build(KEY, lambda: bars, None)
    other = replace(KEY, symbol="BANKNIFTY")
    store.path(other).parent.mkdir(parents=True, exist_ok=True)
    store.path(other).write_bytes(built.path.read_bytes())
    with pytest.raises(FeatureStoreError, match="footer key"):
        store.get_or_build(other, lambda: bars, None)


def test_feature_store_unreadable_file_names_the_path(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    store.path(KEY).parent.mkdir(parents=True)
    store.path(KEY).write_bytes(b"not parquet")
    with pytest.raises(FeatureStoreError, match=str(store.path(KEY).name)):
        store.get_or_build(KEY, lambda: pytest.fail("rebuilt over a bad file"), None)


def test_load_labels_missing_column_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    pd.DataFrame({"session": [pd.Timestamp("2025-01-06")]}).to_parquet(path)
    with pytest.raises(ReportInputError, match=r"labels\.parquet.*regime"):
        load_labels(path)


def test_labels_digest_is_none_without_a_file(tmp_path: Path) -> None:
    assert labels_digest(tmp_path / "absent.parquet") == "none"
    assert load_labels(tmp_path / "absent.parquet") is None


@pytest.mark.parametrize("change", [{"symbol": "../../../../../tmp/x"},
                                    {"dataset": "../../outside"}])
def test_feature_store_path_traversal_name_raises(tmp_path: Path,
                                                  change: dict[str, str]) -> None:
    key = replace(KEY, **change)
    with pytest.raises(InvalidNameError, match=r"tmp/x|outside"):
        FeatureStore(tmp_path / "features").path(key)
    assert list(tmp_path.iterdir()) == []
