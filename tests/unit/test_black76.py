"""Black-76 prices, greeks and implied volatility, checked against parity, finite differences,
a published example and an independent implementation written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from live.risk import black76
from live.risk.black76 import ImpliedVolError, PricingInputError

BASE = {"futures_price": 23_500.0, "strike": 23_000.0, "t_years": 30 / 365, "sigma": 0.14,
        "rate": 0.065}


def independent_black76(kind: str, f: float, k: float, t: float, s: float, r: float) -> float:
    """Black (1976) written out from the textbook formula, sharing no code with the module."""
    d1 = (math.log(f / k) + s * s * t / 2) / (s * math.sqrt(t))
    d2 = d1 - s * math.sqrt(t)
    if kind == "call":
        return math.exp(-r * t) * (f * norm.cdf(d1) - k * norm.cdf(d2))
    return math.exp(-r * t) * (k * norm.cdf(-d2) - f * norm.cdf(-d1))


def with_(**changes: float) -> dict[str, float]:
    return {**BASE, **changes}


def test_put_matches_hull_black_model_example() -> None:
    # Hull, Options, Futures, and Other Derivatives, Black's model example: European put on a
    # futures price, F0 = K = 20, r = 9 %, T = 4 months, sigma = 25 %: p = 1.12 (2 dp). The
    # exact value is checked against the independent formula above.
    inputs = {"futures_price": 20.0, "strike": 20.0, "t_years": 4 / 12, "sigma": 0.25,
              "rate": 0.09}
    put = black76.price("put", **inputs)
    assert round(put, 2) == 1.12
    assert put == pytest.approx(independent_black76("put", 20.0, 20.0, 4 / 12, 0.25, 0.09),
                                rel=1e-12)


@pytest.mark.parametrize("kind", ["call", "put"])
@pytest.mark.parametrize("strike", [18_000.0, 23_000.0, 23_500.0, 27_000.0])
def test_price_matches_independent_formula(kind: str, strike: float) -> None:
    got = black76.price(kind, **with_(strike=strike))
    want = independent_black76(kind, 23_500.0, strike, 30 / 365, 0.14, 0.065)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_put_call_parity_holds_on_a_grid() -> None:
    f = 23_500.0
    k = np.linspace(15_000.0, 32_000.0, 35)[:, None]
    t = np.array([1 / 365, 7 / 365, 0.25, 1.0, 3.0])[None, :]
    args = {"futures_price": f, "strike": k, "t_years": t, "sigma": 0.18, "rate": 0.065}
    call, put = black76.price("call", **args), black76.price("put", **args)
    np.testing.assert_allclose(call - put, np.exp(-0.065 * t) * (f - k), rtol=0, atol=1e-7)


@pytest.mark.parametrize("kind", ["call", "put"])
def test_delta_matches_central_difference(kind: str) -> None:
    h = 0.01
    up = black76.price(kind, **with_(futures_price=23_500.0 + h))
    down = black76.price(kind, **with_(futures_price=23_500.0 - h))
    assert black76.delta(kind, **BASE) == pytest.approx((up - down) / (2 * h), abs=1e-7)


def test_call_delta_minus_put_delta_is_discount_factor() -> None:
    diff = black76.delta("call", **BASE) - black76.delta("put", **BASE)
    assert diff == pytest.approx(math.exp(-0.065 * 30 / 365), rel=1e-12)


def test_gamma_matches_central_difference_of_delta() -> None:
    h = 0.5
    up = black76.delta("call", **with_(futures_price=23_500.0 + h))
    down = black76.delta("call", **with_(futures_price=23_500.0 - h))
    assert black76.gamma(**BASE) == pytest.approx((up - down) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("kind", ["call", "put"])
def test_vega_per_unit_sigma_matches_central_difference(kind: str) -> None:
    h = 1e-5
    up = black76.price(kind, **with_(sigma=0.14 + h))
    down = black76.price(kind, **with_(sigma=0.14 - h))
    assert black76.vega(**BASE) == pytest.approx((up - down) / (2 * h), rel=1e-7)


def test_vega_per_vol_point_is_premium_change_for_one_vol_point() -> None:
    # sigma 0.135 -> 0.145: one vol point centred on 0.14
    one_point = (black76.price("call", **with_(sigma=0.145))
                 - black76.price("call", **with_(sigma=0.135)))
    assert black76.vega_per_vol_point(**BASE) == pytest.approx(black76.vega(**BASE) / 100)
    assert black76.vega_per_vol_point(**BASE) == pytest.approx(one_point, rel=1e-3)


@pytest.mark.parametrize("kind", ["call", "put"])
def test_theta_is_minus_derivative_in_time_to_expiry(kind: str) -> None:
    h = 1e-6
    up = black76.price(kind, **with_(t_years=30 / 365 + h))
    down = black76.price(kind, **with_(t_years=30 / 365 - h))
    assert black76.theta(kind, **BASE) == pytest.approx(-(up - down) / (2 * h), rel=1e-5)


@pytest.mark.parametrize("strike", [20_000.0, 23_500.0, 26_000.0])
def test_gamma_and_vega_are_the_same_for_call_and_put(strike: float) -> None:
    # Parity C - P = e^{-rT}(F - K) is linear in F and free of sigma, so the second
    # derivative in F and the derivative in sigma of C and P agree: measured on each kind by
    # finite differences, both match the one gamma and vega of the module.
    h_f, h_s = 0.5, 1e-5
    args = with_(strike=strike)
    for kind in ("call", "put"):
        fd_gamma = (black76.price(kind, **{**args, "futures_price": 23_500.0 + h_f})
                    - 2 * black76.price(kind, **args)
                    + black76.price(kind, **{**args, "futures_price": 23_500.0 - h_f})
                    ) / h_f**2
        fd_vega = (black76.price(kind, **{**args, "sigma": 0.14 + h_s})
                   - black76.price(kind, **{**args, "sigma": 0.14 - h_s})) / (2 * h_s)
        assert black76.gamma(**args) == pytest.approx(fd_gamma, rel=1e-4)
        assert black76.vega(**args) == pytest.approx(fd_vega, rel=1e-6)


def test_scalar_inputs_give_a_float_and_arrays_broadcast() -> None:
    assert isinstance(black76.price("call", **BASE), float)
    prices = black76.price("call", **with_(strike=np.array([[22_000.0], [24_000.0]]),
                                           sigma=np.array([0.1, 0.2, 0.3])))
    assert prices.shape == (2, 3)
    assert prices[0, 1] == pytest.approx(black76.price("call", **with_(strike=22_000.0,
                                                                        sigma=0.2)))


@pytest.mark.parametrize("argument", ["futures_price", "strike", "t_years", "sigma"])
@pytest.mark.parametrize("bad", [math.nan, 0.0, -1.0, math.inf])
def test_non_positive_or_nan_argument_raises_naming_it(argument: str, bad: float) -> None:
    with pytest.raises(PricingInputError, match=argument):
        black76.price("call", **with_(**{argument: bad}))


def test_nan_inside_an_array_raises_naming_the_argument() -> None:
    with pytest.raises(PricingInputError, match="sigma"):
        black76.vega(**with_(sigma=np.array([0.1, math.nan])))


def test_nan_rate_raises_but_negative_rate_prices() -> None:
    with pytest.raises(PricingInputError, match="rate"):
        black76.price("put", **with_(rate=math.nan))
    assert black76.price("put", **with_(rate=-0.005)) > 0.0


def test_unknown_kind_raises() -> None:
    with pytest.raises(PricingInputError, match="straddle"):
        black76.price("straddle", **BASE)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["call", "put"])
def test_implied_vol_recovers_sigma(kind: str) -> None:
    premium = black76.price(kind, **BASE)
    args = {k: v for k, v in BASE.items() if k != "sigma"}
    assert black76.implied_vol(premium, kind, **args) == pytest.approx(0.14, abs=1e-9)


def test_implied_vol_of_call_below_discounted_intrinsic_raises() -> None:
    args = {k: v for k, v in BASE.items() if k != "sigma"}
    intrinsic = math.exp(-0.065 * 30 / 365) * (23_500.0 - 23_000.0)
    with pytest.raises(ImpliedVolError, match="no-arbitrage"):
        black76.implied_vol(intrinsic - 1.0, "call", **args)


def test_implied_vol_of_put_above_discounted_strike_raises() -> None:
    args = {k: v for k, v in BASE.items() if k != "sigma"}
    with pytest.raises(ImpliedVolError, match="no-arbitrage"):
        black76.implied_vol(23_000.0, "put", **args)


def test_implied_vol_of_nan_premium_raises_naming_it() -> None:
    args = {k: v for k, v in BASE.items() if k != "sigma"}
    with pytest.raises(PricingInputError, match="premium"):
        black76.implied_vol(math.nan, "call", **args)


# --- properties ----------------------------------------------------------------------------

futures = st.floats(1.0, 1e5)
log_moneyness = st.floats(-1.0, 1.0)
years = st.floats(1 / 365, 3.0)
vols = st.floats(0.01, 2.0)
rates = st.floats(-0.01, 0.15)


@settings(max_examples=300, deadline=None)
@given(f=futures, m=log_moneyness, t=years, s=vols, r=rates)
def test_call_price_lies_within_no_arbitrage_bounds(
    f: float, m: float, t: float, s: float, r: float
) -> None:
    k = f * math.exp(m)
    disc = math.exp(-r * t)
    call = black76.price("call", futures_price=f, strike=k, t_years=t, sigma=s, rate=r)
    tol = 1e-9 * f
    assert max(0.0, disc * (f - k)) - tol <= call <= disc * f + tol


@settings(max_examples=300, deadline=None)
@given(f=futures, m=log_moneyness, t=years, s=vols, r=rates)
def test_put_price_lies_within_no_arbitrage_bounds(
    f: float, m: float, t: float, s: float, r: float
) -> None:
    k = f * math.exp(m)
    disc = math.exp(-r * t)
    put = black76.price("put", futures_price=f, strike=k, t_years=t, sigma=s, rate=r)
    tol = 1e-9 * k
    assert max(0.0, disc * (k - f)) - tol <= put <= disc * k + tol


@settings(max_examples=200, deadline=None)
@given(f=futures, m=st.floats(-0.3, 0.3), t=st.floats(7 / 365, 2.0), s=st.floats(0.05, 1.5),
       r=rates, kind=st.sampled_from(["call", "put"]))
def test_implied_vol_inverts_price(
    f: float, m: float, t: float, s: float, r: float, kind: str
) -> None:
    k = f * math.exp(m)
    args = {"futures_price": f, "strike": k, "t_years": t, "rate": r}
    premium = black76.price(kind, sigma=s, **args)
    vega = black76.vega(sigma=s, **args)
    assume(vega > 1e-6 * f)  # below it the premium is intrinsic to float precision
    iv = black76.implied_vol(premium, kind, **args)
    assert black76.price(kind, sigma=iv, **args) == pytest.approx(premium, abs=1e-9 * f)
    assert iv == pytest.approx(s, rel=1e-5)
