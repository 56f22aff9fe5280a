"""Stress scenarios on the current linear book: price gaps, volatility and correlation shocks.

* ``gap``: every price moves by the same fraction; P&L ``= sum(notional_inr) * move_frac``.
* ``vol_shock``: the daily covariance is multiplied by ``covariance_factor`` (volatilities
  by its square root) and the parametric VaR is reported under it.
* ``correlation_one``: parametric VaR with every correlation set to 1, keeping each
  symbol's own volatility: ``sigma_p = |sum_i w_i sigma_i|`` (signed notionals, so a short
  hedges a long perfectly). For a long-only book it is the sum of standalone VaRs and
  bounds the normal parametric VaR from above.

A :class:`Scenario`'s ``size`` follows ``risk.yaml`` (``portfolio.stress_scenarios``):
gap - signed price move fraction; vol_shock - volatilities scale by ``1 + size``, so the
covariance by ``(1 + size) ** 2``; correlation_one - the signed fraction all underlyings
move by together, reported as ``pnl_inr`` beside the correlation-one VaR.

Conventions (zero mean, sqrt(h) scaling, sample or EWMA covariance) are those of
:mod:`live.risk.var`; P&L is positive for a gain, VaR positive for a loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from live.risk.var import (
    METHOD_PARAMETRIC,
    METHOD_PARAMETRIC_EWMA,
    RiskDataError,
    RiskParameterError,
    VarResult,
    book_history,
    covariance,
    parametric_from_covariance,
    require_observations,
    validate_parameters,
)

KIND_GAP = "gap"
KIND_VOL_SHOCK = "vol_shock"
KIND_CORRELATION_ONE = "correlation_one"
KINDS = (KIND_GAP, KIND_VOL_SHOCK, KIND_CORRELATION_ONE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    """One stress, as in ``risk.yaml``: ``size`` is the signed price move fraction (gap and
    correlation_one, -0.1 = -10%) or the volatility increase (vol_shock, 0.5 = vols x1.5)."""

    name: str
    kind: str
    size: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RiskParameterError(f"scenario {self.name!r}: kind {self.kind!r} not in {KINDS}")
        if self.kind == KIND_VOL_SHOCK:
            _check_factor(self.covariance_factor)
        else:
            _check_move(self.size)

    @property
    def covariance_factor(self) -> float:
        """Covariance multiplier of a vol_shock: volatilities scale by ``1 + size``."""
        if not math.isfinite(self.size) or self.size <= -1.0:
            raise RiskParameterError(
                f"scenario {self.name!r}: vol_shock size is the volatility increase "
                f"(0.5 = vols x1.5) and must be finite and > -1, got {self.size}"
            )
        return (1.0 + self.size) ** 2


@dataclass(frozen=True, kw_only=True, slots=True)
class StressResult:
    """Outcome of one scenario: ``pnl_inr`` of a price move (gap, correlation_one with a
    move), ``var_inr`` of the VaR stresses (vol_shock, correlation_one); None when not run."""

    name: str
    kind: str
    pnl_inr: float | None
    var_inr: float | None
    detail: str


def _check_move(move_frac: float) -> None:
    if not math.isfinite(move_frac) or not -1.0 <= move_frac <= 1.0:
        raise RiskParameterError(
            f"price move_frac is a fraction in [-1, 1] (-0.05 = -5%), got {move_frac}"
        )


def _check_factor(covariance_factor: float) -> None:
    if not math.isfinite(covariance_factor) or covariance_factor <= 0:
        raise RiskParameterError(
            f"vol_shock covariance_factor must be finite and > 0, got {covariance_factor}"
        )


def gap(positions: Mapping[str, float], move_frac: float, name: str = "gap") -> StressResult:
    """P&L (INR) if every price moves by ``move_frac`` at once (-0.05 = all down 5%)."""
    _check_move(move_frac)
    net_inr = _net_notional(positions)
    pnl = net_inr * move_frac
    detail = f"all prices {move_frac:+.2%} on net notional INR {net_inr:,.0f}"
    return StressResult(name=name, kind=KIND_GAP, pnl_inr=pnl, var_inr=None, detail=detail)


def vol_shock_var(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float,
    covariance_factor: float,
    horizon_days: int = 1,
    *,
    ewma_lambda: float | None = None,
) -> VarResult:
    """Parametric VaR/CVaR with the covariance multiplied by ``covariance_factor``."""
    _check_factor(covariance_factor)
    return _stressed_var(
        positions, returns, confidence, horizon_days, ewma_lambda,
        lambda cov: cov * covariance_factor,
    )


def correlation_one_var(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float,
    horizon_days: int = 1,
    *,
    ewma_lambda: float | None = None,
) -> VarResult:
    """Parametric VaR/CVaR with all correlations 1: ``sigma_p = |sum_i w_i sigma_i|``."""

    def perfectly_correlated(cov: np.ndarray) -> np.ndarray:
        vol = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        return np.outer(vol, vol)

    return _stressed_var(
        positions, returns, confidence, horizon_days, ewma_lambda, perfectly_correlated
    )


def vol_shock(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float,
    covariance_factor: float,
    name: str = "vol_shock",
    *,
    horizon_days: int = 1,
    ewma_lambda: float | None = None,
) -> StressResult:
    """Scenario form of :func:`vol_shock_var`."""
    result = vol_shock_var(
        positions, returns, confidence, covariance_factor, horizon_days, ewma_lambda=ewma_lambda
    )
    vol_factor = math.sqrt(covariance_factor)
    detail = f"covariance x{covariance_factor:g} (vol x{vol_factor:.3g}); {_describe(result)}"
    return StressResult(
        name=name, kind=KIND_VOL_SHOCK, pnl_inr=None, var_inr=result.var_inr, detail=detail
    )


def correlation_one(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float,
    name: str = "correlation_one",
    *,
    move_frac: float | None = None,
    horizon_days: int = 1,
    ewma_lambda: float | None = None,
) -> StressResult:
    """Scenario form of :func:`correlation_one_var`; with ``move_frac`` also the P&L of all
    underlyings moving together by it."""
    result = correlation_one_var(
        positions, returns, confidence, horizon_days, ewma_lambda=ewma_lambda
    )
    detail = f"all correlations 1; {_describe(result)}"
    pnl = None
    if move_frac is not None:
        _check_move(move_frac)
        net_inr = _net_notional(positions)
        pnl = net_inr * move_frac
        detail += f"; all prices {move_frac:+.2%} together on net notional INR {net_inr:,.0f}"
    return StressResult(
        name=name, kind=KIND_CORRELATION_ONE, pnl_inr=pnl, var_inr=result.var_inr,
        detail=detail,
    )


def run_scenarios(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    scenarios: Sequence[Scenario],
    *,
    confidence: float = 0.99,
    horizon_days: int = 1,
    ewma_lambda: float | None = None,
) -> list[StressResult]:
    """Every scenario on the book, in the given order."""
    results: list[StressResult] = []
    for scenario in scenarios:
        if scenario.kind == KIND_GAP:
            results.append(gap(positions, scenario.size, scenario.name))
        elif scenario.kind == KIND_VOL_SHOCK:
            results.append(vol_shock(
                positions, returns, confidence, scenario.covariance_factor, scenario.name,
                horizon_days=horizon_days, ewma_lambda=ewma_lambda,
            ))
        else:
            results.append(correlation_one(
                positions, returns, confidence, scenario.name, move_frac=scenario.size,
                horizon_days=horizon_days, ewma_lambda=ewma_lambda,
            ))
    return results


def _stressed_var(
    positions: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float,
    horizon_days: int,
    ewma_lambda: float | None,
    stress: Callable[[np.ndarray], np.ndarray],
) -> VarResult:
    validate_parameters(confidence, horizon_days)
    method = METHOD_PARAMETRIC if ewma_lambda is None else METHOD_PARAMETRIC_EWMA
    book = book_history(positions, returns)
    observations = int(book.returns.shape[0]) if book.symbols else 0
    if book.symbols:
        require_observations(observations, confidence, "daily observations")
        cov = stress(covariance(book.returns, ewma_lambda))
    else:
        cov = np.zeros((0, 0))
    return parametric_from_covariance(
        book.notional_inr, cov, confidence, horizon_days,
        method=method, observations=observations,
    )


def _net_notional(positions: Mapping[str, float]) -> float:
    notionals = [float(n) for n in positions.values()]
    if not all(math.isfinite(n) for n in notionals):
        raise RiskDataError(f"non-finite notional in positions {dict(positions)}")
    return math.fsum(notionals)


def _describe(result: VarResult) -> str:
    return (
        f"{result.method} VaR {result.confidence:.0%}/{result.horizon_days}d "
        f"INR {result.var_inr:,.0f}, CVaR INR {result.cvar_inr:,.0f}, "
        f"{result.observations} observations"
    )
