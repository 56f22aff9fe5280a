"""Exposure of a book, before and after an order: INR notional buckets and greeks per underlying.

Notional (INR) of a position is ``qty_lots x lot_size x futures price of its underlying``,
signed by the position's side (a long put has a positive notional: it is the CONTRACT's
notional; the direction of its price exposure is in the greeks). Buckets, per dimension:

- ``gross_inr``: sum of |notional|; ``net_inr``: sum of signed notional;
- dimensions ``symbol`` (contract), ``underlying``, ``sector`` (from a mapping of
  underlyings), ``strategy`` and ``expiry`` (ISO date).

Greeks per underlying, with Black-76 (:mod:`live.risk.black76`) for options and delta 1 for
futures, all summed over ``qty_lots x lot_size`` units:

- ``delta_units``: underlying-equivalent units (a long future of one 75-unit lot is 75);
- ``delta_inr``: ``delta_units x futures price``, the INR change per 100 % move;
- ``gamma_units_per_point``: change of ``delta_units`` per 1 point of the futures price;
- ``vega_inr_per_vol_pt``: INR change for a 1 vol point (sigma +0.01) rise.

An option on its expiry day is given one day to expiry, so its (large) greeks are shown, not
hidden. Time to expiry is calendar days / 365 (as in :mod:`live.risk.margin`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from numbers import Real
from typing import NamedTuple

from live.risk import black76
from live.risk.margin import DAYS_PER_YEAR, Instrument, Market, Position, apply_change
from strategies.errors import StratopsError

NOTIONAL_MEASURES = ("gross_inr", "net_inr")
NOTIONAL_DIMENSIONS = ("symbol", "underlying", "sector", "strategy", "expiry")
GREEK_MEASURES = ("delta_units", "delta_inr", "gamma_units_per_point", "vega_inr_per_vol_pt")
GREEK_DIMENSION = "underlying"
WILDCARD = "*"  # a cap on every bucket of its measure and dimension without a cap of its own
SEPARATOR = "/"


class ExposureInputError(StratopsError, ValueError):
    """Positions, market data, a sector mapping or a cap the exposure cannot be computed or
    checked from; the message names the value."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExposureContext:
    """What exposure needs besides positions: market, date, sectors and the discount rate."""

    market: Market  # underlying -> (futures price in points, annualised vol as a decimal)
    today: date  # exchange-local trade date
    sector_by_underlying: Mapping[str, str]
    rate: float  # Black-76 discount rate, continuously compounded decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class UnderlyingGreeks:
    """Greeks of all positions in one underlying (units in the module docstring)."""

    delta_units: float
    delta_inr: float
    gamma_units_per_point: float
    vega_inr_per_vol_pt: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Exposure:
    """Notional buckets ``{measure: {dimension: {name: inr}}}`` and greeks per underlying."""

    notional: Mapping[str, Mapping[str, Mapping[str, float]]]
    greeks: Mapping[str, UnderlyingGreeks]

    def buckets(self) -> dict[str, float]:
        """Every bucket as ``"measure/dimension/name" -> value``, e.g.
        ``"gross_inr/strategy/ema_cross"`` or ``"delta_units/underlying/NIFTY"``."""
        flat = {
            bucket_name(measure, dimension, name): value
            for measure, by_dimension in self.notional.items()
            for dimension, by_name in by_dimension.items()
            for name, value in by_name.items()
        }
        for underlying, greeks in self.greeks.items():
            for measure in GREEK_MEASURES:
                flat[bucket_name(measure, GREEK_DIMENSION, underlying)] = getattr(greeks, measure)
        return flat


class CapViolation(NamedTuple):
    """A bucket whose |value| exceeds its cap."""

    bucket: str
    value: float
    cap: float


def bucket_name(measure: str, dimension: str, name: str) -> str:
    """The key of a bucket in :meth:`Exposure.buckets` and in caps."""
    return f"{measure}{SEPARATOR}{dimension}{SEPARATOR}{name}"


def exposure_of(positions: Sequence[Position], context: ExposureContext) -> Exposure:
    """Exposure of ``positions`` (see the module docstring for buckets and units).

    Raises
    ------
    ExposureInputError
        For an underlying without market data or sector, a NaN/non-positive futures price or
        volatility, an expired option, or a ``today`` that is not a date.
    """
    _check_today(context.today)
    gross: dict[str, dict[str, float]] = {d: defaultdict(float) for d in NOTIONAL_DIMENSIONS}
    net: dict[str, dict[str, float]] = {d: defaultdict(float) for d in NOTIONAL_DIMENSIONS}
    greeks: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for position in positions:
        if position.qty_lots == 0:
            continue
        instrument = position.instrument
        futures_price, sigma = _market_for(instrument.underlying, context.market)
        units = position.qty_units
        notional_inr = units * futures_price
        for dimension, name in _bucket_names(position, context).items():
            gross[dimension][name] += abs(notional_inr)
            net[dimension][name] += notional_inr
        per_unit = _greeks_per_unit(instrument, futures_price, sigma, context)
        totals = greeks[instrument.underlying]
        for i, value in enumerate(per_unit):
            totals[i] += units * value
    return Exposure(
        notional={"gross_inr": _plain(gross), "net_inr": _plain(net)},
        greeks={
            underlying: UnderlyingGreeks(
                delta_units=delta_units,
                delta_inr=delta_units * _market_for(underlying, context.market)[0],
                gamma_units_per_point=gamma,
                vega_inr_per_vol_pt=vega_inr,
            )
            for underlying, (delta_units, gamma, vega_inr) in sorted(greeks.items())
        },
    )


def exposure_after(
    positions: Sequence[Position], change: Position | Sequence[Position],
    context: ExposureContext,
) -> Exposure:
    """Exposure once ``change`` (signed lots per instrument and strategy) is filled.

    Raises
    ------
    ExposureInputError
        As :func:`exposure_of`.
    """
    return exposure_of(apply_change(positions, change), context)


def exposure_violations(exposure: Exposure, caps: Mapping[str, float]) -> list[CapViolation]:
    """Buckets whose absolute value is above their cap (equal passes), sorted by bucket.

    Parameters
    ----------
    caps
        ``"measure/dimension/name" -> cap`` with ``name`` ``"*"`` for every bucket of that
        measure and dimension that has no cap of its own (e.g. ``"net_inr/strategy/*"``).
        Measures: ``gross_inr``/``net_inr`` over ``symbol``, ``underlying``, ``sector``,
        ``strategy``, ``expiry``; greeks (``delta_units``, ``delta_inr``,
        ``gamma_units_per_point``, ``vega_inr_per_vol_pt``) over ``underlying``. A cap on a
        bucket the book does not hold is met (its value is 0).

    Raises
    ------
    ExposureInputError
        For a malformed cap key or a cap that is not a finite number >= 0.
    """
    parsed = {_parse_cap_key(key): _check_cap(key, cap) for key, cap in caps.items()}
    violations = []
    for key, value in exposure.buckets().items():
        measure, dimension, name = key.split(SEPARATOR, 2)
        cap = parsed.get((measure, dimension, name), parsed.get((measure, dimension, WILDCARD)))
        if cap is not None and abs(value) > cap:
            violations.append(CapViolation(key, value, cap))
    return sorted(violations)


# --- helpers -------------------------------------------------------------------------------


def _bucket_names(position: Position, context: ExposureContext) -> dict[str, str]:
    instrument = position.instrument
    sector = context.sector_by_underlying.get(instrument.underlying)
    if sector is None:
        raise ExposureInputError(
            f"no sector for underlying {instrument.underlying!r} ({instrument.symbol}); "
            f"mapped: {sorted(context.sector_by_underlying)}"
        )
    return {
        "symbol": instrument.symbol,
        "underlying": instrument.underlying,
        "sector": sector,
        "strategy": position.strategy,
        "expiry": instrument.expiry.isoformat(),
    }


def _greeks_per_unit(
    instrument: Instrument, futures_price: float, sigma: float, context: ExposureContext
) -> tuple[float, float, float]:
    """(delta, gamma per point, vega in INR per vol point) of one unit."""
    if not instrument.is_option:
        return 1.0, 0.0, 0.0
    days = (instrument.expiry - context.today).days
    if days < 0:
        raise ExposureInputError(
            f"{instrument.symbol} expired on {instrument.expiry.isoformat()} "
            f"(today {context.today.isoformat()})"
        )
    inputs = {
        "futures_price": futures_price, "strike": instrument.strike,
        "t_years": max(days, 1) / DAYS_PER_YEAR, "sigma": sigma, "rate": context.rate,
    }
    try:
        return (
            # an option here: kind "call"/"put" and a strike (checked by Instrument)
            float(black76.delta(instrument.kind, **inputs)),  # type: ignore[arg-type]  # above
            float(black76.gamma(**inputs)),  # type: ignore[arg-type]  # above
            float(black76.vega_per_vol_point(**inputs)),  # type: ignore[arg-type]  # above
        )
    except black76.PricingInputError as exc:
        raise ExposureInputError(f"{instrument.symbol}: {exc}") from exc


def _market_for(underlying: str, market: Market) -> tuple[float, float]:
    try:
        futures_price, sigma = market[underlying]
    except KeyError:
        message = f"no market data (futures price, vol) for {underlying!r}"
        raise ExposureInputError(message) from None
    for label, value in (("futures price", futures_price), ("volatility", sigma)):
        if not (isinstance(value, Real) and math.isfinite(value) and value > 0):
            raise ExposureInputError(f"{underlying}: {label} must be finite and > 0, got {value!r}")
    return float(futures_price), float(sigma)


def _parse_cap_key(key: str) -> tuple[str, str, str]:
    parts = key.split(SEPARATOR, 2) if isinstance(key, str) else []
    if len(parts) != 3 or not parts[2]:
        raise ExposureInputError(f"cap key {key!r} is not 'measure/dimension/name'")
    measure, dimension, _ = parts
    if measure in NOTIONAL_MEASURES:
        allowed: tuple[str, ...] = NOTIONAL_DIMENSIONS
    elif measure in GREEK_MEASURES:
        allowed = (GREEK_DIMENSION,)
    else:
        raise ExposureInputError(
            f"cap key {key!r}: unknown measure {measure!r}; known: "
            f"{[*NOTIONAL_MEASURES, *GREEK_MEASURES]}"
        )
    if dimension not in allowed:
        raise ExposureInputError(f"cap key {key!r}: {measure} has no dimension {dimension!r}")
    return measure, dimension, parts[2]


def _check_cap(key: str, cap: object) -> float:
    if isinstance(cap, bool) or not isinstance(cap, Real) or not math.isfinite(cap):
        raise ExposureInputError(f"cap {key!r} must be a finite number, got {cap!r}")
    if cap < 0:
        raise ExposureInputError(f"cap {key!r} must be >= 0, got {cap!r}")
    return float(cap)


def _check_today(today: object) -> None:
    if isinstance(today, datetime) or not isinstance(today, date):
        raise ExposureInputError(f"today must be a date (exchange-local), got {today!r}")


def _plain(buckets: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {dimension: dict(sorted(names.items())) for dimension, names in buckets.items()}
