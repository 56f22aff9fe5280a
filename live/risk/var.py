"""Portfolio Value at Risk and Expected Shortfall (CVaR) of the current linear book.

Positions are signed notionals in INR (long > 0, short < 0); the returns history is a frame
of simple daily returns, dates x symbols. Losses are positive numbers: the loss of a
scenario is ``-(returns @ notional_inr)``. A negative VaR means even the tail scenario is a
gain.

Conventions
-----------
Historical (full revaluation of the linear book on past returns):
    * Horizon: overlapping ``h``-day compounded returns per symbol, ``prod(1 + r) - 1`` over
      every window of ``h`` consecutive days (buy-and-hold, no rebalancing); ``n - h + 1``
      scenarios. No square-root-of-time scaling.
    * VaR is the lower ``c``-quantile of the empirical loss distribution,
      ``inf{l : F(l) >= c}`` (numpy ``method="inverted_cdf"``): with ``k = (1 - c) n`` the
      ``floor(k) + 1``-th largest loss. ``k`` is rounded to 9 decimals first so that e.g.
      ``(1 - 0.95) * 500`` counts as 25.
    * CVaR is the Acerbi & Tasche (2002) expected shortfall of the empirical distribution,
      the mean of the worst ``(1 - c)`` probability mass:
      ``(sum of the floor(k) largest losses + (k - floor(k)) * VaR) / k``. For integer ``k``
      that is the mean of the ``k`` largest losses. This is coherent and always ``>= VaR``;
      it is the estimator of ``skfolio.measures.cvar``.
Parametric (variance-covariance, Gaussian):
    * Zero mean (the RiskMetrics assumption for daily returns); ``sigma_inr =
      sqrt(w' S w) * sqrt(h)``; VaR ``= z_c sigma``, CVaR ``= sigma phi(z_c) / (1 - c)``.
    * ``S`` is the sample covariance (``ddof=1``) or, with ``ewma_lambda``, the RiskMetrics
      zero-mean EWMA ``sum_t (1 - lam) lam**(n-1-t) r_t r_t'`` with the weights normalised
      to sum to one over the ``n`` observations.

Data rules (fail closed): every held symbol must have a column, and every value of it must
be finite and above -1; at least ``1 / (1 - c)`` observations (scenarios, for historical)
are needed. Zero notionals are ignored; an empty book has zero risk.

References
----------
P. Jorion, *Value at Risk: The New Benchmark for Managing Financial Risk*, 3rd ed., 2007
(ch. 5 historical simulation, ch. 10 delta-normal). J.P. Morgan/Reuters, *RiskMetrics -
Technical Document*, 4th ed., 1996 (EWMA, lambda = 0.94). C. Acerbi & D. Tasche, "On the
coherence of expected shortfall", J. Banking & Finance 26(7), 2002.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from live.risk.interface import RiskDecision
from strategies.errors import StratopsError

METHOD_HISTORICAL = "historical"
METHOD_PARAMETRIC = "parametric"
METHOD_PARAMETRIC_EWMA = "parametric_ewma"
RISKMETRICS_LAMBDA = 0.94
_TAIL_DECIMALS = 9


class RiskDataError(StratopsError, ValueError):
    """The returns history cannot support a risk number for the book (fail closed)."""


class RiskParameterError(StratopsError, ValueError):
    """A risk calculation was asked with an invalid parameter."""


@dataclass(frozen=True, kw_only=True, slots=True)
class VarResult:
    """VaR and CVaR of the book in INR (positive = loss) over ``horizon_days``."""

    var_inr: float
    cvar_inr: float
    method: str
    confidence: float
    horizon_days: int
    observations: int


@dataclass(frozen=True, slots=True)
class BookHistory:
    """Held symbols, their notionals (INR) and their validated daily returns (n x k)."""

    symbols: tuple[str, ...]
    notional_inr: np.ndarray
    returns: np.ndarray


def notional_from_quantities(
    qty_units: Mapping[str, float], prices: Mapping[str, float]
) -> dict[str, float]:
    """Signed notional in INR per symbol: quantity in units (lots x lot size) times price."""
    notional: dict[str, float] = {}
    for symbol, qty in qty_units.items():
        if symbol not in prices:
            raise RiskDataError(f"no price for held symbol {symbol!r}")
        price = float(prices[symbol])
        if not math.isfinite(price) or price <= 0:
            raise RiskDataError(f"price for {symbol!r} must be finite and > 0, got {price}")
        notional[symbol] = float(qty) * price
    return notional


def validate_parameters(confidence: float, horizon_days: int) -> None:
    """Raise :class:`RiskParameterError` unless 0.5 < confidence < 1 and horizon_days >= 1."""
    if not 0.5 < confidence < 1.0:
        raise RiskParameterError(f"confidence must be in (0.5, 1), got {confidence}")
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or horizon_days < 1:
        raise RiskParameterError(f"horizon_days must be an int >= 1, got {horizon_days!r}")


def min_observations(confidence: float) -> int:
    """Fewest observations with at least one whole observation in the ``1 - c`` tail."""
    return max(2, math.ceil(round(1.0 / (1.0 - confidence), _TAIL_DECIMALS)))


def book_history(positions: Mapping[str, float], returns: pd.DataFrame) -> BookHistory:
    """Align non-zero positions with their return columns, failing closed on bad data."""
    held = {s: float(n) for s, n in positions.items() if float(n) != 0.0}
    for symbol, notional in held.items():
        if not math.isfinite(notional):
            raise RiskDataError(f"notional for {symbol!r} is not finite: {notional}")
        if symbol not in returns.columns:
            raise RiskDataError(f"no returns history for held symbol {symbol!r}")
    symbols = tuple(held)
    if tuple(returns.columns) == symbols:  # the caps' case: no reindexing to do
        values = returns.to_numpy(dtype=float, copy=True)
    else:
        values = returns.loc[:, list(symbols)].to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= -1.0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise RiskDataError(
            f"return for held symbol {symbols[col]!r} on {returns.index[row]} is "
            f"{values[row, col]} (must be finite and > -1)"
        )
    return BookHistory(symbols, np.array([held[s] for s in symbols]), values)


def require_observations(count: int, confidence: float, what: str) -> None:
    """Raise :class:`RiskDataError` when ``count`` is below :func:`min_observations`."""
    needed = min_observations(confidence)
    if count < needed:
        raise RiskDataError(
            f"{count} {what} are too few for confidence {confidence}: need at least {needed}"
        )


def horizon_returns(daily: np.ndarray, horizon_days: int) -> np.ndarray:
    """Overlapping compounded ``horizon_days`` returns per column: ``n - h + 1`` rows."""
    if horizon_days == 1:
        return daily
    growth = np.vstack([np.ones((1, daily.shape[1])), np.cumprod(1.0 + daily, axis=0)])
    return growth[horizon_days:] / growth[:-horizon_days] - 1.0


def empirical_var_cvar(losses: np.ndarray, confidence: float) -> tuple[float, float]:
    """Lower ``c``-quantile VaR and Acerbi-Tasche expected shortfall of a loss sample."""
    n = losses.size
    tail = round((1.0 - confidence) * n, _TAIL_DECIMALS)
    whole = math.floor(tail)
    worst_first = -np.sort(-losses)
    var = float(worst_first[min(whole, n - 1)])
    cvar = (float(worst_first[:whole].sum()) + (tail - whole) * var) / tail
    return var, cvar


def historical_var_cvar(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float,
    horizon_days: int = 1,
) -> VarResult:
    """Historical-simulation VaR/CVaR (INR) of ``positions`` over overlapping h-day returns."""
    validate_parameters(confidence, horizon_days)
    book = book_history(positions, returns)
    if not book.symbols:
        return _zero(METHOD_HISTORICAL, confidence, horizon_days)
    scenarios = horizon_returns(book.returns, horizon_days)
    require_observations(scenarios.shape[0], confidence, f"{horizon_days}-day scenarios")
    losses = -(scenarios @ book.notional_inr)
    var, cvar = empirical_var_cvar(losses, confidence)
    return VarResult(
        var_inr=var, cvar_inr=cvar, method=METHOD_HISTORICAL, confidence=confidence,
        horizon_days=horizon_days, observations=int(scenarios.shape[0]),
    )


def covariance(daily: np.ndarray, ewma_lambda: float | None = None) -> np.ndarray:
    """Sample covariance (``ddof=1``), or the normalised zero-mean RiskMetrics EWMA one."""
    if ewma_lambda is None:
        return np.atleast_2d(np.cov(daily, rowvar=False, ddof=1))
    if not 0.0 < ewma_lambda < 1.0:
        raise RiskParameterError(f"ewma_lambda must be in (0, 1), got {ewma_lambda}")
    n = daily.shape[0]
    weights = (1.0 - ewma_lambda) * ewma_lambda ** np.arange(n - 1, -1, -1, dtype=float)
    weights /= weights.sum()
    cov: np.ndarray = (daily * weights[:, None]).T @ daily
    return cov


def gaussian_var_cvar(sigma_inr: float, confidence: float) -> tuple[float, float]:
    """Zero-mean normal VaR ``z sigma`` and CVaR ``sigma phi(z) / (1 - c)``."""
    z = float(norm.ppf(confidence))
    return z * sigma_inr, sigma_inr * float(norm.pdf(z)) / (1.0 - confidence)


def parametric_from_covariance(
    notional_inr: np.ndarray,
    cov: np.ndarray,
    confidence: float,
    horizon_days: int,
    *,
    method: str,
    observations: int,
) -> VarResult:
    """Gaussian VaR/CVaR of the notionals under a daily covariance, scaled by sqrt(h)."""
    variance = float(notional_inr @ cov @ notional_inr)
    sigma_inr = math.sqrt(max(variance, 0.0) * horizon_days)
    var, cvar = gaussian_var_cvar(sigma_inr, confidence)
    return VarResult(
        var_inr=var, cvar_inr=cvar, method=method, confidence=confidence,
        horizon_days=horizon_days, observations=observations,
    )


def parametric_var_cvar(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float,
    horizon_days: int = 1,
    *,
    ewma_lambda: float | None = None,
) -> VarResult:
    """Variance-covariance VaR/CVaR (INR), zero mean, sqrt(h) scaling; EWMA if lambda given."""
    validate_parameters(confidence, horizon_days)
    method = METHOD_PARAMETRIC if ewma_lambda is None else METHOD_PARAMETRIC_EWMA
    book = book_history(positions, returns)
    if not book.symbols:
        return _zero(method, confidence, horizon_days)
    require_observations(book.returns.shape[0], confidence, "daily observations")
    cov = covariance(book.returns, ewma_lambda)
    return parametric_from_covariance(
        book.notional_inr, cov, confidence, horizon_days,
        method=method, observations=int(book.returns.shape[0]),
    )


def var_utilisation(result: VarResult, capital_inr: float) -> float:
    """VaR as a fraction of capital (0.02 = VaR is 2% of capital)."""
    if not math.isfinite(capital_inr) or capital_inr <= 0:
        raise RiskParameterError(f"capital_inr must be finite and > 0, got {capital_inr}")
    return result.var_inr / capital_inr


def check_var_limit(
    result: VarResult, capital_inr: float, max_utilisation: float
) -> RiskDecision:
    """Pass while VaR / capital <= ``max_utilisation``; the reason names both numbers."""
    if not 0.0 < max_utilisation <= 1.0:
        raise RiskParameterError(f"max_utilisation must be in (0, 1], got {max_utilisation}")
    used = var_utilisation(result, capital_inr)
    reason = (
        f"{result.method} VaR {result.confidence:.0%}/{result.horizon_days}d "
        f"INR {result.var_inr:,.0f} is {used:.2%} of capital INR {capital_inr:,.0f}, "
        f"limit {max_utilisation:.2%}"
    )
    return RiskDecision(passed=used <= max_utilisation, check="max_var_utilisation", reason=reason)


def _zero(method: str, confidence: float, horizon_days: int) -> VarResult:
    return VarResult(
        var_inr=0.0, cvar_inr=0.0, method=method, confidence=confidence,
        horizon_days=horizon_days, observations=0,
    )
