"""Risk limits: the reviewed ``risk.yaml``, typed and checked for contradictions.

Sections: ``pre_trade`` (price collar, daily price band, order size/value, open orders,
message rate, duplicates, reference freshness), ``post_trade`` (insane-fill alert),
``positions`` (net lots per symbol, strategy, expiry),
``exposure`` (INR gross/net caps, sectors, greeks caps), ``margin``, ``portfolio`` (VaR and
stress scenarios), ``drawdown`` (soft throttle, hard flatten, lockout windows) and
``kill_switch`` (automatic triggers), ``orders`` (NSE/Kite order rules:
:mod:`live.orders.rules`) and ``execution`` (the per-order impact budget:
:mod:`live.impact.budget`). Loading fails closed: unknown keys, missing or
negative values, limits that contradict each other and (when given) unknown symbols or
strategies are refused with the file, the dotted field and the value named.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, time
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from live.orders.rules import OrderRules
from strategies.errors import StratopsError

T = TypeVar("T")
DEFAULT_KEY = "default"  # the fallback entry of every per-name mapping
EXCHANGE_MAX_ORDER_VALUE_INR = 100_000_000  # NSE F&O: INR 10 crore per order
UNREGISTERED_ALGO_OPS = 10  # NSE/SEBI: at or above this many orders/s an algo must register
# NSE index futures: the daily operating range is 10 % around the base price (the previous
# session's close); the exchange widens it in steps during a session, never beyond 20 %
DEFAULT_PRICE_BAND_PCT = 10.0
MAX_PRICE_BAND_PCT = 20.0
DEFAULT_INSANE_FILL_PCT = 5.0  # a fill this far from its order's reference price alerts

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_INNER_FIELD = re.compile(r"^([a-z_][\w.]*): ")


class RiskLimitsError(StratopsError, ValueError):
    """``risk.yaml`` is missing, malformed or contradictory; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _with_default(mapping: dict[str, Any], positive: bool = True) -> dict[str, Any]:
    """A per-name mapping: it needs a ``default`` entry, and numbers in it must be > 0."""
    if DEFAULT_KEY not in mapping:
        raise ValueError(f"needs a {DEFAULT_KEY!r} entry (got keys {sorted(mapping)})")
    bad = {k: v for k, v in mapping.items() if positive and not v > 0}
    if bad:
        raise ValueError(f"values must be > 0, got {bad}")
    return mapping


def by_name(mapping: Mapping[str, T], name: str) -> T:
    """``mapping[name]``, else ``mapping['default']`` (every per-name mapping has one)."""
    found = mapping.get(name)
    return mapping[DEFAULT_KEY] if found is None else found


# --- pre-trade ----------------------------------------------------------------------------


class PreTradeLimits(_Strict):
    price_collar_pct: float = Field(gt=0.0, le=20.0)
    max_qty_per_order: int = Field(ge=1)
    max_lots_per_order: int = Field(ge=1)
    max_order_value_inr: float = Field(gt=0.0)
    max_open_orders: int = Field(ge=1)
    max_open_order_value_inr: float = Field(gt=0.0)
    max_orders_per_second: int = Field(default=8, ge=1)
    duplicate_window_seconds: float = Field(ge=0.0)
    reference_max_age_seconds: float = Field(gt=0.0)
    price_band_pct: dict[str, float] = Field(
        default_factory=lambda: {DEFAULT_KEY: DEFAULT_PRICE_BAND_PCT})

    @field_validator("price_band_pct")
    @classmethod
    def _band_per_symbol(cls, mapping: dict[str, float]) -> dict[str, float]:
        wide = {k: v for k, v in _with_default(mapping).items() if v > MAX_PRICE_BAND_PCT}
        if wide:
            raise ValueError(f"values must be <= {MAX_PRICE_BAND_PCT:g} (the widest NSE "
                             f"operating range), got {wide}")
        return mapping

    @field_validator("max_order_value_inr")
    @classmethod
    def _below_exchange_limit(cls, value: float) -> float:
        if value >= EXCHANGE_MAX_ORDER_VALUE_INR:
            raise ValueError(f"must be < {EXCHANGE_MAX_ORDER_VALUE_INR} (the exchange's INR 10 "
                             "crore per-order limit)")
        return value

    @field_validator("max_orders_per_second")
    @classmethod
    def _below_algo_threshold(cls, value: int) -> int:
        if value >= UNREGISTERED_ALGO_OPS:
            raise ValueError(f"must be < {UNREGISTERED_ALGO_OPS} (NSE's orders-per-second "
                             "threshold for unregistered algos)")
        return value

    @model_validator(mode="after")
    def _open_value_covers_one_order(self) -> PreTradeLimits:
        if self.max_open_order_value_inr < self.max_order_value_inr:
            raise ValueError(
                f"max_open_order_value_inr: {self.max_open_order_value_inr:g} < "
                f"max_order_value_inr {self.max_order_value_inr:g}: no full-size order fits")
        return self


class PostTradeLimits(_Strict):
    """Checks on what the broker reports back: a fill more than ``insane_fill_pct`` from
    its order's reference price raises a critical ``insane_fill`` alert."""

    insane_fill_pct: float = Field(default=DEFAULT_INSANE_FILL_PCT, gt=0.0, le=50.0)


# --- positions and exposure ---------------------------------------------------------------


class PositionLimits(_Strict):
    max_net_lots_per_symbol: dict[str, int]
    max_net_lots_per_strategy: dict[str, int]
    max_lots_per_expiry: int = Field(ge=1)

    @field_validator("max_net_lots_per_symbol", "max_net_lots_per_strategy")
    @classmethod
    def _per_name(cls, mapping: dict[str, int]) -> dict[str, int]:
        return _with_default(mapping)


class ExposureCaps(_Strict):
    """INR notional caps (gross or net) by symbol, sector, strategy and one per expiry."""

    symbol: dict[str, float]
    sector: dict[str, float]
    strategy: dict[str, float]
    expiry: float = Field(gt=0.0)

    @field_validator("symbol", "sector", "strategy")
    @classmethod
    def _per_name(cls, mapping: dict[str, float]) -> dict[str, float]:
        return _with_default(mapping)


class GreeksCaps(_Strict):
    """Absolute caps per underlying: delta in underlying units, gamma in units per index
    point, vega in INR per volatility point."""

    delta_units: float = Field(gt=0.0)
    gamma_units_per_point: float = Field(gt=0.0)
    vega_inr_per_vol_pt: float = Field(gt=0.0)


class ExposureLimits(_Strict):
    sectors: dict[str, str] = Field(min_length=1)
    gross_inr: ExposureCaps
    net_inr: ExposureCaps
    greeks: dict[str, GreeksCaps]

    @field_validator("greeks")
    @classmethod
    def _per_name(cls, mapping: dict[str, GreeksCaps]) -> dict[str, GreeksCaps]:
        return _with_default(mapping, positive=False)

    @model_validator(mode="after")
    def _consistent(self) -> ExposureLimits:
        for side in ("gross_inr", "net_inr"):
            caps = getattr(self, side).sector
            unknown = sorted(set(caps) - set(self.sectors.values()) - {DEFAULT_KEY})
            if unknown:
                raise ValueError(f"{side}.sector: {unknown} are no symbol's sector in "
                                 f"sectors {self.sectors}")
        for dim in ("symbol", "sector", "strategy"):
            gross, net = getattr(self.gross_inr, dim), getattr(self.net_inr, dim)
            for name in sorted({*gross, *net}):
                if by_name(net, name) > by_name(gross, name):
                    raise ValueError(f"net_inr.{dim}.{name}: {by_name(net, name):g} > "
                                     f"gross_inr.{dim}.{name} {by_name(gross, name):g}")
        if self.net_inr.expiry > self.gross_inr.expiry:
            raise ValueError(f"net_inr.expiry: {self.net_inr.expiry:g} > gross_inr.expiry "
                             f"{self.gross_inr.expiry:g}")
        return self


# --- margin, portfolio, drawdown, kill switch ---------------------------------------------


class MarginConfig(_Strict):
    available_capital_inr: float = Field(gt=0.0)
    params_file: str  # dated SPAN-like parameters, relative to the repository root

    @field_validator("params_file")
    @classmethod
    def _dated_relative_yaml(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or path.suffix != ".yaml":
            raise ValueError("must be a relative path to a .yaml file")
        try:
            date.fromisoformat(path.stem)
        except ValueError:
            raise ValueError("file name must be its ISO date, e.g. 2025-01-01.yaml") from None
        return value


class StressScenario(_Strict):
    """``gap``: every underlying moves by ``size`` (signed fraction); ``vol_shock``: implied
    vols scale by ``1 + size``; ``correlation_one``: all underlyings move together by
    ``size`` (signed fraction), hedges across them ignored."""

    name: str = Field(min_length=1)
    kind: Literal["gap", "vol_shock", "correlation_one"]
    size: float

    @model_validator(mode="after")
    def _size_fits_kind(self) -> StressScenario:
        if self.kind == "vol_shock" and not 0.0 < self.size <= 5.0:
            raise ValueError(f"size: vol_shock needs (0, 5], got {self.size}")
        if self.kind != "vol_shock" and not (-1.0 < self.size < 1.0 and self.size != 0.0):
            raise ValueError(f"size: {self.kind} needs a non-zero fraction in (-1, 1), "
                             f"got {self.size}")
        return self


class PortfolioLimits(_Strict):
    var_confidence: float = Field(ge=0.95, le=0.99)
    horizon_days: int = Field(ge=1)
    lookback_days: int = Field(ge=1)
    max_var_utilisation: float = Field(gt=0.0, le=1.0)
    stress_scenarios: tuple[StressScenario, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> PortfolioLimits:
        if self.lookback_days <= self.horizon_days:
            raise ValueError(f"lookback_days: {self.lookback_days} must exceed horizon_days "
                             f"{self.horizon_days}")
        names = [s.name for s in self.stress_scenarios]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stress_scenarios: names repeat: {dupes}")
        return self


class DrawdownBand(_Strict):
    """Drawdown from peak equity in percent: above ``soft_pct`` sizes scale by
    ``soft_scale``; at ``hard_pct`` flatten and lock out for the rest of the session."""

    soft_pct: float = Field(gt=0.0)
    hard_pct: float = Field(gt=0.0, le=100.0)
    soft_scale: float = Field(gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _soft_below_hard(self) -> DrawdownBand:
        if self.soft_pct >= self.hard_pct:
            raise ValueError(f"soft_pct: {self.soft_pct:g} must be < hard_pct "
                             f"{self.hard_pct:g}")
        return self


class LockoutWindow(_Strict):
    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_hhmm(cls, value: object) -> object:
        if not isinstance(value, str) or not _HHMM.match(value):
            raise ValueError('must be a quoted "HH:MM" string (YAML reads unquoted 9:20 as 560)')
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> LockoutWindow:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end:%H:%M} is not after start {self.start:%H:%M}")
        return self


class DrawdownLimits(_Strict):
    strategy: dict[str, DrawdownBand]
    portfolio: DrawdownBand
    lockout_windows: tuple[LockoutWindow, ...] = ()

    @field_validator("strategy")
    @classmethod
    def _per_name(cls, mapping: dict[str, DrawdownBand]) -> dict[str, DrawdownBand]:
        return _with_default(mapping, positive=False)


class KillSwitchLimits(_Strict):
    max_daily_loss_inr: float = Field(gt=0.0)
    max_strategy_daily_loss_inr: float = Field(gt=0.0)
    max_abs_1min_return_pct: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _strategy_within_portfolio(self) -> KillSwitchLimits:
        if self.max_strategy_daily_loss_inr > self.max_daily_loss_inr:
            raise ValueError(
                f"max_strategy_daily_loss_inr: {self.max_strategy_daily_loss_inr:g} > "
                f"max_daily_loss_inr {self.max_daily_loss_inr:g}")
        return self


DEFAULT_MAX_IMPACT_BPS = 10.0
DEFAULT_IMPACT_CALIBRATION = "data/calibration/impact.json"


class ExecutionLimits(_Strict):
    """Per-order cost budget: an entry whose pre-trade impact estimate exceeds
    ``max_impact_bps`` is denied (an exit only alerts); the estimate's parameters come from
    ``calibration_file`` (repo-relative; missing: literature values, said so)."""

    max_impact_bps: float = Field(default=DEFAULT_MAX_IMPACT_BPS, gt=0.0, le=500.0)
    calibration_file: str = DEFAULT_IMPACT_CALIBRATION

    @field_validator("calibration_file")
    @classmethod
    def _relative_json(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or path.suffix != ".json":
            raise ValueError("must be a relative path to a .json file")
        return value


class _RiskFile(_Strict):
    version: int = Field(ge=1)
    pre_trade: PreTradeLimits
    positions: PositionLimits
    exposure: ExposureLimits
    margin: MarginConfig
    portfolio: PortfolioLimits
    drawdown: DrawdownLimits
    kill_switch: KillSwitchLimits
    post_trade: PostTradeLimits = Field(default_factory=PostTradeLimits)
    orders: OrderRules = Field(default_factory=OrderRules)
    execution: ExecutionLimits = Field(default_factory=ExecutionLimits)


# --- the loaded limits --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskLimits:
    """The validated ``risk.yaml``, one typed section per field; ``digest`` is the SHA-256
    of the file's bytes (recorded in the signed deployment snapshot)."""

    version: int
    digest: str
    pre_trade: PreTradeLimits
    positions: PositionLimits
    exposure: ExposureLimits
    margin: MarginConfig
    portfolio: PortfolioLimits
    drawdown: DrawdownLimits
    kill_switch: KillSwitchLimits
    post_trade: PostTradeLimits = dc_field(default_factory=PostTradeLimits)
    orders: OrderRules = dc_field(default_factory=OrderRules)  # NSE/Kite order rules
    execution: ExecutionLimits = dc_field(default_factory=ExecutionLimits)  # impact budget

    def symbol_lots(self, symbol: str) -> int:
        """Max net lots the desk may hold in ``symbol`` (its entry, else the default)."""
        return int(by_name(self.positions.max_net_lots_per_symbol, symbol))

    def price_band_pct(self, symbol: str) -> float:
        """The daily price band of ``symbol`` in percent around the previous session's close
        (its entry, else the default)."""
        return float(by_name(self.pre_trade.price_band_pct, symbol))

    def strategy_lots(self, strategy: str) -> int:
        """Max net lots ``strategy`` may hold in any one symbol."""
        return int(by_name(self.positions.max_net_lots_per_strategy, strategy))

    def drawdown_for(self, strategy: str) -> DrawdownBand:
        """The drawdown band of ``strategy`` (its entry, else the default)."""
        return by_name(self.drawdown.strategy, strategy)

    def to_snapshot(self) -> dict[str, Any]:
        """JSON-able record for the signed deployment snapshot."""
        sections = {name: getattr(self, name).model_dump(mode="json")
                    for name in _RiskFile.model_fields if name != "version"}
        return {"version": self.version, "digest": self.digest, **sections}


def load_risk_limits(path: Path, known_symbols: set[str] | None = None,
                     known_strategies: set[str] | None = None) -> RiskLimits:
    """Parse and validate ``risk.yaml``; with ``known_symbols`` (the policy's symbols) or
    ``known_strategies`` every named symbol/strategy must be one of them."""
    try:
        raw_bytes = path.read_bytes()
        raw = yaml.safe_load(raw_bytes.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RiskLimitsError(f"{path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise RiskLimitsError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise RiskLimitsError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    try:
        rules = _RiskFile(**raw)
    except ValidationError as exc:
        raise RiskLimitsError(f"{path}: {_describe(exc)}") from exc
    _check_contradictions(path, rules)
    if known_symbols is not None:
        _check_symbols(path, rules, frozenset(known_symbols))
    if known_strategies is not None:
        _check_strategies(path, rules, frozenset(known_strategies))
    sections = {name: getattr(rules, name) for name in _RiskFile.model_fields}
    return RiskLimits(digest=hashlib.sha256(raw_bytes).hexdigest(), **sections)


def _describe(exc: ValidationError) -> str:
    """One ``dotted.field: message (got value)`` per error; a cross-field check's message
    starts with its relative field (``soft_pct: ...``), which is joined to the path."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        inner = _INNER_FIELD.match(msg)
        if inner is None:
            msg = f"{msg} (got {err['input']!r:.120})"
        else:  # the message already quotes the values it compares
            loc.append(inner.group(1))
            msg = msg[inner.end():]
        parts.append(f"{'.'.join(loc) or '<top level>'}: {msg}")
    return "; ".join(parts)


def _check_contradictions(path: Path, rules: _RiskFile) -> None:
    """Limits that cannot all hold: one order bigger than the position it may build."""
    per_order = rules.pre_trade.max_lots_per_order
    mappings = {"max_net_lots_per_symbol": rules.positions.max_net_lots_per_symbol,
                "max_net_lots_per_strategy": rules.positions.max_net_lots_per_strategy}
    for name, mapping in mappings.items():
        for key, lots in mapping.items():
            if per_order > lots:
                raise RiskLimitsError(
                    f"{path}: positions.{name}.{key}: {lots} lots < pre_trade."
                    f"max_lots_per_order {per_order}: a full-size order would breach it")
    if per_order > rules.positions.max_lots_per_expiry:
        raise RiskLimitsError(
            f"{path}: positions.max_lots_per_expiry: {rules.positions.max_lots_per_expiry} < "
            f"pre_trade.max_lots_per_order {per_order}")
    capital = rules.margin.available_capital_inr
    if rules.kill_switch.max_daily_loss_inr > capital:
        raise RiskLimitsError(
            f"{path}: kill_switch.max_daily_loss_inr: {rules.kill_switch.max_daily_loss_inr:g} "
            f"> margin.available_capital_inr {capital:g}")


def _check_symbols(path: Path, rules: _RiskFile, known: frozenset[str]) -> None:
    _check_names(path, known, "a known symbol", {
        "positions.max_net_lots_per_symbol": rules.positions.max_net_lots_per_symbol,
        "pre_trade.price_band_pct": rules.pre_trade.price_band_pct,
        "orders.freeze_qty": rules.orders.freeze_qty,
        "exposure.sectors": rules.exposure.sectors,
        "exposure.gross_inr.symbol": rules.exposure.gross_inr.symbol,
        "exposure.net_inr.symbol": rules.exposure.net_inr.symbol,
        "exposure.greeks": rules.exposure.greeks})
    unmapped = sorted(known - set(rules.exposure.sectors))
    if unmapped:
        raise RiskLimitsError(f"{path}: exposure.sectors: no sector for {unmapped} "
                              f"(every known symbol needs one)")


def _check_strategies(path: Path, rules: _RiskFile, known: frozenset[str]) -> None:
    _check_names(path, known, "a registered strategy", {
        "positions.max_net_lots_per_strategy": rules.positions.max_net_lots_per_strategy,
        "exposure.gross_inr.strategy": rules.exposure.gross_inr.strategy,
        "exposure.net_inr.strategy": rules.exposure.net_inr.strategy,
        "drawdown.strategy": rules.drawdown.strategy})


def _check_names(path: Path, known: frozenset[str], what: str,
                 named: dict[str, dict[str, Any]]) -> None:
    for field, mapping in named.items():
        unknown = sorted(set(mapping) - known - {DEFAULT_KEY})
        if unknown:
            raise RiskLimitsError(f"{path}: {field}.{unknown[0]}: {unknown[0]!r} is not "
                                  f"{what}; known: {sorted(known)}")
