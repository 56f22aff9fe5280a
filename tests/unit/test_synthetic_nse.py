"""Specification of the SYNTHETIC NSE index-bar generator."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets.schema import COLUMNS, KIND_INTRADAY, read_meta
from pipelines.datasets.synthetic_nse import (
    EmptySessionRangeError,
    generate_nse_index_bars,
    main,
)
from strategies.venues import trading_days

SHORT_START = date(2025, 1, 1)
SHORT_END = date(2025, 2, 28)
BARS_PER_SESSION = 375
MAHASHIVRATRI_2025 = date(2025, 2, 26)  # a Wednesday XNSE holiday
MUHURAT_2025 = date(2025, 10, 21)  # Diwali special session, 13:45-14:45 IST
MUHURAT_BARS = 60


@pytest.fixture(scope="module")
def short_run() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_nse_index_bars(start=SHORT_START, end=SHORT_END)


@pytest.fixture(scope="module")
def year_run() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_nse_index_bars()


def _minute_log_returns(bars: pd.DataFrame) -> pd.Series:
    """1-minute close-to-close log returns within sessions (overnight gaps excluded)."""
    session = bars["ts"].dt.date
    ret = np.log(bars["close"]).groupby([bars["symbol"], session]).diff()
    return ret.dropna()


def _session_closes(bars: pd.DataFrame, symbol: str) -> pd.Series:
    one = bars[bars["symbol"] == symbol]
    return one.groupby(one["ts"].dt.date)["close"].last()


def test_generate_same_seed_identical_frames() -> None:
    first = generate_nse_index_bars(seed=7, start=SHORT_START, end=SHORT_END)
    second = generate_nse_index_bars(seed=7, start=SHORT_START, end=SHORT_END)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_generate_different_seed_different_prices() -> None:
    first, _ = generate_nse_index_bars(seed=7, start=SHORT_START, end=SHORT_END)
    second, _ = generate_nse_index_bars(seed=8, start=SHORT_START, end=SHORT_END)
    assert not np.array_equal(first["close"].to_numpy(), second["close"].to_numpy())


def test_generate_start_after_end_raises() -> None:
    with pytest.raises(EmptySessionRangeError, match="2025-02-01"):
        generate_nse_index_bars(start=date(2025, 2, 1), end=date(2025, 1, 31))


def test_bars_schema_columns_sorted_and_tz_aware(short_run: tuple[pd.DataFrame, ...]) -> None:
    bars = short_run[0]
    assert tuple(bars.columns) == COLUMNS
    assert str(bars["ts"].dt.tz) == "Asia/Kolkata"
    assert bars["ts"].dt.unit == "ns"
    assert set(bars["symbol"]) == {"NIFTY", "BANKNIFTY"}
    expected = bars.sort_values(["symbol", "ts"], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(bars, expected)


def test_bars_ohlc_high_low_bound_open_close(short_run: tuple[pd.DataFrame, ...]) -> None:
    bars = short_run[0]
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["low"] > 0).all()


def test_bars_open_equals_previous_close_within_session(
    short_run: tuple[pd.DataFrame, ...],
) -> None:
    bars = short_run[0]
    prev_close = bars.groupby([bars["symbol"], bars["ts"].dt.date])["close"].shift()
    within = prev_close.notna()
    assert within.sum() == len(bars) - bars.groupby(["symbol", bars["ts"].dt.date]).ngroups
    np.testing.assert_array_equal(bars.loc[within, "open"], prev_close[within])


def test_bars_prices_on_tick_grid(short_run: tuple[pd.DataFrame, ...]) -> None:
    prices = short_run[0][["open", "high", "low", "close"]].to_numpy()
    ticks = prices / 0.05
    np.testing.assert_allclose(ticks, np.round(ticks), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(prices, np.round(prices, 2))


def test_bars_volume_positive_whole_numbers(short_run: tuple[pd.DataFrame, ...]) -> None:
    volume = short_run[0]["volume"]
    assert volume.dtype == np.float64
    assert (volume >= 1).all()
    assert (volume == np.round(volume)).all()
    assert 1_000 < volume.median() < 300_000


def test_bars_weekday_holiday_has_no_bars(short_run: tuple[pd.DataFrame, ...]) -> None:
    sessions = trading_days("NSE", SHORT_START, SHORT_END)
    assert MAHASHIVRATRI_2025.weekday() < 5
    assert pd.Timestamp(MAHASHIVRATRI_2025) not in sessions
    assert MAHASHIVRATRI_2025 not in set(short_run[0]["ts"].dt.date)


def test_bars_only_on_trading_days(short_run: tuple[pd.DataFrame, ...]) -> None:
    sessions = {d.date() for d in trading_days("NSE", SHORT_START, SHORT_END)}
    assert set(short_run[0]["ts"].dt.date) == sessions


def test_bars_times_from_0915_to_1529_per_session(short_run: tuple[pd.DataFrame, ...]) -> None:
    bars = short_run[0]
    clock = bars["ts"].dt.time
    assert clock.min() == time(9, 15)
    assert clock.max() == time(15, 29)
    per_session = bars.groupby(["symbol", bars["ts"].dt.date]).size()
    assert (per_session == BARS_PER_SESSION).all()


def test_bars_full_year_rows_follow_the_schedule(year_run: tuple[pd.DataFrame, ...]) -> None:
    n_sessions = len(trading_days("NSE", date(2025, 1, 1), date(2025, 12, 31)))
    assert n_sessions == 248
    regular = BARS_PER_SESSION * (n_sessions - 1)
    assert len(year_run[0]) == (regular + MUHURAT_BARS) * 2


def test_bars_muhurat_session_keeps_only_its_hour(year_run: tuple[pd.DataFrame, ...]) -> None:
    bars = year_run[0]
    day = bars[bars["ts"].dt.date == MUHURAT_2025]
    assert len(day) == MUHURAT_BARS * 2
    assert day["ts"].dt.time.min() == time(13, 45)
    assert day["ts"].dt.time.max() == time(14, 44)


def test_regimes_one_row_per_session(short_run: tuple[pd.DataFrame, ...]) -> None:
    regimes = short_run[1]
    sessions = trading_days("NSE", SHORT_START, SHORT_END)
    assert list(regimes.columns) == ["session", "regime"]
    assert regimes["session"].dt.tz is None
    pd.testing.assert_index_equal(pd.DatetimeIndex(regimes["session"]), sessions, exact=False)


def test_regimes_full_year_all_three_occur(year_run: tuple[pd.DataFrame, ...]) -> None:
    assert set(year_run[1]["regime"]) == {"trend", "chop", "high_vol"}


def test_regimes_high_vol_days_more_volatile_than_chop(year_run: tuple[pd.DataFrame, ...]) -> None:
    bars, regimes = year_run
    nifty = bars[bars["symbol"] == "NIFTY"]
    ret = _minute_log_returns(nifty)
    day_rv = np.sqrt((ret**2).groupby(nifty.loc[ret.index, "ts"].dt.date).sum())
    label = regimes.set_index(regimes["session"].dt.date)["regime"]
    by_regime = day_rv.groupby(label.reindex(day_rv.index)).mean()
    assert by_regime["high_vol"] > 1.5 * by_regime["chop"]


def test_intraday_vol_u_shaped_open_and_close_above_midday(
    short_run: tuple[pd.DataFrame, ...],
) -> None:
    bars = short_run[0]
    abs_ret = _minute_log_returns(bars).abs()
    ts = bars.loc[abs_ret.index, "ts"]
    minute = (ts.dt.hour * 60 + ts.dt.minute - (9 * 60 + 15)).to_numpy()
    midday = abs_ret[(minute >= 150) & (minute < 225)].mean()
    assert abs_ret[minute < 30].mean() > 1.2 * midday
    assert abs_ret[minute >= BARS_PER_SESSION - 30].mean() > 1.1 * midday


def test_returns_nifty_banknifty_correlated(short_run: tuple[pd.DataFrame, ...]) -> None:
    bars = short_run[0]
    ret = _minute_log_returns(bars)
    wide = pd.DataFrame({"ts": bars.loc[ret.index, "ts"], "symbol": bars.loc[ret.index, "symbol"],
                         "ret": ret}).pivot(index="ts", columns="symbol", values="ret")
    assert 0.7 <= wide["NIFTY"].corr(wide["BANKNIFTY"]) <= 0.85


def test_annualised_vol_full_year_in_plausible_range(year_run: tuple[pd.DataFrame, ...]) -> None:
    vols = {
        symbol: np.log(_session_closes(year_run[0], symbol)).diff().std() * np.sqrt(248)
        for symbol in ("NIFTY", "BANKNIFTY")
    }
    assert 0.10 <= vols["NIFTY"] <= 0.20
    assert vols["NIFTY"] < vols["BANKNIFTY"] <= 0.25


def test_overnight_gaps_some_exceed_half_percent(short_run: tuple[pd.DataFrame, ...]) -> None:
    bars = short_run[0]
    nifty = bars[bars["symbol"] == "NIFTY"]
    first_open = nifty.groupby(nifty["ts"].dt.date)["open"].first()
    gaps = np.log(first_open / _session_closes(bars, "NIFTY").shift()).dropna()
    assert (gaps.abs() > 0.005).any()
    assert (gaps != 0).mean() > 0.9


def test_main_twice_byte_identical_files(tmp_path: Path) -> None:
    argv = ["--start", "2025-01-01", "--end", "2025-01-31", "--seed", "11"]
    outputs = []
    for run in ("a", "b"):
        bars_path, regimes_path = tmp_path / run / "nse.parquet", tmp_path / run / "regimes.parquet"
        assert main([*argv, "--out", str(bars_path), "--regimes-out", str(regimes_path)]) == 0
        outputs.append((bars_path.read_bytes(), regimes_path.read_bytes()))
    assert outputs[0] == outputs[1]


def test_main_writes_synthetic_meta(tmp_path: Path) -> None:
    out = tmp_path / "nse_synthetic.parquet"
    main(["--start", "2025-01-01", "--end", "2025-01-10", "--seed", "3", "--out", str(out)])
    meta = read_meta(out)
    assert meta.synthetic is True
    assert (meta.name, meta.kind, meta.timeframe, meta.venue) == (
        "nse_synthetic", KIND_INTRADAY, "1m", "NSE"
    )
    assert meta.source.endswith("seed=3")
    assert meta.instruments["NIFTY"].lot_size == 75
    assert meta.instruments["BANKNIFTY"].lot_size == 35
