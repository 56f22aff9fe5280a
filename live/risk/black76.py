"""Black (1976) prices and greeks of European options on futures, and the implied volatility.

Formulas: F. Black, "The pricing of commodity contracts", Journal of Financial Economics 3
(1976) 167-179; as restated in J. Hull, *Options, Futures, and Other Derivatives*, chapter
"Futures options" (Black's model)::

    d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt(T)),   d2 = d1 - sigma sqrt(T)
    call = e^{-rT} (F N(d1) - K N(d2)),                put = e^{-rT} (K N(-d2) - F N(-d1))

Conventions, the same for every function here:

- ``futures_price`` and ``strike`` in index points (INR per unit of the underlying);
- ``t_years`` is the time to expiry in years (the caller picks the day count);
- ``sigma`` is the annualised volatility as a decimal (0.15 means 15 %);
- ``rate`` is the continuously compounded discount rate as a decimal (0.065 means 6.5 %);
- greeks are per ONE unit of the underlying, with respect to the FUTURES price.

Inputs broadcast like numpy arrays; a scalar call returns a ``float``. Invalid inputs raise
:class:`PricingInputError` naming the argument: a price is never computed from a guess.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.stats import norm

from strategies.errors import StratopsError

OptionKind = Literal["call", "put"]
FloatOrArray = float | npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

VOL_POINTS_PER_UNIT = 100.0  # sigma 0.01 (one vol point) = 1/100 of sigma 1.00
DAYS_PER_YEAR = 365.0  # for theta per calendar day

IMPLIED_VOL_MIN = 1e-6
IMPLIED_VOL_MAX = 10.0  # 1000 % a year: beyond it a quote is treated as unpriceable


class PricingInputError(StratopsError, ValueError):
    """An argument of a Black-76 function that cannot be priced (NaN, infinite, <= 0, or an
    unknown option kind)."""


class ImpliedVolError(PricingInputError):
    """A premium with no implied volatility: outside the no-arbitrage bounds, or beyond the
    search bracket [IMPLIED_VOL_MIN, IMPLIED_VOL_MAX]."""


def price(
    kind: OptionKind, *, futures_price: ArrayLike, strike: ArrayLike, t_years: ArrayLike,
    sigma: ArrayLike, rate: ArrayLike,
) -> FloatOrArray:
    """Black-76 premium of a European call or put on a futures price, per unit of underlying.

    Raises
    ------
    PricingInputError
        If ``kind`` is not ``"call"``/``"put"``, or any of ``futures_price``, ``strike``,
        ``t_years``, ``sigma`` is not finite and > 0, or ``rate`` is not finite.
    """
    f, k, t, s, r = _inputs(futures_price, strike, t_years, sigma, rate)
    d1, d2 = _d1_d2(f, k, t, s)
    disc = np.exp(-r * t)
    if _is_call(kind):
        return _out(disc * (f * norm.cdf(d1) - k * norm.cdf(d2)))
    return _out(disc * (k * norm.cdf(-d2) - f * norm.cdf(-d1)))


def delta(
    kind: OptionKind, *, futures_price: ArrayLike, strike: ArrayLike, t_years: ArrayLike,
    sigma: ArrayLike, rate: ArrayLike,
) -> FloatOrArray:
    """dV/dF: call ``e^{-rT} N(d1)`` in (0, 1), put ``-e^{-rT} N(-d1)`` in (-1, 0).

    Raises
    ------
    PricingInputError
        As :func:`price`.
    """
    f, k, t, s, r = _inputs(futures_price, strike, t_years, sigma, rate)
    d1, _ = _d1_d2(f, k, t, s)
    disc = np.exp(-r * t)
    if _is_call(kind):
        return _out(disc * norm.cdf(d1))
    return _out(-disc * norm.cdf(-d1))


def gamma(
    *, futures_price: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike,
    rate: ArrayLike,
) -> FloatOrArray:
    """d2V/dF2 per 1 point of the futures price, ``e^{-rT} n(d1) / (F sigma sqrt(T))``; the same
    for a call and a put.

    Raises
    ------
    PricingInputError
        As :func:`price`.
    """
    f, k, t, s, r = _inputs(futures_price, strike, t_years, sigma, rate)
    d1, _ = _d1_d2(f, k, t, s)
    return _out(np.exp(-r * t) * norm.pdf(d1) / (f * s * np.sqrt(t)))


def vega(
    *, futures_price: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike,
    rate: ArrayLike,
) -> FloatOrArray:
    """dV/dsigma per 1.00 of sigma (i.e. per 100 vol points), ``e^{-rT} F n(d1) sqrt(T)``; the
    same for a call and a put. See :func:`vega_per_vol_point` for the desk's usual unit.

    Raises
    ------
    PricingInputError
        As :func:`price`.
    """
    f, k, t, s, r = _inputs(futures_price, strike, t_years, sigma, rate)
    d1, _ = _d1_d2(f, k, t, s)
    return _out(np.exp(-r * t) * f * norm.pdf(d1) * np.sqrt(t))


def vega_per_vol_point(
    *, futures_price: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike,
    rate: ArrayLike,
) -> FloatOrArray:
    """Premium change for a 1 vol point move (sigma +0.01): :func:`vega` / 100.

    Raises
    ------
    PricingInputError
        As :func:`price`.
    """
    per_unit = vega(
        futures_price=futures_price, strike=strike, t_years=t_years, sigma=sigma, rate=rate
    )
    return _out(np.asarray(per_unit) / VOL_POINTS_PER_UNIT)


def theta(
    kind: OptionKind, *, futures_price: ArrayLike, strike: ArrayLike, t_years: ArrayLike,
    sigma: ArrayLike, rate: ArrayLike,
) -> FloatOrArray:
    """dV/dt per YEAR of calendar time passing (``-dV/dT``), futures price held fixed:
    ``r V - e^{-rT} F n(d1) sigma / (2 sqrt(T))``. Divide by :data:`DAYS_PER_YEAR` for a day.

    Raises
    ------
    PricingInputError
        As :func:`price`.
    """
    value = np.asarray(price(
        kind, futures_price=futures_price, strike=strike, t_years=t_years, sigma=sigma,
        rate=rate,
    ))
    f, k, t, s, r = _inputs(futures_price, strike, t_years, sigma, rate)
    d1, _ = _d1_d2(f, k, t, s)
    decay = np.exp(-r * t) * f * norm.pdf(d1) * s / (2.0 * np.sqrt(t))
    return _out(r * value - decay)


def implied_vol(
    premium: float, kind: OptionKind, *, futures_price: float, strike: float, t_years: float,
    rate: float,
) -> float:
    """The sigma at which :func:`price` equals ``premium`` (Brent's method, scalar inputs).

    Parameters
    ----------
    premium
        Observed option premium per unit of underlying.

    Returns
    -------
    float
        Annualised volatility as a decimal, within [IMPLIED_VOL_MIN, IMPLIED_VOL_MAX].

    Raises
    ------
    ImpliedVolError
        If ``premium`` is not strictly inside the no-arbitrage bounds (call:
        ``e^{-rT} max(F-K, 0) < C < e^{-rT} F``; put: ``e^{-rT} max(K-F, 0) < P < e^{-rT} K``)
        or needs a volatility outside the search bracket.
    PricingInputError
        If any other argument is invalid, as :func:`price`.
    """
    f, k, t, _, r = _inputs(futures_price, strike, t_years, 1.0, rate)
    if f.ndim or k.ndim or t.ndim or r.ndim:
        raise PricingInputError("implied_vol takes scalar inputs only")
    premium_value = _finite_scalar("premium", premium)
    lower, upper = _premium_bounds(_is_call(kind), float(f), float(k), float(t), float(r))
    if not lower < premium_value < upper:
        raise ImpliedVolError(
            f"premium {premium_value!r} of the {kind} violates the no-arbitrage bounds "
            f"({lower!r}, {upper!r}) for futures_price={float(f)!r}, strike={float(k)!r}, "
            f"t_years={float(t)!r}, rate={float(r)!r}"
        )

    def excess(vol: float) -> float:
        model = price(kind, futures_price=f, strike=k, t_years=t, sigma=vol, rate=r)
        return float(model) - premium_value

    low_excess, high_excess = excess(IMPLIED_VOL_MIN), excess(IMPLIED_VOL_MAX)
    if low_excess > 0.0 or high_excess < 0.0:
        raise ImpliedVolError(
            f"premium {premium_value!r} of the {kind} needs a volatility outside "
            f"[{IMPLIED_VOL_MIN}, {IMPLIED_VOL_MAX}] (model premiums {low_excess + premium_value!r}"
            f" .. {high_excess + premium_value!r})"
        )
    return float(brentq(excess, IMPLIED_VOL_MIN, IMPLIED_VOL_MAX, xtol=1e-12, rtol=1e-12))


# --- helpers -------------------------------------------------------------------------------


def _premium_bounds(
    is_call: bool, f: float, k: float, t: float, r: float
) -> tuple[float, float]:
    disc = float(np.exp(-r * t))
    if is_call:
        return disc * max(f - k, 0.0), disc * f
    return disc * max(k - f, 0.0), disc * k


def _is_call(kind: object) -> bool:
    if kind == "call":
        return True
    if kind == "put":
        return False
    raise PricingInputError(f"kind must be 'call' or 'put', got {kind!r}")


def _d1_d2(
    f: np.ndarray, k: np.ndarray, t: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    sd = s * np.sqrt(t)
    d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
    return d1, d1 - sd


def _inputs(
    futures_price: ArrayLike, strike: ArrayLike, t_years: ArrayLike, sigma: ArrayLike,
    rate: ArrayLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        _positive("futures_price", futures_price),
        _positive("strike", strike),
        _positive("t_years", t_years),
        _positive("sigma", sigma),
        _finite("rate", rate),
    )


def _as_float_array(name: str, value: ArrayLike) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PricingInputError(f"{name} must be numeric, got {value!r}") from exc


def _finite(name: str, value: ArrayLike) -> np.ndarray:
    array = _as_float_array(name, value)
    bad = ~np.isfinite(array)
    if bad.any():
        raise PricingInputError(f"{name} must be finite, got {array[bad].flat[0]!r}")
    return array


def _positive(name: str, value: ArrayLike) -> np.ndarray:
    array = _as_float_array(name, value)
    bad = ~(np.isfinite(array) & (array > 0.0))
    if bad.any():
        raise PricingInputError(f"{name} must be finite and > 0, got {array[bad].flat[0]!r}")
    return array


def _finite_scalar(name: str, value: float) -> float:
    array = _finite(name, value)
    if array.ndim:
        raise PricingInputError(f"{name} must be a scalar, got shape {array.shape}")
    return float(array)


def _out(values: np.ndarray) -> FloatOrArray:
    array = np.asarray(values, dtype=np.float64)
    return float(array) if array.ndim == 0 else array
