"""Causal regime features of a bar series: the regime classifier's and the drift monitor's
inputs, as numba kernels shared by research and the live runner.

Every value at bar ``t`` depends only on bars ``<= t`` (rolling windows count bars and cross
session boundaries, so the first bars of a session still see yesterday - regimes persist);
warm-up rows are NaN. The definitions are data (:data:`REGIME_FEATURES`); their digest
(:func:`regime_features_digest`) is stored with a trained classifier and compared with the
installed code's on load, so a classifier trained on other features is refused.

- ``rv_<w>``: standard deviation of 1-bar log returns over ``w`` bars, in basis points.
- ``er_<w>``: Kaufman's efficiency ratio over ``w`` bars, ``|c_t - c_{t-w}| / sum |dc|``
  (1: a straight line, near 0: chop).
- ``atr_ratio``: mean true range over 14 bars / over 375 - vol now against vol over about
  a session.
- ``open_move``: ``|log(c_t / session open)|`` over ``rv_375 * sqrt(bars since open + 1)``,
  how far the session has travelled in units of a random walk's expected spread.

The drift monitor reads bar-level features (:data:`DRIFT_FEATURES`: each bar's absolute
log return and its high-low range, in basis points) compared within each classified
regime: rolling features carry few independent values per session, and an unconditional
comparison mostly measures the regime mix, not a change of the market.
"""

from __future__ import annotations

import hashlib
import json

import numba
import numpy as np
import numpy.typing as npt

from strategies import indicators as ind

FloatArray = npt.NDArray[np.float64]

#: Bump when a definition changes meaning; part of the digest a classifier is checked by.
REGIME_FEATURE_VERSION = "1"
#: feature name -> (kind, window in bars); the column order of :func:`regime_feature_matrix`.
REGIME_FEATURES: dict[str, tuple[str, int]] = {
    "rv_30": ("rv", 30),
    "rv_120": ("rv", 120),
    "rv_375": ("rv", 375),
    "er_30": ("er", 30),
    "er_120": ("er", 120),
    "er_375": ("er", 375),
    "atr_ratio": ("atr_ratio", 375),
    "open_move": ("open_move", 375),
}
FEATURE_NAMES = tuple(REGIME_FEATURES)
ATR_FAST = 14
#: Bars a feature row needs before it is defined (the longest window plus the return).
WARMUP_BARS = max(w for _, w in REGIME_FEATURES.values()) + 1
#: Bars of history that make the last row exact: the longest window, plus a whole session
#: before it so ``open_move`` sees its session's open (sessions are at most 375 bars).
TAIL_BARS = 2 * WARMUP_BARS + 8


#: The drift monitor's bar-level features (see the module doc).
DRIFT_FEATURES = ("abs_return_bps", "range_bps")


def regime_features_digest() -> str:
    """SHA-256 (16 hex) of the feature definitions (classifier and drift) and version."""
    text = json.dumps({"version": REGIME_FEATURE_VERSION, "features": REGIME_FEATURES,
                       "drift": DRIFT_FEATURES}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@numba.njit(cache=True, nogil=True)
def _rolling_std_kernel(x: FloatArray, window: int) -> FloatArray:
    """Population std of ``x`` over the ``window`` values ending at each bar, summed afresh
    per bar (no running state: the value at a bar is the same whatever came before the
    window, so a live tail and a research year agree exactly); NaN if any is NaN."""
    n = len(x)
    out = np.full(n, np.nan)
    for i in range(window - 1, n):
        s = 0.0
        for j in range(i - window + 1, i + 1):
            s += x[j]
        mean = s / window
        ss = 0.0
        for j in range(i - window + 1, i + 1):
            d = x[j] - mean
            ss += d * d
        out[i] = np.sqrt(ss / window)
    return out


@numba.njit(cache=True, nogil=True)
def _efficiency_kernel(close: FloatArray, window: int) -> FloatArray:
    n = len(close)
    out = np.full(n, np.nan)
    for i in range(window, n):
        path = 0.0
        for j in range(i - window + 1, i + 1):
            path += abs(close[j] - close[j - 1])
        net = abs(close[i] - close[i - window])
        out[i] = net / path if path > 0.0 else 0.0
    return out


@numba.njit(cache=True, nogil=True)
def _atr_ratio_kernel(high: FloatArray, low: FloatArray, close: FloatArray, fast: int,
                      slow: int) -> FloatArray:
    """Mean true range over ``fast`` bars / over ``slow`` bars (plain windowed means)."""
    n = len(close)
    tr = np.full(n, np.nan)
    for i in range(1, n):
        tr[i] = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    out = np.full(n, np.nan)
    for i in range(slow, n):
        s_fast = 0.0
        for j in range(i - fast + 1, i + 1):
            s_fast += tr[j]
        s_slow = 0.0
        for j in range(i - slow + 1, i + 1):
            s_slow += tr[j]
        if s_slow > 0.0:
            out[i] = (s_fast / fast) / (s_slow / slow)
    return out


@numba.njit(cache=True, nogil=True)
def _open_move_kernel(close: FloatArray, open_: FloatArray, session: npt.NDArray[np.int64],
                      rv_bps: FloatArray) -> FloatArray:
    n = len(close)
    out = np.full(n, np.nan)
    first = -1  # unknown until a session change is seen inside the data
    for i in range(n):
        if i > 0 and session[i] != session[i - 1]:
            first = i
        if first < 0:
            continue  # the session began before the data: its open is not known
        scale = rv_bps[i] * 1e-4 * np.sqrt(i - first + 1.0)
        if scale > 0.0:
            out[i] = abs(np.log(close[i] / open_[first])) / scale
    return out


def _log_returns(close: FloatArray) -> FloatArray:
    out = np.full(len(close), np.nan)
    out[1:] = np.diff(np.log(close))
    return out


def regime_feature_matrix(open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike,
                          close: npt.ArrayLike, session: npt.ArrayLike) -> FloatArray:
    """The ``(n_bars, len(FEATURE_NAMES))`` feature matrix, columns in
    :data:`FEATURE_NAMES` order; rows before :data:`WARMUP_BARS` are (partly) NaN.

    Raises :class:`strategies.indicators.IndicatorInputError` on non-1-D, non-float or
    unequal-length input.
    """
    o = ind.validated_series("open", open_)
    h, lo, c = (ind.validated_series(n, v) for n, v in (("high", high), ("low", low),
                                                         ("close", close)))
    sess = np.ascontiguousarray(session, dtype=np.int64).copy()
    ind.require_equal_lengths(open=o, high=h, low=lo, close=c, session=sess.astype(np.float64))
    returns = _log_returns(c)
    columns: list[FloatArray] = []
    rv: dict[int, FloatArray] = {}
    for kind, window in REGIME_FEATURES.values():
        if kind == "rv":
            rv[window] = _rolling_std_kernel(returns, window) * 1e4
            columns.append(rv[window])
        elif kind == "er":
            columns.append(_efficiency_kernel(c, window))
        elif kind == "atr_ratio":
            columns.append(_atr_ratio_kernel(h, lo, c, ATR_FAST, window))
        else:
            base = rv.get(window)
            if base is None:
                base = _rolling_std_kernel(returns, window) * 1e4
            columns.append(_open_move_kernel(c, o, sess, base))
    if not columns or not len(c):
        return np.empty((len(c), len(FEATURE_NAMES)))
    return np.column_stack(columns)


def drift_feature_matrix(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike
                         ) -> FloatArray:
    """The ``(n_bars, len(DRIFT_FEATURES))`` drift features; the first row's return is NaN."""
    h, lo, c = (ind.validated_series(n, v) for n, v in (("high", high), ("low", low),
                                                         ("close", close)))
    ind.require_equal_lengths(high=h, low=lo, close=c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.column_stack([np.abs(_log_returns(c)) * 1e4, (h - lo) / c * 1e4])
