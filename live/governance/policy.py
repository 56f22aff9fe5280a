"""Trading policy: the reviewed ``policy.yaml`` and the decisions it makes.

What may be traded (products, instrument types, exchanges, symbols), when new entries are
allowed (per-venue windows), how much capital each stage gets, per-account and per-strategy
limits, and what a canary must prove before going live. Every decision fails closed: an
unknown stage, symbol, strategy or venue is a violation (or a refused entry), never a pass.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import asdict, dataclass
from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from strategies.confidence import ConfidenceSizing
from strategies.drift import DriftLimits
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_version import is_ensemble_name
from strategies.errors import BadInputError, StratopsError
from strategies.health import HealthLimits
from strategies.venues import UnknownVenueError, Venue, get_venue

STAGES: tuple[str, ...] = ("shadow", "canary", "live")

Product = Literal["NRML", "MIS", "CNC"]
InstrumentType = Literal["index_future", "index_option", "stock_future", "stock_option"]
Exchange = Literal["NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class PolicyConfigError(BadInputError, ValueError):
    """``policy.yaml`` is missing, malformed or inconsistent; the message names the field."""


class PolicyLookupError(StratopsError, LookupError):
    """A stage or strategy the policy does not know (asked for capital or limits)."""


# --- the file's shape ---------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Window(_Strict):
    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_hhmm(cls, value: object) -> object:
        if not isinstance(value, str) or not _HHMM.match(value):
            raise ValueError('must be a quoted "HH:MM" string (YAML reads unquoted 9:20 as 560)')
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> _Window:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} is not after start {self.start:%H:%M}")
        return self


class _ShadowStage(_Strict):
    capital_fraction: float = Field(ge=0.0, le=0.0)  # shadow trades no capital


class _CanaryStage(_Strict):
    capital_fraction: float = Field(gt=0.0, le=1.0)
    min_sessions: int = Field(ge=0)
    min_trades: int = Field(ge=0)
    max_open_breaks: int = Field(ge=0)
    # realised arrival slippage minus the version's research assumption (bps); None: no gate
    max_slippage_excess_bps: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)


class _LiveStage(_Strict):
    capital_fraction: float = Field(gt=0.0, le=1.0)


class _Stages(_Strict):
    shadow: _ShadowStage
    canary: _CanaryStage
    live: _LiveStage


class _Account(_Strict):
    capital_inr: float = Field(gt=0.0)
    max_strategies_live: int = Field(ge=0)


class _StrategyDefaults(_Strict):
    account: str | None = None  # None: the policy's default_account
    max_capital_inr: float = Field(gt=0.0)
    max_lots_per_order: int = Field(ge=1)
    max_open_positions: int = Field(ge=1)
    symbols: tuple[str, ...] | None = Field(default=None, min_length=1)  # None: all symbols
    products: tuple[Product, ...] | None = Field(default=None, min_length=1)  # None: all


class _StrategyOverride(_Strict):
    account: str | None = None
    max_capital_inr: float | None = Field(default=None, gt=0.0)
    max_lots_per_order: int | None = Field(default=None, ge=1)
    max_open_positions: int | None = Field(default=None, ge=1)
    symbols: tuple[str, ...] | None = Field(default=None, min_length=1)
    products: tuple[Product, ...] | None = Field(default=None, min_length=1)


class _Strategies(BaseModel):
    """``defaults`` plus one override block per strategy name (the extra keys)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, _StrategyOverride]

    defaults: _StrategyDefaults


class _DriftThresholds(_Strict):
    max_drift_psi: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    max_drift_ks: float | None = Field(default=None, gt=0.0, le=1.0)


class _Health(_Strict):
    """``signal_governance.health``: the strategy health CUSUMs (:mod:`strategies.health`)."""

    cusum_k: float = Field(default=0.5, ge=0.0, allow_inf_nan=False)
    cusum_h: float = Field(default=7.0, gt=0.0, allow_inf_nan=False)
    hit_shift: float = Field(default=0.15, gt=0.0, le=0.5)
    hit_h: float = Field(default=6.0, gt=0.0, allow_inf_nan=False)
    margin_se: float = Field(default=1.0, ge=0.0, le=5.0)
    min_expected_trades: int = Field(default=50, ge=2)
    slip_sigma_bps: float = Field(default=2.0, gt=0.0, allow_inf_nan=False)
    slip_k: float = Field(default=0.5, ge=0.0, allow_inf_nan=False)
    slip_h: float = Field(default=10.0, gt=0.0, allow_inf_nan=False)


class _Twin(_Strict):
    """``signal_governance.twin``: when live and its paper twin have drifted apart
    (:mod:`live.twin`)."""

    alpha: float = Field(default=0.01, gt=0.0, lt=0.5)
    min_signal_agreement: float = Field(default=0.95, ge=0.0, le=1.0)


class _Ensemble(_Strict):
    """``signal_governance.ensemble``: how entries of several strategies on one symbol at
    one bar are resolved (:mod:`strategies.ensemble`); ``independent``: each trades alone."""

    resolver: Literal["independent", "priority", "confidence"] = "independent"
    priority: tuple[str, ...] = ()  # first listed wins under ``priority``

    @field_validator("priority")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"priority lists a strategy twice: {list(value)}")
        return value


class _ConfidenceSizing(_Strict):
    """``signal_governance.confidence``: entry size from the calibrated confidence, bounds
    as multiples of the version's training hit rate (:class:`ConfidenceSizing`)."""

    zero_at: float = Field(default=0.5, ge=0.0, allow_inf_nan=False)
    full_at: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> _ConfidenceSizing:
        if self.zero_at >= self.full_at:
            raise ValueError(f"zero_at={self.zero_at} must be below full_at={self.full_at}")
        return self


class _SignalGovernance(_Strict):
    """``signal_governance``: what the runner's drift and health monitors hold new entries
    on, the per-symbol ensemble and the confidence sizing."""

    window_sessions: int = Field(default=1, ge=1, le=20)
    max_drift_psi: float = Field(default=0.25, gt=0.0, allow_inf_nan=False)
    max_drift_ks: float = Field(default=0.14, gt=0.0, le=1.0)
    require_enable_matrix: bool = False  # a classifier without an enable matrix holds
    stages: dict[Literal["shadow", "canary", "live"], _DriftThresholds] = Field(
        default_factory=dict)  # stricter values for a stage
    health: _Health = Field(default_factory=_Health)
    twin: _Twin = Field(default_factory=_Twin)
    ensemble: _Ensemble = Field(default_factory=_Ensemble)
    confidence: _ConfidenceSizing = Field(default_factory=_ConfidenceSizing)

    @model_validator(mode="after")
    def _stricter(self) -> _SignalGovernance:
        for stage, t in self.stages.items():
            for key in ("max_drift_psi", "max_drift_ks"):
                value = getattr(t, key)
                if value is not None and value > getattr(self, key):
                    raise ValueError(f"stages.{stage}.{key}={value} is looser than "
                                     f"{key}={getattr(self, key)}; a stage may only be "
                                     "stricter")
        return self


class _PolicyFile(_Strict):
    version: int = Field(ge=1)
    products: tuple[Product, ...] = Field(min_length=1)
    instrument_types: tuple[InstrumentType, ...] = Field(min_length=1)
    exchanges: tuple[Exchange, ...] = Field(min_length=1)
    symbols: tuple[str, ...] = Field(min_length=1)
    trading_windows: dict[str, tuple[_Window, ...]]
    stages: _Stages
    accounts: dict[str, _Account] = Field(min_length=1)
    default_account: str
    strategies: _Strategies
    signal_governance: _SignalGovernance = Field(default_factory=_SignalGovernance)


# --- the public decisions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    """One broken rule: ``rule`` names it (e.g. ``"symbol"``), ``message`` says why."""

    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class CanaryEvidence:
    """What the live runner's journal proves about a strategy's canary run."""

    sessions: int
    trades: int
    open_breaks: int
    source: str  # where the counts came from (journal path, query), quoted in violations
    size_note: str = ""  # e.g. the canary traded at the live size (a 1-lot version)
    # arrival slippage of the canary's fills (live.tca) and the version's research assumption
    # (sim slippage_ticks x tick_size) over the same fills, bps; None: no fill measured
    realised_slippage_bps: float | None = None
    assumed_slippage_bps: float | None = None

    def __post_init__(self) -> None:
        for name in ("sessions", "trades", "open_breaks"):
            if getattr(self, name) < 0:
                raise ValueError(f"CanaryEvidence.{name} must be >= 0, got {getattr(self, name)}")

    @property
    def slippage_excess_bps(self) -> float | None:
        """Realised minus assumed slippage (bps); None when either is unknown."""
        if self.realised_slippage_bps is None or self.assumed_slippage_bps is None:
            return None
        return self.realised_slippage_bps - self.assumed_slippage_bps


@dataclass(frozen=True, slots=True)
class StrategyLimits:
    """The limits that apply to one strategy: its override merged over the defaults."""

    strategy: str
    account: str
    max_capital_inr: float
    max_lots_per_order: int
    max_open_positions: int
    symbols: tuple[str, ...]
    products: tuple[str, ...] = ()  # the broker products it may use (NRML, MIS)


@dataclass(frozen=True, slots=True)
class Policy:
    """The validated ``policy.yaml``; ``digest`` is the SHA-256 of the file's bytes."""

    rules: _PolicyFile
    digest: str
    known_strategies: frozenset[str] | None = None

    @property
    def version(self) -> int:
        return self.rules.version

    def drift_limits(self, stage: str) -> DriftLimits:
        """The drift monitor's thresholds at ``stage`` (its stricter values, if any)."""
        if stage not in STAGES:
            raise PolicyLookupError(f"unknown stage {stage!r}; stages: {list(STAGES)}")
        rules = self.rules.signal_governance
        over = rules.stages.get(stage)  # type: ignore[call-overload]
        psi = over.max_drift_psi if over is not None and over.max_drift_psi else None
        ks = over.max_drift_ks if over is not None and over.max_drift_ks else None
        return DriftLimits(max_psi=psi or rules.max_drift_psi, max_ks=ks or rules.max_drift_ks,
                           window_sessions=rules.window_sessions,
                           require_enable_matrix=rules.require_enable_matrix)

    def ensemble(self) -> EnsemblePolicy | None:
        """The per-symbol ensemble (None: ``independent``, each strategy trades alone)."""
        rules = self.rules.signal_governance.ensemble
        unknown = [s for s in rules.priority if self.known_strategies is not None
                   and s not in self.known_strategies]
        if unknown:
            raise PolicyLookupError(f"signal_governance.ensemble.priority names unknown "
                                    f"strategies {unknown}")
        if rules.resolver == "independent":
            return None
        return EnsemblePolicy(make_resolver(rules.resolver), rules.priority)

    def confidence_sizing(self) -> ConfidenceSizing:
        """How a calibrated version's entry size follows its confidence."""
        rules = self.rules.signal_governance.confidence
        return ConfidenceSizing(zero_at=rules.zero_at, full_at=rules.full_at)

    def health_limits(self) -> HealthLimits:
        """The strategy health monitor's CUSUM parameters (``signal_governance.health``)."""
        return HealthLimits(**self.rules.signal_governance.health.model_dump())

    def twin_thresholds(self) -> dict[str, float]:
        """The paper twin reconciliation's thresholds (``signal_governance.twin``)."""
        return dict(self.rules.signal_governance.twin.model_dump())

    def capital_fraction(self, stage: str) -> float:
        """Fraction of a strategy's capital that ``stage`` may deploy."""
        if stage not in STAGES:
            raise PolicyLookupError(f"unknown stage {stage!r}; stages: {list(STAGES)}")
        return float(getattr(self.rules.stages, stage).capital_fraction)

    def limits_for(self, strategy: str) -> StrategyLimits:
        """Limits of ``strategy``: its ``strategies.<name>`` block over ``strategies.defaults``."""
        if not self._registered(strategy):
            raise PolicyLookupError(f"strategy {strategy!r} is not registered")
        defaults = self.rules.strategies.defaults.model_dump()
        override = (self.rules.strategies.model_extra or {}).get(strategy)
        if override is not None:
            defaults.update(override.model_dump(exclude_none=True))
        return StrategyLimits(
            strategy=strategy,
            account=defaults["account"] or self.rules.default_account,
            max_capital_inr=defaults["max_capital_inr"],
            max_lots_per_order=defaults["max_lots_per_order"],
            max_open_positions=defaults["max_open_positions"],
            symbols=tuple(defaults["symbols"] or self.rules.symbols),
            products=tuple(defaults["products"] or self.rules.products),
        )

    def capital_for(self, strategy: str, stage: str) -> float:
        """INR ``strategy`` may deploy at ``stage``: min(its cap, account capital) x fraction."""
        limits = self.limits_for(strategy)
        account = self.rules.accounts[limits.account]
        return min(limits.max_capital_inr, account.capital_inr) * self.capital_fraction(stage)

    def check_promotion(
        self, *, strategy: str, to_stage: str, symbols: list[str], live_count: int,
        evidence: CanaryEvidence | None,
    ) -> list[PolicyViolation]:
        """Every rule a promotion of ``strategy`` to ``to_stage`` breaks (empty: allowed).

        ``live_count`` counts strategies already live on the strategy's account, excluding
        this one; ``evidence`` is the canary record from the live runner's journal.
        """
        if live_count < 0:
            raise ValueError(f"live_count must be >= 0, got {live_count}")
        found = self._strategy_violations(strategy)
        if to_stage not in STAGES:
            found.append(PolicyViolation(
                "stage", f"unknown stage {to_stage!r}; policy.yaml stages: {list(STAGES)}"))
        if not symbols:
            found.append(PolicyViolation("symbols", f"{strategy} declares no symbols"))
        for symbol in symbols:
            found += self._symbol_violations(strategy, symbol)
        if to_stage == "live" and self._registered(strategy):
            found += self._live_violations(strategy, live_count, evidence)
        return found

    def entry_allowed(self, venue: str, local_time: time) -> bool:
        """Whether a new entry at venue-local ``local_time`` falls in a trading window.

        Start is inclusive, end exclusive; a venue without windows allows no entries.
        """
        if local_time.tzinfo is not None:
            raise ValueError(f"local_time must be naive venue-local time, got {local_time}")
        try:
            name = get_venue(venue).name
        except UnknownVenueError:
            return False
        windows = self.rules.trading_windows.get(name, ())
        return any(w.start <= local_time < w.end for w in windows)

    def order_allowed(
        self, *, strategy: str, symbol: str, product: str, instrument_type: str,
        exchange: str, lots: int,
    ) -> list[PolicyViolation]:
        """Every rule an order breaks (empty: allowed), for the runner and risk engine."""
        found = self._strategy_violations(strategy)
        allowed = {"product": (product, self.rules.products),
                   "instrument_type": (instrument_type, self.rules.instrument_types),
                   "exchange": (exchange, self.rules.exchanges)}
        for rule, (value, permitted) in allowed.items():
            if value not in permitted:
                found.append(PolicyViolation(
                    rule, f"{rule} {value!r} is not allowed; policy.yaml {rule}s: "
                          f"{list(permitted)}"))
        found += self._symbol_violations(strategy, symbol)
        found += self._product_violations(strategy, product)
        if lots < 1:
            found.append(PolicyViolation("lots", f"{strategy}: order of {lots} lots"))
        elif self._registered(strategy):
            max_lots = self.limits_for(strategy).max_lots_per_order
            if lots > max_lots:
                found.append(PolicyViolation(
                    "max_lots_per_order",
                    f"{strategy}: order of {lots} lots > max_lots_per_order={max_lots}"))
        return found

    def to_snapshot(self) -> dict[str, Any]:
        """JSON-able record for the signed deployment snapshot: version, digest, fractions
        per stage, account limits, and the merged limits of each listed or registered strategy."""
        names = {*(self.rules.strategies.model_extra or {}), *(self.known_strategies or ())}
        limits = {name: _jsonable(asdict(self.limits_for(name))) for name in sorted(names)}
        return {
            "version": self.version,
            "digest": self.digest,
            "stage_fractions": {stage: self.capital_fraction(stage) for stage in STAGES},
            "canary_requirements": self.rules.stages.canary.model_dump(
                exclude={"capital_fraction"}, exclude_none=True),
            "accounts": {k: v.model_dump() for k, v in self.rules.accounts.items()},
            "default_account": self.rules.default_account,
            "strategy_defaults": _jsonable(self.rules.strategies.defaults.model_dump()),
            "strategy_limits": limits,
            "allowed": {key: list(getattr(self.rules, key)) for key in
                        ("products", "instrument_types", "exchanges", "symbols")},
            "trading_windows": {
                venue: [{"start": f"{w.start:%H:%M}", "end": f"{w.end:%H:%M}"} for w in ws]
                for venue, ws in self.rules.trading_windows.items()},
        }

    def _registered(self, strategy: str) -> bool:
        """A known strategy, or a per-symbol ensemble (``ensemble_<symbol>``: a registered
        version like any other, with the defaults' limits or its own block)."""
        return self.known_strategies is None or strategy in self.known_strategies or \
            is_ensemble_name(strategy)

    def _strategy_violations(self, strategy: str) -> list[PolicyViolation]:
        if self._registered(strategy):
            return []
        return [PolicyViolation("strategy", f"strategy {strategy!r} is not registered")]

    def _symbol_violations(self, strategy: str, symbol: str) -> list[PolicyViolation]:
        if symbol not in self.rules.symbols:
            return [PolicyViolation(
                "symbol", f"symbol {symbol!r} is not in policy.yaml symbols "
                          f"{list(self.rules.symbols)}")]
        if not self._registered(strategy):
            return []  # already a "strategy" violation; it has no limits to consult
        allowed = self.limits_for(strategy).symbols
        if symbol not in allowed:
            return [PolicyViolation(
                "strategy_symbol", f"symbol {symbol!r} is not allowed for {strategy}; "
                                   f"policy.yaml strategies.{strategy}.symbols: {list(allowed)}")]
        return []

    def _product_violations(self, strategy: str, product: str) -> list[PolicyViolation]:
        if product not in self.rules.products or not self._registered(strategy):
            return []  # already a "product" (or "strategy") violation
        allowed = self.limits_for(strategy).products
        if product in allowed:
            return []
        return [PolicyViolation(
            "strategy_product", f"product {product!r} is not allowed for {strategy}; "
                                f"policy.yaml strategies.{strategy}.products: {list(allowed)}")]

    def product_allowed(self, strategy: str, product: str) -> bool:
        """Whether ``strategy`` may trade with broker product ``product`` (NRML, MIS)."""
        return not self._product_violations(strategy, product) and \
            product in self.rules.products and self._registered(strategy)

    def _live_violations(
        self, strategy: str, live_count: int, evidence: CanaryEvidence | None,
    ) -> list[PolicyViolation]:
        found = []
        account_id = self.limits_for(strategy).account
        cap = self.rules.accounts[account_id].max_strategies_live
        if live_count >= cap:
            found.append(PolicyViolation(
                "max_strategies_live", f"account {account_id} already has {live_count} "
                                       f"strategies live; max_strategies_live={cap}"))
        return found + self._canary_violations(strategy, evidence)

    def _canary_violations(
        self, strategy: str, evidence: CanaryEvidence | None,
    ) -> list[PolicyViolation]:
        canary = self.rules.stages.canary
        if evidence is None:
            required = {k: v for k, v in (("min_sessions", canary.min_sessions),
                                          ("min_trades", canary.min_trades)) if v > 0}
            if not required:
                return []
            needs = ", ".join(f"{k}={v}" for k, v in required.items())
            return [PolicyViolation(
                "canary_evidence",
                f"no shadow/canary records for {strategy}: the live runner's journal is "
                f"required to prove {needs}; policy.yaml stages.canary sets them")]
        found = []
        for rule, actual, needed in (("min_sessions", evidence.sessions, canary.min_sessions),
                                     ("min_trades", evidence.trades, canary.min_trades)):
            if actual < needed:
                found.append(PolicyViolation(
                    rule, f"{strategy}: {actual} canary {rule.removeprefix('min_')} < "
                          f"{rule}={needed} (evidence: {evidence.source})"))
        if evidence.open_breaks > canary.max_open_breaks:
            found.append(PolicyViolation(
                "max_open_breaks", f"{strategy}: {evidence.open_breaks} open breaks > "
                                   f"max_open_breaks={canary.max_open_breaks} "
                                   f"(evidence: {evidence.source})"))
        return found + _slippage_violations(strategy, evidence, canary.max_slippage_excess_bps)


def _slippage_violations(strategy: str, evidence: CanaryEvidence,
                         limit_bps: float | None) -> list[PolicyViolation]:
    """The canary's realised slippage over the research assumption, against the policy's
    ``max_slippage_excess_bps``; unmeasured slippage fails closed when the gate is set."""
    if limit_bps is None:
        return []
    excess = evidence.slippage_excess_bps
    if excess is None:
        return [PolicyViolation(
            "max_slippage_excess_bps", f"{strategy}: the canary's realised slippage was not "
                                       f"measured (no fill against a known price), so "
                                       f"max_slippage_excess_bps={limit_bps:g} cannot be shown "
                                       f"(evidence: {evidence.source})")]
    if excess > limit_bps:
        return [PolicyViolation(
            "max_slippage_excess_bps",
            f"{strategy}: canary slippage {evidence.realised_slippage_bps:.2f} bps exceeds the "
            f"research assumption {evidence.assumed_slippage_bps:.2f} bps by {excess:.2f} bps "
            f"> max_slippage_excess_bps={limit_bps:g} (evidence: {evidence.source})")]
    return []


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}


# --- loading ------------------------------------------------------------------------------


def load_policy(path: Path, known_strategies: set[str] | None = None) -> Policy:
    """Parse and validate ``policy.yaml``; unknown keys (and, when ``known_strategies`` is
    given, unknown strategies) are refused with the file, dotted field and value named."""
    try:
        raw_bytes = path.read_bytes()
        raw = yaml.safe_load(raw_bytes.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyConfigError(f"{path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise PolicyConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise PolicyConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    try:
        rules = _PolicyFile(**raw)
    except ValidationError as exc:
        raise PolicyConfigError(f"{path}: {_describe(exc)}") from exc
    known = frozenset(known_strategies) if known_strategies is not None else None
    _check_references(path, rules, known)
    windows: dict[str, tuple[_Window, ...]] = {}
    for key, venue_windows in rules.trading_windows.items():
        venue = _check_windows(path, key, venue_windows)
        if venue.name in windows:
            raise PolicyConfigError(f"{path}: trading_windows.{key}: {venue.name} is listed twice")
        windows[venue.name] = venue_windows
    rules = rules.model_copy(update={"trading_windows": windows})
    return Policy(rules, hashlib.sha256(raw_bytes).hexdigest(), known)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "<top level>"
        parts.append(f"{field}: {err['msg']} (got {err['input']!r:.120})")
    return "; ".join(parts)


def _check_references(path: Path, rules: _PolicyFile, known: frozenset[str] | None) -> None:
    """Accounts, symbols and strategy names that must refer to something declared."""
    if rules.default_account not in rules.accounts:
        raise PolicyConfigError(f"{path}: default_account: {rules.default_account!r} is not "
                                f"in accounts {sorted(rules.accounts)}")
    blocks: dict[str, _StrategyDefaults | _StrategyOverride] = {
        "defaults": rules.strategies.defaults, **(rules.strategies.model_extra or {})}
    for name, block in blocks.items():
        if name != "defaults" and known is not None and name not in known and \
                not is_ensemble_name(name):
            raise PolicyConfigError(f"{path}: strategies.{name}: {name!r} is not a registered "
                                    f"strategy (nor an ensemble_<symbol>); registered: "
                                    f"{sorted(known)}")
        if block.account is not None and block.account not in rules.accounts:
            raise PolicyConfigError(f"{path}: strategies.{name}.account: {block.account!r} is "
                                    f"not in accounts {sorted(rules.accounts)}")
        extra = sorted(set(block.symbols or ()) - set(rules.symbols))
        if extra:
            raise PolicyConfigError(f"{path}: strategies.{name}.symbols: {extra} not in the "
                                    f"global symbols {list(rules.symbols)}")
        extra = sorted(set(block.products or ()) - set(rules.products))
        if extra:
            raise PolicyConfigError(f"{path}: strategies.{name}.products: {extra} not in the "
                                    f"global products {list(rules.products)}")
    if rules.stages.canary.capital_fraction > rules.stages.live.capital_fraction:
        raise PolicyConfigError(
            f"{path}: stages.canary.capital_fraction: {rules.stages.canary.capital_fraction} "
            f"exceeds stages.live.capital_fraction {rules.stages.live.capital_fraction}")


def _check_windows(path: Path, venue_name: str, windows: tuple[_Window, ...]) -> Venue:
    """Windows of one venue: a known venue, inside its session, not overlapping."""
    field = f"trading_windows.{venue_name}"
    try:
        venue = get_venue(venue_name)
    except UnknownVenueError as exc:
        raise PolicyConfigError(f"{path}: {field}: {exc}") from exc
    bounds = _session_bounds(venue)
    for i, w in enumerate(windows):
        if bounds is not None and not (bounds[0] <= w.start and w.end <= bounds[1]):
            raise PolicyConfigError(
                f"{path}: {field}.{i}: {w.start:%H:%M}-{w.end:%H:%M} is not inside the "
                f"{venue.name} session {bounds[0]:%H:%M}-{bounds[1]:%H:%M} (cutoff included)")
    ordered = sorted(enumerate(windows), key=lambda iw: iw[1].start)
    for (_, a), (j, b) in itertools.pairwise(ordered):
        if b.start < a.end:
            raise PolicyConfigError(
                f"{path}: {field}.{j}: {b.start:%H:%M}-{b.end:%H:%M} overlaps "
                f"{a.start:%H:%M}-{a.end:%H:%M}")
    return venue


def _session_bounds(venue: Venue) -> tuple[time, time] | None:
    """Earliest entry and latest window end for a same-day session; None when the session
    runs round the clock or overnight (windows then only need start < end)."""
    if venue.open is None or venue.close is None or venue.close <= venue.open:
        return None
    end = venue.close if venue.cutoff is None else min(venue.close, venue.cutoff)
    return venue.open, end
