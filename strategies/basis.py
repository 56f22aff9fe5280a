"""Spot index vs futures: the basis, made explicit wherever the spot is used beside futures.

Signals run on the continuous futures series (what live trades). Where a rule still looks at
the spot index (a filter such as "spot above its open", a level read off the index), the two
prices differ by the basis - cost of carry (``F = S * exp(r * T)``: a NIFTY future a month out
is ~0.5 % above spot) plus noise and, on the back-adjusted series, the roll adjustments. Mixing
them silently shifts every comparison by that much, so a spot level is moved onto the futures
series by the **observed** basis at the same bar (which carries all three) before it is
compared with a futures price.
"""

from __future__ import annotations

import math

import numpy as np

from strategies.errors import BadInputError


class BasisInputError(BadInputError, ValueError):
    """Spot and futures arrays that cannot be compared (length, non-finite, non-positive)."""


def carry_basis(spot: float, rate: float, days_to_expiry: float) -> float:
    """The cost-of-carry basis ``F - S`` in index points (``rate`` annual, continuous)."""
    if not (math.isfinite(spot) and spot > 0 and days_to_expiry >= 0):
        raise BasisInputError(f"spot={spot!r}, days_to_expiry={days_to_expiry!r}: need spot "
                              "> 0 and days >= 0")
    return spot * math.expm1(rate * days_to_expiry / 365.0)


def observed_basis(futures_close: np.ndarray, spot_close: np.ndarray) -> np.ndarray:
    """Bar-by-bar ``futures - spot`` of two arrays aligned on the same timestamps."""
    fut, spot = np.asarray(futures_close, dtype=np.float64), np.asarray(spot_close,
                                                                         dtype=np.float64)
    if fut.shape != spot.shape:
        raise BasisInputError(f"futures {fut.shape} and spot {spot.shape} are not aligned")
    if not (np.isfinite(fut).all() and np.isfinite(spot).all() and (spot > 0).all()):
        raise BasisInputError("futures and spot closes must be finite and spot > 0")
    return np.asarray(fut - spot)


def spot_level_on_futures(spot_level: np.ndarray | float, futures_close: np.ndarray,
                          spot_close: np.ndarray) -> np.ndarray:
    """A spot-index level (a filter threshold, say) moved onto the futures series by the
    observed basis of each bar: compare the result with futures prices, never the raw level."""
    return np.asarray(spot_level + observed_basis(futures_close, spot_close))
