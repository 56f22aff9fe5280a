"""Stress scenarios on the linear book: gap P&L, volatility and correlation shocks."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live.risk.stress import (
    Scenario,
    correlation_one,
    correlation_one_var,
    gap,
    run_scenarios,
    vol_shock,
    vol_shock_var,
)
from live.risk.var import RiskDataError, RiskParameterError, parametric_var_cvar

SYMBOLS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")


def _returns(n: int = 250, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vols = np.array([0.008, 0.011, 0.010, 0.014])
    corr = np.full((4, 4), 0.6) + 0.4 * np.eye(4)
    cov = corr * np.outer(vols, vols)
    index = pd.date_range("2024-01-01", periods=n, freq="B", tz="Asia/Kolkata")
    values = rng.multivariate_normal(np.zeros(4), cov, size=n)
    return pd.DataFrame(values, index=index, columns=list(SYMBOLS))


RETURNS = _returns()


@pytest.mark.parametrize("move_frac", [-0.1, 0.05, 0.0])
def test_gap_pnl_is_net_notional_times_move(move_frac: float) -> None:
    book = {"NIFTY": 2_000_000.0, "BANKNIFTY": -500_000.0, "FINNIFTY": 250_000.0}
    result = gap(book, move_frac)
    assert result.pnl_inr == pytest.approx(1_750_000.0 * move_frac)
    assert (result.kind, result.var_inr) == ("gap", None)


def test_gap_percent_instead_of_fraction_fails() -> None:
    with pytest.raises(RiskParameterError, match="got 5"):
        gap({"NIFTY": 1e6}, 5.0)


def test_vol_shock_covariance_factor_four_doubles_var() -> None:
    book = {"NIFTY": 1e6, "BANKNIFTY": -4e5}
    base = parametric_var_cvar(book, RETURNS, 0.99)
    shocked = vol_shock_var(book, RETURNS, 0.99, 4.0)
    assert shocked.var_inr == pytest.approx(2 * base.var_inr, rel=1e-12)
    assert shocked.cvar_inr == pytest.approx(2 * base.cvar_inr, rel=1e-12)


def test_vol_shock_nonpositive_factor_fails() -> None:
    with pytest.raises(RiskParameterError, match="covariance_factor"):
        vol_shock({"NIFTY": 1e6}, RETURNS, 0.99, 0.0)


def test_correlation_one_var_is_z_times_abs_sum_of_signed_sigmas() -> None:
    book = {"NIFTY": 1e6, "BANKNIFTY": -4e5, "MIDCPNIFTY": 2e5}
    sigmas = RETURNS[list(book)].std(ddof=1).to_numpy()
    sigma_p = abs(float(np.dot(list(book.values()), sigmas)))
    result = correlation_one_var(book, RETURNS, 0.99)
    assert result.var_inr == pytest.approx(NormalDist().inv_cdf(0.99) * sigma_p, rel=1e-12)


def test_correlation_one_matched_long_short_of_same_risk_is_flat() -> None:
    returns = RETURNS.assign(NIFTY_2=RETURNS["NIFTY"])
    result = correlation_one_var({"NIFTY": 1e6, "NIFTY_2": -1e6}, returns, 0.99)
    assert result.var_inr == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(notional=st.lists(st.floats(0.0, 1e7), min_size=4, max_size=4),
       confidence=st.sampled_from([0.95, 0.99]))
def test_correlation_one_at_least_parametric_var_for_long_only(
    notional: list[float], confidence: float
) -> None:
    book = dict(zip(SYMBOLS, notional, strict=True))
    normal = parametric_var_cvar(book, RETURNS, confidence).var_inr
    stressed = correlation_one_var(book, RETURNS, confidence).var_inr
    assert stressed >= normal * (1 - 1e-12) - 1e-6


def test_correlation_one_unknown_symbol_fails_naming_it() -> None:
    with pytest.raises(RiskDataError, match="'SENSEX'"):
        correlation_one({"SENSEX": 1e6}, RETURNS, 0.99)


def test_run_scenarios_returns_one_result_per_scenario_in_order() -> None:
    book = {"NIFTY": 1e6, "BANKNIFTY": 5e5}
    scenarios = [
        Scenario(name="crash", kind="gap", size=-0.1),
        Scenario(name="vol up 50%", kind="vol_shock", size=0.5),
        Scenario(name="all down 7%", kind="correlation_one", size=-0.07),
    ]
    results = run_scenarios(book, RETURNS, scenarios, confidence=0.99)
    assert [r.name for r in results] == ["crash", "vol up 50%", "all down 7%"]
    assert results[0].pnl_inr == pytest.approx(-150_000.0)
    assert results[1].var_inr == pytest.approx(
        1.5 * parametric_var_cvar(book, RETURNS, 0.99).var_inr, rel=1e-12)
    assert results[2].var_inr == pytest.approx(correlation_one_var(book, RETURNS, 0.99).var_inr)
    assert results[2].pnl_inr == pytest.approx(-105_000.0)
    assert "all correlations 1" in results[2].detail


def test_scenario_vol_shock_size_is_volatility_increase() -> None:
    assert Scenario(name="v", kind="vol_shock", size=0.5).covariance_factor == pytest.approx(2.25)


def test_run_scenarios_empty_book_has_zero_pnl_and_var() -> None:
    scenarios = [Scenario(name="g", kind="gap", size=-0.2),
                 Scenario(name="c", kind="correlation_one", size=-0.2)]
    results = run_scenarios({}, RETURNS, scenarios)
    assert (results[0].pnl_inr, results[1].pnl_inr, results[1].var_inr) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("kind", "size", "message"),
    [("meteor", 0.1, "kind 'meteor'"), ("correlation_one", -1.5, "move_frac"),
     ("vol_shock", -1.0, "volatility increase"), ("gap", math.nan, "move_frac")],
)
def test_scenario_invalid_kind_or_size_fails(kind: str, size: float, message: str) -> None:
    with pytest.raises(RiskParameterError, match=message):
        Scenario(name="bad", kind=kind, size=size)
