"""A SPAN-like margin for NSE index futures and options, and the pre-trade margin check.

An APPROXIMATION of NSE Clearing's SPAN + exposure margin, for denying orders the account
could not carry; the clearing corporation's risk arrays and the broker's figures stay the
authority. Method (CME SPAN as adopted by NSE Clearing; :data:`RISK_SCENARIOS`, and the
parameters file ``live/risk/margin_params/<effective date>.yaml`` for the sources): per
underlying, every position revalued by Black-76 (:mod:`live.risk.black76`) at the one futures
price and volatility given for that underlying,

- scan risk = the largest weighted portfolio loss over the 16 risk scenarios, floored at 0;
- SPAN risk = max(scan risk, short option minimum charge);
- requirement = max(SPAN risk - net option value, 0) + exposure margin,

where net option value (NOV) is long options' value (a credit) minus short options' value (a
debit). The floor keeps long options' value from funding another underlying's margin, so a
long option needs its premium and nothing more.

Not modelled: calendar spread charge, inter-commodity credits, time decay inside scenarios,
a volatility smile, one futures price per expiry. On its expiry day an option is valued at
intrinsic value. Time to expiry is calendar days / 365.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from numbers import Real
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, NamedTuple

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from live.risk import black76
from strategies.errors import StratopsError

InstrumentKind = Literal["future", "call", "put"]
Market = Mapping[str, tuple[float, float]]  # underlying -> (futures price, annualised vol)

UNASSIGNED_STRATEGY = "unassigned"
DAYS_PER_YEAR = 365.0
VOL_FLOOR = 0.01  # a vol-down scenario never prices below 1 vol point


class MarginInputError(StratopsError, ValueError):
    """Positions, market data or a date the margin cannot be computed from (unknown
    underlying, NaN price, expired instrument, parameters not yet in force)."""


class MarginParamsError(StratopsError, ValueError):
    """A margin parameters file that is missing, malformed or out of range."""


@dataclass(frozen=True, slots=True)
class RiskScenario:
    """One row of the SPAN scenario table: moves in multiples of the scan ranges."""

    number: int
    price_move_scan_multiple: float
    vol_move_scan_multiple: float  # +1 up, -1 down, 0 unchanged
    loss_weight: float  # fraction of the scenario loss that counts


_THIRD = 1.0 / 3.0
# SPAN's 16 risk scenarios (CME SPAN's standard table, as the Indian clearing corporations
# publish it: price 0, +-1/3, +-2/3, +-3/3 of the price scan range, each with volatility up and
# down by the volatility scan range, all losses counted in full; and the two extreme moves,
# +-2x the price scan range at unchanged volatility, 35 % of their loss counted. Sources: NSE
# Clearing, "NSE Clearing SPAN" (nseclearing.in, risk arrays over these scenarios); BSE "Risk
# Management in Derivatives", worst scenario loss table; NISM/NCFM derivatives study texts.)
RISK_SCENARIOS: tuple[RiskScenario, ...] = (
    RiskScenario(1, 0.0, +1.0, 1.0),
    RiskScenario(2, 0.0, -1.0, 1.0),
    RiskScenario(3, +_THIRD, +1.0, 1.0),
    RiskScenario(4, +_THIRD, -1.0, 1.0),
    RiskScenario(5, -_THIRD, +1.0, 1.0),
    RiskScenario(6, -_THIRD, -1.0, 1.0),
    RiskScenario(7, +2 * _THIRD, +1.0, 1.0),
    RiskScenario(8, +2 * _THIRD, -1.0, 1.0),
    RiskScenario(9, -2 * _THIRD, +1.0, 1.0),
    RiskScenario(10, -2 * _THIRD, -1.0, 1.0),
    RiskScenario(11, +1.0, +1.0, 1.0),
    RiskScenario(12, +1.0, -1.0, 1.0),
    RiskScenario(13, -1.0, +1.0, 1.0),
    RiskScenario(14, -1.0, -1.0, 1.0),
    RiskScenario(15, +2.0, 0.0, 0.35),
    RiskScenario(16, -2.0, 0.0, 0.35),
)
_PRICE_MULTIPLES = np.array([s.price_move_scan_multiple for s in RISK_SCENARIOS])
_VOL_MULTIPLES = np.array([s.vol_move_scan_multiple for s in RISK_SCENARIOS])
_LOSS_WEIGHTS = np.array([s.loss_weight for s in RISK_SCENARIOS])


# --- instruments and positions -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Instrument:
    """An NSE index future or European index option; ``strike`` only for options."""

    symbol: str
    underlying: str
    kind: InstrumentKind
    expiry: date
    lot_size: int
    strike: float | None = None

    def __post_init__(self) -> None:
        name = self.symbol
        if self.kind not in ("future", "call", "put"):
            raise MarginInputError(f"{name}: kind must be future|call|put, got {self.kind!r}")
        lots = self.lot_size
        if isinstance(lots, bool) or not isinstance(lots, int) or lots <= 0:
            raise MarginInputError(f"{name}: lot_size must be an int > 0, got {lots!r}")
        if self.kind == "future" and self.strike is not None:
            raise MarginInputError(f"{name}: a future has no strike, got {self.strike!r}")
        if self.kind != "future" and not _is_positive(self.strike):
            raise MarginInputError(f"{name}: option strike must be > 0, got {self.strike!r}")
        if isinstance(self.expiry, datetime) or not isinstance(self.expiry, date):
            raise MarginInputError(f"{name}: expiry must be a date, got {self.expiry!r}")

    @property
    def is_option(self) -> bool:
        return self.kind != "future"


@dataclass(frozen=True, slots=True)
class Position:
    """A signed holding in lots (+ long, - short), attributed to a strategy."""

    instrument: Instrument
    qty_lots: int
    strategy: str = UNASSIGNED_STRATEGY

    def __post_init__(self) -> None:
        lots = self.qty_lots
        if isinstance(lots, bool) or not isinstance(lots, int):
            symbol = self.instrument.symbol
            raise MarginInputError(f"{symbol}: qty_lots must be an int, got {lots!r}")
        if not isinstance(self.strategy, str) or not self.strategy:
            raise MarginInputError(f"strategy must be a non-empty str, got {self.strategy!r}")

    @property
    def qty_units(self) -> int:
        return self.qty_lots * self.instrument.lot_size


def apply_change(
    positions: Sequence[Position], change: Position | Sequence[Position]
) -> tuple[Position, ...]:
    """Positions after ``change`` (signed lots), netted per (instrument, strategy); flat rows
    dropped. Neither input is modified."""
    changes = (change,) if isinstance(change, Position) else tuple(change)
    net: dict[tuple[Instrument, str], int] = {}
    for position in (*positions, *changes):
        key = (position.instrument, position.strategy)
        net[key] = net.get(key, 0) + position.qty_lots
    return tuple(Position(inst, qty, strat) for (inst, strat), qty in net.items() if qty != 0)


# --- parameters ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class UnderlyingMarginParams:
    """One underlying's margin parameters, as fractions (0.093 = 9.3 %)."""

    price_scan_range_frac: float
    vol_scan_relative_frac: float
    vol_scan_min: float  # in sigma units: 0.04 = 4 vol points
    exposure_margin_frac: float
    short_option_minimum_frac: float
    expiry_day_short_option_exposure_frac: float

    def vol_scan_range(self, sigma: float) -> float:
        """Volatility shift of the vol-up/down scenarios for current volatility ``sigma``."""
        return max(self.vol_scan_relative_frac * sigma, self.vol_scan_min)


@dataclass(frozen=True, kw_only=True, slots=True)
class MarginParams:
    """A dated, validated margin parameter set (see the YAML file for sources)."""

    effective_from: date
    discount_rate: float  # continuously compounded, decimal
    underlyings: Mapping[str, UnderlyingMarginParams]
    source: str

    def for_underlying(self, underlying: str) -> UnderlyingMarginParams:
        """Parameters of ``underlying``; :class:`MarginInputError` if the file has none."""
        try:
            return self.underlyings[underlying]
        except KeyError:
            raise MarginInputError(
                f"no margin parameters for underlying {underlying!r} in {self.source}; known: "
                f"{sorted(self.underlyings)}"
            ) from None


_Pct = Annotated[float, Field(strict=False, ge=0.0, le=100.0, allow_inf_nan=False)]


class _UnderlyingModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    price_scan_range_pct: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)]
    volatility_scan_range_relative_pct: _Pct
    volatility_scan_range_min_vol_points: _Pct
    exposure_margin_pct: _Pct
    short_option_minimum_pct: _Pct
    expiry_day_short_option_exposure_pct: _Pct


class _ParamsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    effective_from: date
    currency: Literal["INR"]
    discount_rate_pct: Annotated[float, Field(ge=-10.0, le=100.0, allow_inf_nan=False)]
    underlyings: dict[str, _UnderlyingModel] = Field(min_length=1)


def load_margin_params(path: Path) -> MarginParams:
    """Load and validate a dated margin parameters file; percentages become fractions.

    Raises
    ------
    MarginParamsError
        If the file is missing, not valid YAML, fails validation, or its name (``YYYY-MM-DD``)
        differs from its ``effective_from``.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MarginParamsError(f"cannot read margin parameters {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise MarginParamsError(f"margin parameters {path} are not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MarginParamsError(f"margin parameters {path} must be a mapping, got {raw!r:.80}")
    try:
        model = _ParamsModel.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r:.60})"
            for e in exc.errors()
        )
        raise MarginParamsError(f"invalid margin parameters {path}: {problems}") from exc
    if path.stem != model.effective_from.isoformat():
        raise MarginParamsError(
            f"margin parameters file {path.name} must be named after its effective_from "
            f"{model.effective_from.isoformat()}"
        )
    return MarginParams(
        effective_from=model.effective_from,
        discount_rate=model.discount_rate_pct / 100.0,
        underlyings=MappingProxyType(
            {name: _to_fractions(entry) for name, entry in model.underlyings.items()}
        ),
        source=str(path),
    )


def _to_fractions(entry: _UnderlyingModel) -> UnderlyingMarginParams:
    return UnderlyingMarginParams(
        price_scan_range_frac=entry.price_scan_range_pct / 100.0,
        vol_scan_relative_frac=entry.volatility_scan_range_relative_pct / 100.0,
        vol_scan_min=entry.volatility_scan_range_min_vol_points / 100.0,
        exposure_margin_frac=entry.exposure_margin_pct / 100.0,
        short_option_minimum_frac=entry.short_option_minimum_pct / 100.0,
        expiry_day_short_option_exposure_frac=entry.expiry_day_short_option_exposure_pct / 100.0,
    )


# --- margin --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class UnderlyingMargin:
    """Margin components of one underlying, in INR."""

    underlying: str
    scenario_losses_inr: tuple[float, ...]  # weighted, in RISK_SCENARIOS order; gains < 0
    worst_scenario: int  # RiskScenario.number of the largest weighted loss
    scan_risk_inr: float
    short_option_min_inr: float
    nov_inr: float  # long options' value - short options' value
    exposure_inr: float
    total_inr: float


@dataclass(frozen=True, kw_only=True, slots=True)
class MarginBreakdown:
    """Portfolio margin: sums over underlyings, and each underlying's components."""

    scan_risk_inr: float
    exposure_inr: float
    nov_inr: float
    short_option_min_inr: float
    total_inr: float
    worst_scenario: Mapping[str, int]
    by_underlying: Mapping[str, UnderlyingMargin]


class MarginCheck(NamedTuple):
    """Answer of :func:`post_trade_margin_ok`."""

    ok: bool
    required_inr: float
    available_inr: float


def margin_required(
    positions: Sequence[Position], market: Market, params: MarginParams, today: date
) -> MarginBreakdown:
    """SPAN-like margin of ``positions`` (see the module docstring for the method).

    Parameters
    ----------
    market
        ``{underlying: (futures_price, vol)}``: futures price in index points and annualised
        volatility as a decimal, one pair per underlying held.
    today
        Exchange-local trade date: sets time to expiry and must be on or after
        ``params.effective_from``.

    Raises
    ------
    MarginInputError
        For an underlying without parameters or market data, a NaN/non-positive price or
        volatility, an expired instrument, or ``today`` before the parameters are in force.
    """
    _check_today(today, params)
    netted: dict[Instrument, int] = {}
    for position in positions:
        netted[position.instrument] = netted.get(position.instrument, 0) + position.qty_lots
    by_underlying: dict[str, list[tuple[Instrument, int]]] = {}
    for instrument, qty_lots in netted.items():
        if qty_lots != 0:
            by_underlying.setdefault(instrument.underlying, []).append((instrument, qty_lots))
    parts = {
        name: _underlying_margin(name, held, market, params, today)
        for name, held in sorted(by_underlying.items())
    }
    return MarginBreakdown(
        scan_risk_inr=math.fsum(p.scan_risk_inr for p in parts.values()),
        exposure_inr=math.fsum(p.exposure_inr for p in parts.values()),
        nov_inr=math.fsum(p.nov_inr for p in parts.values()),
        short_option_min_inr=math.fsum(p.short_option_min_inr for p in parts.values()),
        total_inr=math.fsum(p.total_inr for p in parts.values()),
        worst_scenario={name: p.worst_scenario for name, p in parts.items()},
        by_underlying=parts,
    )


def post_trade_margin_ok(
    current_positions: Sequence[Position],
    proposed_position_change: Position | Sequence[Position],
    market: Market,
    params: MarginParams,
    available_capital_inr: float,
    today: date,
) -> MarginCheck:
    """Whether the account can carry its margin after the proposed change.

    ``available_capital_inr`` is the cash/collateral balance now. Option premium of the change
    (valued by Black-76, as NOV values it) moves it: paid for buys, received for sells. The
    order passes if the post-trade requirement is at most the post-trade balance.

    Raises
    ------
    MarginInputError
        As :func:`margin_required`, or if ``available_capital_inr`` is not finite.
    """
    if not _is_finite(available_capital_inr):
        raise MarginInputError(
            f"available_capital_inr must be finite, got {available_capital_inr!r}"
        )
    after = apply_change(current_positions, proposed_position_change)
    required_inr = margin_required(after, market, params, today).total_inr
    changes = apply_change((), proposed_position_change)
    premium_paid_inr = sum(
        change.qty_units * _value_now(change.instrument, market, params, today)
        for change in changes
        if change.instrument.is_option
    )
    available_inr = float(available_capital_inr) - premium_paid_inr
    return MarginCheck(required_inr <= available_inr, required_inr, available_inr)


def _underlying_margin(
    underlying: str, held: list[tuple[Instrument, int]], market: Market,
    params: MarginParams, today: date,
) -> UnderlyingMargin:
    knobs = params.for_underlying(underlying)
    futures_price, sigma = _market_for(underlying, market)
    scan_f = futures_price * (1.0 + _PRICE_MULTIPLES * knobs.price_scan_range_frac)
    vol_shift = knobs.vol_scan_range(sigma)
    scan_vol = np.maximum(sigma + _VOL_MULTIPLES * vol_shift, VOL_FLOOR)
    pnl_inr = np.zeros(len(RISK_SCENARIOS))
    nov_inr = short_notional_inr = expiring_short_notional_inr = futures_notional_inr = 0.0
    for instrument, qty_lots in held:
        units = qty_lots * instrument.lot_size
        value_now = _value(instrument, futures_price, sigma, params.discount_rate, today)
        value_scan = _value(instrument, scan_f, scan_vol, params.discount_rate, today)
        pnl_inr += units * (value_scan - value_now)
        notional_inr = abs(units) * futures_price
        if not instrument.is_option:
            futures_notional_inr += notional_inr
            continue
        nov_inr += units * float(value_now)
        if units < 0:
            short_notional_inr += notional_inr
            expiring_short_notional_inr += notional_inr if instrument.expiry == today else 0.0
    weighted_loss_inr = -pnl_inr * _LOSS_WEIGHTS
    worst = int(np.argmax(weighted_loss_inr))
    scan_risk_inr = max(float(weighted_loss_inr[worst]), 0.0)
    somc_inr = knobs.short_option_minimum_frac * short_notional_inr
    exposure_inr = (
        knobs.exposure_margin_frac * (futures_notional_inr + short_notional_inr)
        + knobs.expiry_day_short_option_exposure_frac * expiring_short_notional_inr
    )
    return UnderlyingMargin(
        underlying=underlying,
        scenario_losses_inr=tuple(float(x) for x in weighted_loss_inr),
        worst_scenario=RISK_SCENARIOS[worst].number,
        scan_risk_inr=scan_risk_inr,
        short_option_min_inr=somc_inr,
        nov_inr=nov_inr,
        exposure_inr=exposure_inr,
        total_inr=max(max(scan_risk_inr, somc_inr) - nov_inr, 0.0) + exposure_inr,
    )


def _value(
    instrument: Instrument, futures_price: float | np.ndarray, sigma: float | np.ndarray,
    rate: float, today: date,
) -> np.ndarray:
    """Per-unit value: the futures price for a future, Black-76 premium for an option."""
    days = (instrument.expiry - today).days
    if days < 0:
        raise MarginInputError(
            f"{instrument.symbol} expired on {instrument.expiry.isoformat()} (today {today})"
        )
    f = np.asarray(futures_price, dtype=np.float64)
    if not instrument.is_option:
        return f
    strike = float(instrument.strike)  # type: ignore[arg-type]  # checked by Instrument
    if days == 0:
        payoff = f - strike if instrument.kind == "call" else strike - f
        return np.maximum(payoff, 0.0)
    premium = black76.price(
        instrument.kind,  # type: ignore[arg-type]  # an option here: "call" or "put"
        futures_price=f, strike=strike, t_years=days / DAYS_PER_YEAR, sigma=sigma, rate=rate,
    )
    return np.asarray(premium)


def _value_now(instrument: Instrument, market: Market, params: MarginParams, today: date) -> float:
    futures_price, sigma = _market_for(instrument.underlying, market)
    return float(_value(instrument, futures_price, sigma, params.discount_rate, today))


def _market_for(underlying: str, market: Market) -> tuple[float, float]:
    try:
        futures_price, sigma = market[underlying]
    except KeyError:
        raise MarginInputError(f"no market data (futures price, vol) for {underlying!r}") from None
    if not _is_positive(futures_price):
        raise MarginInputError(
            f"{underlying}: futures price must be finite and > 0, got {futures_price!r}"
        )
    if not _is_positive(sigma):
        raise MarginInputError(f"{underlying}: volatility must be finite and > 0, got {sigma!r}")
    return float(futures_price), float(sigma)


def _check_today(today: date, params: MarginParams) -> None:
    if isinstance(today, datetime) or not isinstance(today, date):
        raise MarginInputError(f"today must be a date (exchange-local), got {today!r}")
    if today < params.effective_from:
        raise MarginInputError(
            f"margin parameters {params.source} are in force from "
            f"{params.effective_from.isoformat()}, not on {today.isoformat()}"
        )


def _is_finite(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_positive(value: object) -> bool:
    return _is_finite(value) and value > 0  # type: ignore[operator]  # a finite Real here
