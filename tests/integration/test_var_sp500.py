"""VaR/CVaR on the shipped S&P 500 dataset agree with skfolio, numpy and scipy computed apart.

Book: INR 1,000,000 long in each of the 20 stocks; history: the last 500 daily returns.
skfolio's ``value_at_risk`` is the lower beta-quantile of the loss (``floor((1-b)n)+1``-th
largest loss) and ``cvar`` the Acerbi-Tasche expected shortfall: the conventions of
:mod:`live.risk.var`, so they agree to rounding (rel 1e-12).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from skfolio.measures import cvar, value_at_risk

from live.risk.var import VarResult, historical_var_cvar, parametric_var_cvar
from pipelines.datasets.schema import read_dataset

pytestmark = pytest.mark.integration

NOTIONAL_INR = 1_000_000.0
DAYS = 500


@pytest.fixture(scope="module")
def returns(repo_root: Path) -> pd.DataFrame:
    bars = read_dataset(repo_root / "data" / "datasets" / "sp500_1d.parquet")
    closes = bars.pivot(index="ts", columns="symbol", values="close")
    daily = closes.pct_change().iloc[1:]
    assert daily.shape[1] == 20
    return daily.iloc[-DAYS:]


@pytest.fixture(scope="module")
def book(returns: pd.DataFrame) -> dict[str, float]:
    return dict.fromkeys(returns.columns, NOTIONAL_INR)


def _pnl(returns: pd.DataFrame) -> np.ndarray:
    return returns.to_numpy() @ np.full(returns.shape[1], NOTIONAL_INR)


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_historical_var_cvar_equals_skfolio_on_sp500(
    returns: pd.DataFrame, book: dict[str, float], confidence: float
) -> None:
    pnl = _pnl(returns)
    ours = historical_var_cvar(book, returns, confidence)
    assert ours.observations == DAYS
    assert ours.var_inr == pytest.approx(value_at_risk(pnl, beta=confidence), rel=1e-12)
    assert ours.cvar_inr == pytest.approx(cvar(pnl, beta=confidence), rel=1e-12)


@pytest.mark.parametrize(("confidence", "tail"), [(0.95, 25), (0.99, 5)])
def test_historical_var_cvar_equals_numpy_order_statistics_on_sp500(
    returns: pd.DataFrame, book: dict[str, float], confidence: float, tail: int
) -> None:
    losses = np.sort(-_pnl(returns))[::-1]
    ours = historical_var_cvar(book, returns, confidence)
    assert ours.var_inr == pytest.approx(losses[tail], rel=1e-12)
    assert ours.var_inr == pytest.approx(
        np.quantile(-_pnl(returns), confidence, method="inverted_cdf"), rel=1e-12)
    assert ours.cvar_inr == pytest.approx(losses[:tail].mean(), rel=1e-12)


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_parametric_var_cvar_equals_scipy_normal_on_sp500(
    returns: pd.DataFrame, book: dict[str, float], confidence: float
) -> None:
    weights = np.full(returns.shape[1], NOTIONAL_INR)
    sigma = np.sqrt(weights @ np.cov(returns.to_numpy().T) @ weights)
    ours = parametric_var_cvar(book, returns, confidence, horizon_days=10)
    scaled = sigma * np.sqrt(10)
    assert ours.var_inr == pytest.approx(norm.ppf(confidence) * scaled, rel=1e-12)
    expected_cvar = scaled * norm.pdf(norm.ppf(confidence)) / (1 - confidence)
    assert ours.cvar_inr == pytest.approx(expected_cvar, rel=1e-12)


@pytest.mark.parametrize("method", [historical_var_cvar, parametric_var_cvar])
def test_var_99_exceeds_var_95_on_sp500(
    returns: pd.DataFrame, book: dict[str, float], method: Callable[..., VarResult]
) -> None:
    at_95, at_99 = method(book, returns, 0.95), method(book, returns, 0.99)
    assert at_99.var_inr > at_95.var_inr > 0
    assert at_99.cvar_inr > at_95.cvar_inr >= at_95.var_inr
