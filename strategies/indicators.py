"""Causal technical indicators as numba kernels over float64 arrays.

Shared by research (grid evaluation) and the live runner, so every value at bar ``t`` depends
only on inputs at bars ``<= t``, results are deterministic, and warm-up bars are NaN. Each
public function validates its inputs and calls a ``_<name>_kernel``; wrappers copy read-only
arrays (pandas 3 ``.to_numpy()``) so numba keeps a single specialisation per kernel.
Every public function raises :class:`IndicatorInputError` (naming the argument and value) for
non-1-D or non-float input, unequal lengths, or a period below its minimum; the recursive
ones (``ema``, ``atr``, ``adx``) also refuse NaN, which would carry into every later bar.
Pivots and divergences live in :mod:`strategies.pivots`.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from strategies.errors import StratopsError

__all__ = ["IndicatorInputError", "adx", "atr", "atr_normalised_momentum", "choppiness", "ema",
           "rolling_max", "rolling_min", "true_range"]

FloatArray = npt.NDArray[np.float64]


class IndicatorInputError(StratopsError, ValueError):
    """An indicator argument that is not a 1-D float series or a valid integer period."""


def validated_series(name: str, values: npt.ArrayLike) -> FloatArray:
    """Return ``values`` as a writeable, C-contiguous 1-D float64 array, or raise."""
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise IndicatorInputError(f"{name} must be convertible to float64: {exc}") from exc
    if arr.ndim != 1:
        raise IndicatorInputError(f"{name} must be 1-D, got shape {arr.shape}")
    # ascontiguousarray hands a read-only float64 array back unchanged; numba would then
    # compile a second (readonly) specialisation of every kernel. Copy instead.
    return arr if arr.flags.writeable else arr.copy()


def validated_period(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise IndicatorInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def require_equal_lengths(**arrays: FloatArray) -> None:
    """Raise if the named arrays differ in length, naming the first one that differs."""
    (first_name, first), *rest = arrays.items()
    for name, arr in rest:
        if arr.shape[0] != first.shape[0]:
            raise IndicatorInputError(
                f"{name} has length {arr.shape[0]} but {first_name} has length {first.shape[0]}"
            )


def require_no_nan(name: str, arr: FloatArray) -> None:
    """Raise if ``arr`` holds a NaN (recursive indicators would carry it to every later bar)."""
    nan_at = np.flatnonzero(np.isnan(arr))
    if nan_at.size:
        raise IndicatorInputError(f"{name} contains NaN (first at index {nan_at[0]})")


def _ohlc(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, *, nan_ok: bool
          ) -> tuple[FloatArray, FloatArray, FloatArray]:
    h, lo, c = (validated_series("high", high), validated_series("low", low),
                validated_series("close", close))
    require_equal_lengths(high=h, low=lo, close=c)
    if not nan_ok:
        for name, arr in (("high", h), ("low", lo), ("close", c)):
            require_no_nan(name, arr)
    return h, lo, c


# --- kernels -------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _ema_kernel(x: FloatArray, span: int) -> FloatArray:
    out = np.empty(x.shape[0])
    if x.shape[0] == 0:
        return out
    alpha = 2.0 / (span + 1.0)
    value = x[0]
    out[0] = value
    for t in range(1, x.shape[0]):
        value += alpha * (x[t] - value)  # == (1-alpha)*prev + alpha*x, exact on constants
        out[t] = value
    return out


@numba.njit(cache=True, nogil=True)
def _true_range_kernel(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    out = np.empty(high.shape[0])
    for t in range(high.shape[0]):
        value = high[t] - low[t]
        if t > 0:  # a NaN previous close never wins a comparison: falls back to high - low
            gap_up = abs(high[t] - close[t - 1])
            gap_down = abs(low[t] - close[t - 1])
            if gap_up > value:
                value = gap_up
            if gap_down > value:
                value = gap_down
        out[t] = value
    return out


@numba.njit(cache=True, nogil=True)
def _atr_kernel(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    n = high.shape[0]
    out = np.full(n, np.nan)
    if n < period:
        return out
    tr = _true_range_kernel(high, low, close)
    total = 0.0
    for t in range(period):
        total += tr[t]
    value = total / period  # seed: mean of the first `period` TRs, TR[0] = high - low (as ta)
    out[period - 1] = value
    for t in range(period, n):
        value = (value * (period - 1) + tr[t]) / period
        out[t] = value
    return out


@numba.njit(cache=True, nogil=True)
def _rolling_extreme(x: FloatArray, window: int, is_max: bool) -> FloatArray:
    # Monotonic deque of indices (values decreasing for max, increasing for min): O(n).
    n = x.shape[0]
    out = np.full(n, np.nan)
    deque = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    last_nan = -window  # a window holding a NaN gives NaN, like pandas min_periods=window
    for t in range(n):
        value = x[t]
        if np.isnan(value):
            last_nan = t
        else:
            while tail > head and (
                x[deque[tail - 1]] <= value if is_max else x[deque[tail - 1]] >= value
            ):
                tail -= 1
            deque[tail] = t
            tail += 1
        while tail > head and deque[head] <= t - window:
            head += 1
        if t >= window - 1 and t - last_nan >= window:
            out[t] = x[deque[head]]
    return out


@numba.njit(cache=True, nogil=True)
def _rolling_max_kernel(x: FloatArray, window: int) -> FloatArray:
    return _rolling_extreme(x, window, True)


@numba.njit(cache=True, nogil=True)
def _rolling_min_kernel(x: FloatArray, window: int) -> FloatArray:
    return _rolling_extreme(x, window, False)


@numba.njit(cache=True, nogil=True)
def _kahan_add(total: float, compensation: float, value: float) -> tuple[float, float]:
    step = value - compensation
    new_total = total + step
    return new_total, (new_total - total) - step


@numba.njit(cache=True, nogil=True)
def _rolling_sum(x: FloatArray, window: int) -> FloatArray:
    # Kahan-compensated add/remove running sum; NaN windows give NaN without poisoning later ones.
    n = x.shape[0]
    out = np.full(n, np.nan)
    total = compensation = 0.0
    last_nan = -window
    for t in range(n):
        if np.isnan(x[t]):
            last_nan = t
        else:
            total, compensation = _kahan_add(total, compensation, x[t])
        if t >= window and not np.isnan(x[t - window]):
            total, compensation = _kahan_add(total, compensation, -x[t - window])
        if t >= window - 1 and t - last_nan >= window:
            out[t] = total
    return out


@numba.njit(cache=True, nogil=True)
def _choppiness_kernel(high: FloatArray, low: FloatArray, close: FloatArray, period: int
                       ) -> FloatArray:
    tr_sum = _rolling_sum(_true_range_kernel(high, low, close), period)
    highest = _rolling_extreme(high, period, True)
    lowest = _rolling_extreme(low, period, False)
    out = np.full(high.shape[0], np.nan)
    log_period = np.log10(period)
    for t in range(high.shape[0]):
        price_range = highest[t] - lowest[t]
        if price_range > 0.0 and not np.isnan(tr_sum[t]):  # NaN range compares False
            out[t] = 100.0 * np.log10(tr_sum[t] / price_range) / log_period
    return out


@numba.njit(cache=True, nogil=True)
def _dx_from_sums(tr_sum: float, plus_sum: float, minus_sum: float) -> float:
    # ta's convention: a zero denominator gives 0, not NaN.
    plus_di = 100.0 * (plus_sum / tr_sum) if tr_sum != 0.0 else 0.0
    minus_di = 100.0 * (minus_sum / tr_sum) if tr_sum != 0.0 else 0.0
    di_sum = plus_di + minus_di
    return 100.0 * abs((plus_di - minus_di) / di_sum) if di_sum != 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def _directional_index(high: FloatArray, low: FloatArray, close: FloatArray, period: int
                       ) -> FloatArray:
    # DX from Wilder-summed TR, +DM, -DM seeded with the plain sum over bars 1..period.
    n = high.shape[0]
    dx = np.full(n, np.nan)
    tr = _true_range_kernel(high, low, close)
    tr_sum = plus_sum = minus_sum = 0.0
    for t in range(1, n):
        up_move = high[t] - high[t - 1]
        down_move = low[t - 1] - low[t]
        plus_dm = up_move if (up_move > down_move and up_move > 0.0) else 0.0
        minus_dm = down_move if (down_move > up_move and down_move > 0.0) else 0.0
        if t <= period:
            tr_sum += tr[t]
            plus_sum += plus_dm
            minus_sum += minus_dm
        else:
            tr_sum = tr_sum - tr_sum / period + tr[t]
            plus_sum = plus_sum - plus_sum / period + plus_dm
            minus_sum = minus_sum - minus_sum / period + minus_dm
        if t >= period:
            dx[t] = _dx_from_sums(tr_sum, plus_sum, minus_sum)
    return dx


@numba.njit(cache=True, nogil=True)
def _adx_kernel(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    n = high.shape[0]
    out = np.full(n, np.nan)
    first = 2 * period - 1
    if n <= first:
        return out
    dx = _directional_index(high, low, close, period)
    total = 0.0
    for t in range(period, first + 1):
        total += dx[t]
    value = total / period
    out[first] = value
    for t in range(first + 1, n):
        value = (value * (period - 1) + dx[t]) / period
        out[t] = value
    return out


@numba.njit(cache=True, nogil=True)
def _atr_normalised_momentum_kernel(close: FloatArray, atr_values: FloatArray, lookback: int
                                    ) -> FloatArray:
    out = np.full(close.shape[0], np.nan)
    for t in range(lookback, close.shape[0]):
        scale = atr_values[t]
        if scale != 0.0 and not np.isnan(scale):
            out[t] = (close[t] - close[t - lookback]) / scale
    return out


# --- public API ----------------------------------------------------------------------------

def ema(x: npt.ArrayLike, span: int) -> FloatArray:
    """Exponential moving average with ``alpha = 2 / (span + 1)``, seeded with ``x[0]``.

    Equals pandas ``Series.ewm(span=span, adjust=False).mean()``; defined from bar 0.

    Parameters
    ----------
    x : array_like
        1-D NaN-free series.
    span : int
        Span, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(x)``.
    """
    arr = validated_series("x", x)
    span = validated_period("span", span)
    require_no_nan("x", arr)
    return _ema_kernel(arr, span)


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """True range: ``max(h - l, |h - c[t-1]|, |l - c[t-1]|)``, with ``TR[0] = h[0] - l[0]``.

    A NaN high/low gives NaN at that bar; a NaN previous close falls back to ``h - l``.

    Parameters
    ----------
    high, low, close : array_like
        1-D bar series of equal length.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(high)``.
    """
    return _true_range_kernel(*_ohlc(high, low, close, nan_ok=True))


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int) -> FloatArray:
    """Wilder's average true range, as ``ta.volatility.AverageTrueRange`` defines it.

    ``ATR[period-1]`` is the mean of ``TR[0..period-1]``, then
    ``ATR[t] = (ATR[t-1] * (period - 1) + TR[t]) / period``. Bars ``t < period - 1`` are
    NaN here where ta reports 0.

    Parameters
    ----------
    high, low, close : array_like
        1-D NaN-free bar series of equal length.
    period : int
        Smoothing period, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(high)``.
    """
    h, lo, c = _ohlc(high, low, close, nan_ok=False)
    return _atr_kernel(h, lo, c, validated_period("period", period))


def rolling_max(x: npt.ArrayLike, window: int) -> FloatArray:
    """Maximum over the ``window`` bars ending at ``t``; NaN for ``t < window - 1``.

    A window containing a NaN gives NaN (as pandas ``rolling(window).max()``). O(n).

    Parameters
    ----------
    x : array_like
        1-D series.
    window : int
        Window length in bars, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(x)``.
    """
    return _rolling_max_kernel(validated_series("x", x), validated_period("window", window))


def rolling_min(x: npt.ArrayLike, window: int) -> FloatArray:
    """Minimum over the ``window`` bars ending at ``t``; see :func:`rolling_max`."""
    return _rolling_min_kernel(validated_series("x", x), validated_period("window", window))


def choppiness(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int
               ) -> FloatArray:
    """Choppiness Index: ``100 * log10(sum(TR) / (max(high) - min(low))) / log10(period)``.

    Sums and extremes span the ``period`` bars ending at ``t``. NaN for ``t < period - 1``
    and where the high-low range is 0. Needs ``period >= 2`` (``log10(1) = 0``).

    Parameters
    ----------
    high, low, close : array_like
        1-D bar series of equal length.
    period : int
        Window length in bars, ``>= 2``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(high)``, in ``[0, 100]`` for valid bars.
    """
    h, lo, c = _ohlc(high, low, close, nan_ok=True)
    return _choppiness_kernel(h, lo, c, validated_period("period", period, minimum=2))


def adx(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int) -> FloatArray:
    """Wilder's average directional index, as ``ta.trend.ADXIndicator(...).adx()`` defines it.

    First value at ``t = 2 * period - 1`` (mean of DX over bars ``period..2*period-1``), then
    Wilder smoothing. Bars before are NaN here where ta reports 0. As in ta, a zero TR or
    zero ``+DI + -DI`` gives ``DX = 0``.

    Parameters
    ----------
    high, low, close : array_like
        1-D NaN-free bar series of equal length.
    period : int
        Smoothing period, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(high)``, in ``[0, 100]`` after warm-up.
    """
    h, lo, c = _ohlc(high, low, close, nan_ok=False)
    return _adx_kernel(h, lo, c, validated_period("period", period))


def atr_normalised_momentum(close: npt.ArrayLike, atr_values: npt.ArrayLike, lookback: int
                            ) -> FloatArray:
    """Momentum in ATR units: ``(close[t] - close[t - lookback]) / atr_values[t]``.

    NaN for ``t < lookback`` and where ``atr_values`` is NaN or 0.

    Parameters
    ----------
    close : array_like
        1-D close series.
    atr_values : array_like
        1-D ATR series of the same length (e.g. from :func:`atr`), NaN allowed.
    lookback : int
        Momentum lookback in bars, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``len(close)``.
    """
    c = validated_series("close", close)
    scale = validated_series("atr_values", atr_values)
    require_equal_lengths(close=c, atr_values=scale)
    return _atr_normalised_momentum_kernel(c, scale, validated_period("lookback", lookback))
