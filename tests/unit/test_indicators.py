"""Specification of the indicator kernels: references on real data, causality, validation."""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import ta
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from strategies.indicators import (
    IndicatorInputError,
    _ema_kernel,
    adx,
    atr,
    atr_normalised_momentum,
    choppiness,
    ema,
    rolling_max,
    rolling_min,
    true_range,
)
from strategies.pivots import bearish_divergence, bullish_divergence, pivot_highs, pivot_lows

RTOL = 1e-9
PERIODS = [2, 14, 50]

Array = npt.NDArray[np.float64]
Indicator = Callable[[Array, Array, Array], np.ndarray]


def _momentum(h: Array, lo: Array, c: Array) -> Array:
    return atr_normalised_momentum(c, atr(h, lo, c, 14), 10)


# Every public indicator as a function of (high, low, close), with its warm-up length in bars
# (None for the boolean pivot/divergence flags).
INDICATORS: dict[str, tuple[Indicator, int | None]] = {
    "ema": (lambda h, lo, c: ema(c, 10), 0),
    "true_range": (lambda h, lo, c: true_range(h, lo, c), 0),
    "atr": (lambda h, lo, c: atr(h, lo, c, 14), 13),
    "rolling_max": (lambda h, lo, c: rolling_max(h, 20), 19),
    "rolling_min": (lambda h, lo, c: rolling_min(lo, 20), 19),
    "choppiness": (lambda h, lo, c: choppiness(h, lo, c, 14), 13),
    "adx": (lambda h, lo, c: adx(h, lo, c, 14), 27),
    "atr_normalised_momentum": (_momentum, 13),
    "pivot_highs": (lambda h, lo, c: pivot_highs(h, 3, 2), None),
    "pivot_lows": (lambda h, lo, c: pivot_lows(lo, 3, 2), None),
    "bearish_divergence": (lambda h, lo, c: bearish_divergence(h, _momentum(h, lo, c), 3, 2),
                           None),
    "bullish_divergence": (lambda h, lo, c: bullish_divergence(lo, _momentum(h, lo, c), 3, 2),
                           None),
}
WARMUPS = {name: warmup for name, (_, warmup) in INDICATORS.items() if warmup is not None}


def _load_ohlc(name: str) -> pd.DataFrame:
    resource = importlib.resources.files("backtesting").joinpath(f"test/{name}")
    with importlib.resources.as_file(resource) as path:
        return pd.read_csv(path, index_col=0, parse_dates=True)


@pytest.fixture(scope="module", params=["GOOG.csv", "EURUSD.csv"])
def bars(request: pytest.FixtureRequest) -> pd.DataFrame:
    """Real daily (GOOG) and hourly (EURUSD) bars shipped in the backtesting wheel."""
    return _load_ohlc(request.param)


@pytest.fixture(scope="module")
def hourly() -> tuple[Array, Array, Array]:
    frame = _load_ohlc("EURUSD.csv")
    return frame["High"].to_numpy(), frame["Low"].to_numpy(), frame["Close"].to_numpy()


def _hlc(frame: pd.DataFrame) -> tuple[Array, Array, Array]:
    return frame["High"].to_numpy(), frame["Low"].to_numpy(), frame["Close"].to_numpy()


def _assert_matches_after_warmup(ours: Array, reference: Array, warmup: int) -> None:
    assert np.isnan(ours[:warmup]).all()
    np.testing.assert_allclose(ours[warmup:], reference[warmup:], rtol=RTOL, atol=0.0)


# --- references on real data ---------------------------------------------------------------

@pytest.mark.parametrize("span", PERIODS)
def test_ema_real_data_matches_pandas_ewm_adjust_false(bars: pd.DataFrame, span: int) -> None:
    reference = bars["Close"].ewm(span=span, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(ema(bars["Close"].to_numpy(), span), reference, rtol=RTOL)


@pytest.mark.filterwarnings("ignore::numba.NumbaPendingDeprecationWarning")  # vectorbt's own
@pytest.mark.parametrize("span", PERIODS)
def test_ema_real_data_matches_vectorbt_ewm_ma_after_its_warmup(
    bars: pd.DataFrame, span: int
) -> None:
    import vectorbt as vbt  # slow import, only here

    # vectorbt's EWM MA is adjust=False seeded at bar 0 but masks bars < span - 1 as NaN.
    reference = vbt.MA.run(bars["Close"], window=span, ewm=True).ma.to_numpy()
    assert np.isnan(reference[: span - 1]).all()
    ours = ema(bars["Close"].to_numpy(), span)
    np.testing.assert_allclose(ours[span - 1:], reference[span - 1:], rtol=RTOL)


@pytest.mark.parametrize("period", PERIODS)
def test_atr_real_data_matches_ta_after_warmup(bars: pd.DataFrame, period: int) -> None:
    reference = ta.volatility.AverageTrueRange(
        bars["High"], bars["Low"], bars["Close"], window=period, fillna=False
    ).average_true_range().to_numpy()
    _assert_matches_after_warmup(atr(*_hlc(bars), period), reference, period - 1)


def test_atr_warmup_is_nan_where_ta_reports_zero(bars: pd.DataFrame) -> None:
    reference = ta.volatility.AverageTrueRange(
        bars["High"], bars["Low"], bars["Close"], window=14
    ).average_true_range().to_numpy()
    assert (reference[:13] == 0.0).all() and np.isnan(atr(*_hlc(bars), 14)[:13]).all()


@pytest.mark.parametrize("period", PERIODS)
def test_adx_real_data_matches_ta_after_warmup(bars: pd.DataFrame, period: int) -> None:
    reference = ta.trend.ADXIndicator(
        bars["High"], bars["Low"], bars["Close"], window=period, fillna=False
    ).adx().to_numpy()
    _assert_matches_after_warmup(adx(*_hlc(bars), period), reference, 2 * period - 1)


def test_adx_warmup_is_nan_where_ta_reports_zero(bars: pd.DataFrame) -> None:
    reference = ta.trend.ADXIndicator(bars["High"], bars["Low"], bars["Close"], window=14).adx()
    assert (reference.to_numpy()[:27] == 0.0).all() and np.isnan(adx(*_hlc(bars), 14)[:27]).all()


@pytest.mark.parametrize("window", PERIODS)
def test_rolling_max_real_data_matches_pandas_rolling(bars: pd.DataFrame, window: int) -> None:
    reference = bars["High"].rolling(window).max().to_numpy()
    np.testing.assert_array_equal(rolling_max(bars["High"].to_numpy(), window), reference)


@pytest.mark.parametrize("window", PERIODS)
def test_rolling_min_real_data_matches_pandas_rolling(bars: pd.DataFrame, window: int) -> None:
    reference = bars["Low"].rolling(window).min().to_numpy()
    np.testing.assert_array_equal(rolling_min(bars["Low"].to_numpy(), window), reference)


def _pandas_choppiness(frame: pd.DataFrame, period: int) -> pd.Series:
    high, low, prev_close = frame["High"], frame["Low"], frame["Close"].shift(1)
    tr = pd.concat([high - low, (high - prev_close).abs(), (low - prev_close).abs()], axis=1)
    tr_sum = tr.max(axis=1).rolling(period).sum()  # skipna: bar 0 is high - low
    price_range = high.rolling(period).max() - low.rolling(period).min()
    return 100 * np.log10(tr_sum / price_range.where(price_range > 0)) / np.log10(period)


@pytest.mark.parametrize("period", PERIODS)
def test_choppiness_real_data_matches_pandas_formula(bars: pd.DataFrame, period: int) -> None:
    reference = _pandas_choppiness(bars, period).to_numpy()
    _assert_matches_after_warmup(choppiness(*_hlc(bars), period), reference, period - 1)


def test_choppiness_zero_range_gives_nan() -> None:
    flat = np.full(6, 100.0)
    assert np.isnan(choppiness(flat, flat, flat, 3)).all()


def test_atr_normalised_momentum_divides_change_by_atr() -> None:
    close = np.array([10.0, 11.0, 13.0, 16.0])
    scale = np.array([np.nan, 0.0, 2.0, 4.0])
    np.testing.assert_array_equal(
        atr_normalised_momentum(close, scale, 1), [np.nan, np.nan, 1.0, 0.75]
    )


def test_true_range_includes_gap_from_previous_close() -> None:
    high, low, close = np.array([10.0, 12.0]), np.array([9.0, 11.5]), np.array([9.5, 12.0])
    np.testing.assert_array_equal(true_range(high, low, close), [1.0, 2.5])


# --- causality, warm-up, inputs -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_indicator_truncated_input_reproduces_prefix(
    hourly: tuple[Array, Array, Array], name: str
) -> None:
    compute = INDICATORS[name][0]
    full = compute(*hourly)
    assert np.any(full) if full.dtype == np.bool_ else not np.isnan(full).all()  # not vacuous
    for k in (1, 7, 13, 14, 28, 29, 500, 2_345, len(full) - 1):
        np.testing.assert_array_equal(compute(*(x[:k] for x in hourly)), full[:k])


@pytest.mark.parametrize("name", sorted(WARMUPS))
def test_indicator_warmup_bars_exactly_nan(hourly: tuple[Array, Array, Array], name: str) -> None:
    values = INDICATORS[name][0](*hourly)
    np.testing.assert_array_equal(np.isnan(values), np.arange(len(values)) < WARMUPS[name])


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_indicator_read_only_inputs_give_same_values(
    hourly: tuple[Array, Array, Array], name: str
) -> None:
    read_only = tuple(x.copy() for x in hourly)
    for x in read_only:
        x.setflags(write=False)
    compute = INDICATORS[name][0]
    np.testing.assert_array_equal(compute(*read_only), compute(*hourly))


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_indicator_inputs_left_unchanged(hourly: tuple[Array, Array, Array], name: str) -> None:
    inputs = tuple(x.copy() for x in hourly)
    INDICATORS[name][0](*inputs)
    for before, after in zip(hourly, inputs, strict=True):
        np.testing.assert_array_equal(before, after)


def test_ema_read_only_input_adds_no_numba_specialisation() -> None:
    ema(np.linspace(1.0, 2.0, 50), 5)
    compiled = set(_ema_kernel.signatures)
    read_only = np.linspace(1.0, 2.0, 50)
    read_only.setflags(write=False)
    ema(read_only, 5)
    assert set(_ema_kernel.signatures) == compiled


def test_ema_nan_input_refused_naming_x() -> None:
    with pytest.raises(IndicatorInputError, match=r"x contains NaN \(first at index 2\)"):
        ema(np.array([1.0, 2.0, np.nan, 4.0]), 3)


def test_atr_nan_close_refused_naming_close() -> None:
    close = np.array([1.0, np.nan, 1.0])
    with pytest.raises(IndicatorInputError, match=r"close contains NaN \(first at index 1\)"):
        atr(np.full(3, 2.0), np.zeros(3), close, 2)


def test_atr_length_mismatch_refused_naming_low() -> None:
    with pytest.raises(IndicatorInputError, match="low has length 4 but high has length 5"):
        atr(np.ones(5), np.ones(4), np.ones(5), 2)


def test_bearish_divergence_length_mismatch_refused_naming_osc() -> None:
    with pytest.raises(IndicatorInputError, match="osc has length 3 but high has length 5"):
        bearish_divergence(np.ones(5), np.ones(3), 1, 1)


@pytest.mark.parametrize(
    ("call", "argument"),
    [(lambda: ema(np.ones(5), 0), "span"),
     (lambda: atr(np.ones(5), np.ones(5), np.ones(5), 0), "period"),
     (lambda: adx(np.ones(5), np.ones(5), np.ones(5), 0), "period"),
     (lambda: rolling_max(np.ones(5), 0), "window"),
     (lambda: rolling_min(np.ones(5), 0), "window"),
     (lambda: atr_normalised_momentum(np.ones(5), np.ones(5), 0), "lookback"),
     (lambda: pivot_highs(np.ones(5), 0, 1), "left"),
     (lambda: pivot_lows(np.ones(5), 1, 0), "right")],
)
def test_indicator_period_zero_refused_naming_argument(
    call: Callable[[], object], argument: str
) -> None:
    with pytest.raises(IndicatorInputError, match=f"{argument} must be an integer >= 1, got 0"):
        call()


def test_choppiness_period_one_refused() -> None:
    with pytest.raises(IndicatorInputError, match="period must be an integer >= 2, got 1"):
        choppiness(np.ones(5), np.ones(5), np.ones(5), 1)


def test_ema_fractional_span_refused() -> None:
    with pytest.raises(IndicatorInputError, match=r"span must be an integer >= 1, got 2\.5"):
        ema(np.ones(5), 2.5)  # type: ignore[arg-type]


def test_ema_two_dimensional_input_refused_naming_shape() -> None:
    with pytest.raises(IndicatorInputError, match=r"x must be 1-D, got shape \(3, 2\)"):
        ema(np.ones((3, 2)), 2)


def test_true_range_non_numeric_input_refused_naming_high() -> None:
    with pytest.raises(IndicatorInputError, match="high must be convertible to float64"):
        true_range(["a", "b"], [1.0, 2.0], [1.0, 2.0])


def test_indicator_input_error_is_a_value_error() -> None:
    assert issubclass(IndicatorInputError, ValueError)


# --- pivots and divergence ------------------------------------------------------------------

ZIGZAG_HIGH = [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0]


def test_pivot_highs_zigzag_flagged_on_confirmation_bars() -> None:
    assert np.flatnonzero(pivot_highs(ZIGZAG_HIGH, 2, 2)).tolist() == [4, 9]


def test_pivot_lows_zigzag_flagged_on_confirmation_bars() -> None:
    low = [6.0 - v for v in ZIGZAG_HIGH]
    assert np.flatnonzero(pivot_lows(low, 2, 2)).tolist() == [4, 9]


def test_pivot_highs_flat_top_gives_one_pivot_at_its_last_bar() -> None:
    assert np.flatnonzero(pivot_highs([1.0, 3.0, 3.0, 1.0, 0.0], 1, 1)).tolist() == [3]


def test_pivot_lows_flat_bottom_gives_one_pivot_at_its_last_bar() -> None:
    assert np.flatnonzero(pivot_lows([3.0, 1.0, 1.0, 3.0, 4.0], 1, 1)).tolist() == [3]


def test_pivot_highs_without_left_bars_not_flagged() -> None:
    assert not pivot_highs([5.0, 1.0, 0.0, 0.0], 1, 1).any()


def test_pivot_highs_nan_neighbour_not_flagged() -> None:
    assert not pivot_highs([1.0, np.nan, 3.0, 1.0, 0.0], 1, 1).any()


# Pivot highs at bars 2 (5.0) and 6 (6.0), confirmed at bars 4 and 8 with left = right = 2.
HIGHER_HIGH = [1.0, 2.0, 5.0, 2.0, 1.0, 2.0, 6.0, 2.0, 1.0]


def _osc_at(first: float, second: float, n: int = 9) -> list[float]:
    osc = [0.0] * n
    osc[2], osc[6] = first, second
    return osc


def test_bearish_divergence_higher_high_lower_osc_flags_second_confirmation() -> None:
    flags = bearish_divergence(HIGHER_HIGH, _osc_at(3.0, 1.0), 2, 2)
    assert np.flatnonzero(flags).tolist() == [8]


def test_bearish_divergence_higher_high_higher_osc_not_flagged() -> None:
    assert not bearish_divergence(HIGHER_HIGH, _osc_at(1.0, 3.0), 2, 2).any()


def test_bearish_divergence_lower_high_not_flagged() -> None:
    lower_high = [*HIGHER_HIGH[:6], 4.0, *HIGHER_HIGH[7:]]
    assert not bearish_divergence(lower_high, _osc_at(3.0, 1.0), 2, 2).any()


def test_bearish_divergence_nan_osc_not_flagged() -> None:
    assert not bearish_divergence(HIGHER_HIGH, _osc_at(3.0, np.nan), 2, 2).any()


def test_bearish_divergence_compares_with_previous_pivot_only() -> None:
    # Pivots 5 -> 7 -> 6: the third is below the second, though above the first.
    high = [1.0, 2.0, 5.0, 2.0, 1.0, 2.0, 7.0, 2.0, 1.0, 2.0, 6.0, 2.0, 1.0]
    osc = [0.0] * 13
    osc[2], osc[6], osc[10] = 3.0, 4.0, 1.0
    assert not bearish_divergence(high, osc, 2, 2).any()


def test_bullish_divergence_lower_low_higher_osc_flags_second_confirmation() -> None:
    low = [10.0 - v for v in HIGHER_HIGH]  # pivot lows at bars 2 and 6, the second lower
    flags = bullish_divergence(low, _osc_at(-3.0, -1.0), 2, 2)
    assert np.flatnonzero(flags).tolist() == [8]


def test_bullish_divergence_lower_low_lower_osc_not_flagged() -> None:
    low = [10.0 - v for v in HIGHER_HIGH]
    assert not bullish_divergence(low, _osc_at(-1.0, -3.0), 2, 2).any()


# --- properties -----------------------------------------------------------------------------

def _naive_rolling(x: Array, window: int, reduce: Callable[[Array], float]) -> Array:
    out = np.full(len(x), np.nan)
    for t in range(window - 1, len(x)):
        values = x[t - window + 1: t + 1]
        if not np.isnan(values).any():
            out[t] = reduce(values)
    return out


series_with_gaps = hnp.arrays(
    np.float64, st.integers(0, 60),
    elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)),
)


@settings(max_examples=100, deadline=None)
@given(x=series_with_gaps, window=st.integers(1, 70))
def test_rolling_max_equals_naive_window_max(x: Array, window: int) -> None:
    np.testing.assert_array_equal(rolling_max(x, window), _naive_rolling(x, window, np.max))


@settings(max_examples=100, deadline=None)
@given(x=series_with_gaps, window=st.integers(1, 70))
def test_rolling_min_equals_naive_window_min(x: Array, window: int) -> None:
    np.testing.assert_array_equal(rolling_min(x, window), _naive_rolling(x, window, np.min))


@settings(max_examples=100, deadline=None)
@given(value=st.floats(-1e6, 1e6), n=st.integers(1, 200), span=st.integers(1, 500))
def test_ema_constant_series_is_that_constant(value: float, n: int, span: int) -> None:
    np.testing.assert_array_equal(ema(np.full(n, value), span), np.full(n, value))


@st.composite
def valid_ohlc(draw: st.DrawFn) -> tuple[Array, Array, Array]:
    n = draw(st.integers(1, 50))
    low = draw(hnp.arrays(np.float64, n, elements=st.floats(-1e4, 1e4)))
    spread = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 1e3)))
    position = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 1.0)))
    high = low + spread
    return high, low, np.clip(low + position * spread, low, high)


@settings(max_examples=100, deadline=None)
@given(bars=valid_ohlc())
def test_true_range_at_least_high_minus_low_at_least_zero(
    bars: tuple[Array, Array, Array],
) -> None:
    high, low, close = bars
    tr = true_range(high, low, close)
    assert (tr >= high - low).all() and (high - low >= 0.0).all()
