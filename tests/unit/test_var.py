"""Portfolio VaR/CVaR: hand-computed examples, independent formulas, data rules, properties."""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from live.risk.var import (
    RiskDataError,
    RiskParameterError,
    VarResult,
    check_var_limit,
    historical_var_cvar,
    min_observations,
    notional_from_quantities,
    parametric_var_cvar,
    var_utilisation,
)

DATES = pd.date_range("2025-01-01", periods=10, freq="B", tz="Asia/Kolkata")
# P&L of {A: +100, B: -50} per day: 1, -3, 3.5, -5, -0.5, 2, -2, 6, -6, 1
# losses sorted worst first: 6, 5, 3, 2, 0.5, -1, -1, -2, -3.5, -6
HAND = pd.DataFrame(
    {
        "A": [0.01, -0.02, 0.03, -0.04, 0.00, 0.02, -0.01, 0.05, -0.03, 0.01],
        "B": [0.00, 0.02, -0.01, 0.02, 0.01, 0.00, 0.02, -0.02, 0.06, 0.00],
    },
    index=DATES,
)
HAND_BOOK = {"A": 100.0, "B": -50.0}
VarMethod = Callable[..., VarResult]


def _random_returns(n: int = 250, symbols: tuple[str, ...] = ("A", "B", "C"),
                    seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=n, freq="B", tz="Asia/Kolkata")
    return pd.DataFrame(rng.normal(0.0, 0.01, (n, len(symbols))), index=index,
                        columns=list(symbols))


@pytest.mark.parametrize(
    ("confidence", "var", "cvar"),
    [(0.9, 5.0, 6.0), (0.8, 3.0, 5.5), (0.85, 5.0, (6.0 + 0.5 * 5.0) / 1.5)],
)
def test_historical_var_cvar_hand_example_matches_lower_quantile_and_expected_shortfall(
    confidence: float, var: float, cvar: float
) -> None:
    result = historical_var_cvar(HAND_BOOK, HAND, confidence)
    assert result.var_inr == pytest.approx(var)
    assert result.cvar_inr == pytest.approx(cvar)
    assert (result.method, result.observations, result.horizon_days) == ("historical", 10, 1)


def test_historical_var_cvar_two_day_horizon_uses_overlapping_compounded_returns() -> None:
    returns = pd.DataFrame({"A": [0.1, -0.1, 0.0, -0.2, 0.1, 0.05]},
                           index=DATES[:6])
    # 2-day returns: -0.01, -0.1, -0.2, -0.12, 0.155 -> losses 1, 10, 20, 12, -15.5
    result = historical_var_cvar({"A": 100.0}, returns, 0.8, horizon_days=2)
    assert result.observations == 5
    assert result.var_inr == pytest.approx(12.0)
    assert result.cvar_inr == pytest.approx(20.0)


def test_parametric_var_cvar_equals_z_sigma_from_numpy_covariance() -> None:
    returns = _random_returns()
    book = {"A": 2e6, "B": -1e6, "C": 5e5}
    w = np.array(list(book.values()))
    sigma = math.sqrt(w @ np.cov(returns.to_numpy(), rowvar=False) @ w)
    normal = NormalDist()
    z = normal.inv_cdf(0.99)
    result = parametric_var_cvar(book, returns, 0.99)
    assert result.var_inr == pytest.approx(z * sigma, rel=1e-12)
    assert result.cvar_inr == pytest.approx(sigma * normal.pdf(z) / 0.01, rel=1e-12)


def test_parametric_var_cvar_ewma_equals_riskmetrics_recursion() -> None:
    returns = _random_returns(n=120)
    book = {"A": 1e6, "B": 1e6, "C": -3e5}
    lam = 0.94
    cov = np.zeros((3, 3))
    for row in returns.to_numpy():
        cov = lam * cov + (1 - lam) * np.outer(row, row)
    cov /= 1 - lam ** len(returns)
    w = np.array(list(book.values()))
    expected = NormalDist().inv_cdf(0.95) * math.sqrt(w @ cov @ w)
    result = parametric_var_cvar(book, returns, 0.95, ewma_lambda=lam)
    assert result.method == "parametric_ewma"
    assert result.var_inr == pytest.approx(expected, rel=1e-12)


def test_parametric_var_cvar_horizon_scales_by_square_root_of_days() -> None:
    returns = _random_returns()
    one = parametric_var_cvar({"A": 1e6}, returns, 0.99)
    ten = parametric_var_cvar({"A": 1e6}, returns, 0.99, horizon_days=10)
    assert ten.var_inr == pytest.approx(one.var_inr * math.sqrt(10), rel=1e-12)
    assert ten.cvar_inr == pytest.approx(one.cvar_inr * math.sqrt(10), rel=1e-12)


@pytest.mark.parametrize("method", [historical_var_cvar, parametric_var_cvar])
def test_var_empty_book_is_zero(method: VarMethod) -> None:
    result = method({}, HAND, 0.9)
    assert (result.var_inr, result.cvar_inr, result.observations) == (0.0, 0.0, 0)


@pytest.mark.parametrize("method", [historical_var_cvar, parametric_var_cvar])
def test_var_zero_notional_of_unknown_symbol_is_ignored(method: VarMethod) -> None:
    with_zero = method({**HAND_BOOK, "NIFTY": 0.0}, HAND, 0.9)
    assert with_zero == method(HAND_BOOK, HAND, 0.9)


@pytest.mark.parametrize("method", [historical_var_cvar, parametric_var_cvar])
def test_var_nan_return_of_held_symbol_fails_naming_symbol_and_date(method: VarMethod) -> None:
    returns = HAND.copy()
    returns.iloc[3, 1] = np.nan
    with pytest.raises(RiskDataError, match=r"'B' on 2025-01-06.*nan"):
        method(HAND_BOOK, returns, 0.9)


def test_var_nan_return_of_unheld_symbol_is_ignored() -> None:
    returns = HAND.assign(C=np.nan)
    assert historical_var_cvar(HAND_BOOK, returns, 0.9).var_inr == pytest.approx(5.0)


@pytest.mark.parametrize("method", [historical_var_cvar, parametric_var_cvar])
def test_var_unknown_held_symbol_fails_naming_it(method: VarMethod) -> None:
    with pytest.raises(RiskDataError, match="'BANKNIFTY'"):
        method({**HAND_BOOK, "BANKNIFTY": 1e6}, HAND, 0.9)


@pytest.mark.parametrize("method", [historical_var_cvar, parametric_var_cvar])
def test_var_too_few_observations_for_confidence_fails(method: VarMethod) -> None:
    with pytest.raises(RiskDataError, match=r"too few for confidence 0\.95: need at least 20"):
        method(HAND_BOOK, HAND, 0.95)


def test_historical_var_long_horizon_counts_scenarios_not_days() -> None:
    with pytest.raises(RiskDataError, match="9 2-day scenarios"):
        historical_var_cvar(HAND_BOOK, HAND, 0.9, horizon_days=2)


@pytest.mark.parametrize(("confidence", "horizon"), [(0.5, 1), (1.0, 1), (0.99, 0), (0.99, 1.5)])
def test_var_invalid_parameters_fail(confidence: float, horizon: int) -> None:
    with pytest.raises(RiskParameterError):
        historical_var_cvar(HAND_BOOK, HAND, confidence, horizon_days=horizon)


def test_min_observations_is_one_over_tail_probability() -> None:
    assert (min_observations(0.95), min_observations(0.99), min_observations(0.9)) == (20, 100, 10)


def test_notional_from_quantities_is_signed_qty_times_price() -> None:
    notional = notional_from_quantities({"NIFTY": 75, "BANKNIFTY": -30},
                                        {"NIFTY": 23_500.0, "BANKNIFTY": 51_000.0})
    assert notional == {"NIFTY": 1_762_500.0, "BANKNIFTY": -1_530_000.0}


def test_notional_from_quantities_missing_price_fails_naming_symbol() -> None:
    with pytest.raises(RiskDataError, match="'NIFTY'"):
        notional_from_quantities({"NIFTY": 75}, {})


def test_var_utilisation_is_var_over_capital() -> None:
    result = historical_var_cvar(HAND_BOOK, HAND, 0.9)
    assert var_utilisation(result, 250.0) == pytest.approx(0.02)


def test_check_var_limit_denies_above_limit_and_names_numbers() -> None:
    result = historical_var_cvar(HAND_BOOK, HAND, 0.9)
    assert check_var_limit(result, 250.0, 0.02).passed
    denied = check_var_limit(result, 250.0, 0.015)
    assert (denied.passed, denied.check) == (False, "max_var_utilisation")
    assert "2.00% of capital" in denied.reason and "limit 1.50%" in denied.reason


def test_var_utilisation_nonpositive_capital_fails() -> None:
    with pytest.raises(RiskParameterError, match="capital_inr"):
        var_utilisation(historical_var_cvar(HAND_BOOK, HAND, 0.9), 0.0)


_returns = st.tuples(st.integers(40, 80), st.integers(1, 4)).flatmap(
    lambda shape: st.tuples(
        arrays(np.float64, shape, elements=st.floats(-0.3, 0.3)),
        arrays(np.float64, (shape[1],), elements=st.floats(-1e6, 1e6)),
    )
)


def _frame(values: np.ndarray) -> pd.DataFrame:
    columns = [f"S{i}" for i in range(values.shape[1])]
    return pd.DataFrame(values, columns=columns,
                        index=pd.RangeIndex(values.shape[0], name="day"))


@settings(max_examples=60, deadline=None)
@given(data=_returns, scale=st.floats(0.01, 100.0),
       confidence=st.sampled_from([0.9, 0.95, 0.975]))
@pytest.mark.parametrize("method", [historical_var_cvar, parametric_var_cvar])
def test_var_is_positively_homogeneous_and_cvar_at_least_var(
    method: VarMethod, data: tuple[np.ndarray, np.ndarray], scale: float, confidence: float
) -> None:
    values, notional = data
    returns = _frame(values)
    book = dict(zip(returns.columns, notional.tolist(), strict=True))
    base = method(book, returns, confidence)
    scaled = method({s: n * scale for s, n in book.items()}, returns, confidence)
    tol = 1e-9 * (1.0 + float(np.abs(notional).sum()) * scale)
    assert scaled.var_inr == pytest.approx(base.var_inr * scale, rel=1e-9, abs=tol)
    assert scaled.cvar_inr == pytest.approx(base.cvar_inr * scale, rel=1e-9, abs=tol)
    assert base.cvar_inr >= base.var_inr - tol
