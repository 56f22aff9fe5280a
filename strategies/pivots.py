"""Confirmed swing pivots and price/oscillator divergences, as causal numba kernels.

A pivot at bar ``p`` can only be known ``right`` bars later, so every flag here is set on the
*confirmation* bar ``t = p + right``, never on the pivot bar: no look-ahead. Tie rule: a pivot
high is ``>=`` each of the ``left`` bars before it and strictly ``>`` each of the ``right``
bars after it (mirrored for lows), so a flat top of equal highs yields exactly one pivot, at
its last bar. Bars with fewer than ``left`` predecessors are never pivots; NaN never pivots.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from strategies.indicators import (
    FloatArray,
    require_equal_lengths,
    validated_period,
    validated_series,
)

__all__ = ["bearish_divergence", "bullish_divergence", "pivot_highs", "pivot_lows"]

BoolArray = npt.NDArray[np.bool_]


@numba.njit(cache=True, nogil=True)
def _beats(centre: float, other: float, is_high: bool, strict: bool) -> bool:
    # NaN on either side compares False: a NaN bar, or a NaN neighbour, rules the pivot out.
    if is_high:
        return centre > other if strict else centre >= other
    return centre < other if strict else centre <= other


@numba.njit(cache=True, nogil=True)
def _is_pivot(x: FloatArray, p: int, left: int, right: int, is_high: bool) -> bool:
    # Ties allowed against the `left` bars before p, strict against the `right` bars after.
    for j in range(p - left, p + right + 1):
        if j != p and not _beats(x[p], x[j], is_high, j > p):
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _pivot_flags(x: FloatArray, left: int, right: int, is_high: bool) -> BoolArray:
    out = np.zeros(x.shape[0], dtype=np.bool_)
    for t in range(left + right, x.shape[0]):
        out[t] = _is_pivot(x, t - right, left, right, is_high)
    return out


@numba.njit(cache=True, nogil=True)
def _pivot_highs_kernel(high: FloatArray, left: int, right: int) -> BoolArray:
    return _pivot_flags(high, left, right, True)


@numba.njit(cache=True, nogil=True)
def _pivot_lows_kernel(low: FloatArray, left: int, right: int) -> BoolArray:
    return _pivot_flags(low, left, right, False)


@numba.njit(cache=True, nogil=True)
def _divergence(price: FloatArray, osc: FloatArray, left: int, right: int, is_bearish: bool
                ) -> BoolArray:
    # Compares each newly confirmed pivot with the immediately previous one, whatever its outcome.
    confirmed = _pivot_flags(price, left, right, is_bearish)
    out = np.zeros(price.shape[0], dtype=np.bool_)
    previous = -1
    for t in range(price.shape[0]):
        if not confirmed[t]:
            continue
        p = t - right
        if previous >= 0:
            if is_bearish:  # higher high in price, lower oscillator; NaN compares False
                out[t] = price[p] > price[previous] and osc[p] < osc[previous]
            else:
                out[t] = price[p] < price[previous] and osc[p] > osc[previous]
        previous = p
    return out


@numba.njit(cache=True, nogil=True)
def _bearish_divergence_kernel(high: FloatArray, osc: FloatArray, left: int, right: int
                               ) -> BoolArray:
    return _divergence(high, osc, left, right, True)


@numba.njit(cache=True, nogil=True)
def _bullish_divergence_kernel(low: FloatArray, osc: FloatArray, left: int, right: int
                               ) -> BoolArray:
    return _divergence(low, osc, left, right, False)


def _price_and_window(price_name: str, price: npt.ArrayLike, left: int, right: int
                      ) -> tuple[FloatArray, int, int]:
    return (validated_series(price_name, price), validated_period("left", left),
            validated_period("right", right))


def pivot_highs(high: npt.ArrayLike, left: int, right: int) -> BoolArray:
    """Flag bar ``t`` when bar ``t - right`` is confirmed as a pivot high.

    Parameters
    ----------
    high : array_like
        1-D high series.
    left, right : int
        Bars before (ties allowed) and after (strictly lower) the pivot, each ``>= 1``.

    Returns
    -------
    numpy.ndarray
        bool array of ``len(high)``; True only on confirmation bars.

    Raises
    ------
    IndicatorInputError
        If ``high`` is not 1-D float or ``left``/``right`` < 1.
    """
    return _pivot_highs_kernel(*_price_and_window("high", high, left, right))


def pivot_lows(low: npt.ArrayLike, left: int, right: int) -> BoolArray:
    """Flag bar ``t`` when bar ``t - right`` is confirmed as a pivot low; see :func:`pivot_highs`.
    """
    return _pivot_lows_kernel(*_price_and_window("low", low, left, right))


def bearish_divergence(high: npt.ArrayLike, osc: npt.ArrayLike, left: int, right: int
                       ) -> BoolArray:
    """Flag the confirmation bar of a pivot high that is a higher high with a lower ``osc``.

    Compared with the previous confirmed pivot high: ``high[p] > high[q]`` and
    ``osc[p] < osc[q]``, where ``p`` is the new pivot bar and ``q`` the previous one.
    A NaN ``osc`` at either pivot gives False.

    Parameters
    ----------
    high : array_like
        1-D high series.
    osc : array_like
        1-D oscillator of the same length (e.g. ATR-normalised momentum), NaN allowed.
    left, right : int
        Pivot window, as in :func:`pivot_highs`.

    Returns
    -------
    numpy.ndarray
        bool array of ``len(high)``.

    Raises
    ------
    IndicatorInputError
        If an input is not 1-D float, lengths differ, or ``left``/``right`` < 1.
    """
    h, left, right = _price_and_window("high", high, left, right)
    osc_arr = validated_series("osc", osc)
    require_equal_lengths(high=h, osc=osc_arr)
    return _bearish_divergence_kernel(h, osc_arr, left, right)


def bullish_divergence(low: npt.ArrayLike, osc: npt.ArrayLike, left: int, right: int
                       ) -> BoolArray:
    """Flag the confirmation bar of a pivot low that is a lower low with a higher ``osc``.

    Mirror of :func:`bearish_divergence`: ``low[p] < low[q]`` and ``osc[p] > osc[q]``.
    """
    lo, left, right = _price_and_window("low", low, left, right)
    osc_arr = validated_series("osc", osc)
    require_equal_lengths(low=lo, osc=osc_arr)
    return _bullish_divergence_kernel(lo, osc_arr, left, right)
