"""Market impact as pure arithmetic, shared by the simulator, the live estimate and the
calibration, so research and live assume the same costs.

The square-root law (Almgren et al. 2005, "Direct estimation of equity market impact";
Toth et al. 2011, "Anomalous price impact and the critical nature of liquidity"): executing
``Q`` against a minute volume ``V`` costs about ``Y * sigma * (Q / V) ** exponent`` of the
price, ``sigma`` the per-minute volatility, ``Y`` of order one and ``exponent`` near 1/2.
Volatility is the Parkinson (1980) range estimate of a one-minute bar, one definition used
everywhere (calibration prints, live estimate, paper realism mode).
"""

from __future__ import annotations

import math

import numpy as np

BPS = 1e4
# Parkinson (1980): sigma = ln(H/L) / sqrt(4 ln 2) for one bar of a driftless diffusion
_PARKINSON = 1.0 / math.sqrt(4.0 * math.log(2.0))


def parkinson_sigma_bps(high: float, low: float) -> float:
    """One bar's volatility in basis points from its range (0 for a flat or invalid bar)."""
    if not (high > 0 and low > 0 and high >= low):
        return 0.0
    return math.log(high / low) * _PARKINSON * BPS


def impact_cost_bps(y: float, exponent: float, sigma_bps: float, participation: float) -> float:
    """``y * sigma_bps * participation ** exponent``: the expected cost of one execution in
    bps of its arrival price (``participation`` = qty / minute volume)."""
    if participation <= 0 or sigma_bps <= 0:
        return 0.0
    return float(y * sigma_bps * participation ** exponent)


def impact_slippage_ticks(cost_bps: float, price: float, tick_size: float) -> float:
    """An impact cost in bps at ``price`` as the simulator's slippage, in ticks of
    ``tick_size`` (the simulator slips market and stop fills by ticks x tick size)."""
    if tick_size <= 0 or price <= 0:
        raise ValueError(f"price {price!r} and tick_size {tick_size!r} must be > 0")
    return cost_bps / BPS * price / tick_size


def calibrated_slippage_ticks(*, y: float, exponent: float, high: np.ndarray, low: np.ndarray,
                              close: np.ndarray, volume: np.ndarray, qty: float,
                              tick_size: float) -> float:
    """The simulator's slippage (ticks per market/stop fill) that the calibrated impact law
    gives an order of ``qty`` on these bars: their mean Parkinson volatility and mean traded
    volume, at their median close. Bars without volume give no estimate (ValueError)."""
    ranged = (low > 0) & (high > low)
    traded = np.isfinite(volume) & (volume > 0)
    if not ranged.any() or not traded.any():
        raise ValueError("bars without range or volume: no impact estimate")
    sigma = float(np.mean(np.log(high[ranged] / low[ranged]))) * _PARKINSON * BPS
    cost = impact_cost_bps(y, exponent, sigma, qty / float(np.mean(volume[traded])))
    return impact_slippage_ticks(cost, float(np.median(close)), tick_size)
