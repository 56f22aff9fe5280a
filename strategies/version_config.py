"""A registered strategy version's config, typed: which strategy, params, venue, cutoff,
symbols, dataset and execution rules it trades with - and the one codec to and from the
registered model's JSON ``model_config``.

Research writes it (``study.version_config`` -> the registry), the pyfunc model, the live
loader (deployments, reconciliation, canary evidence) and the CLI read it, all through
:meth:`VersionConfig.from_json`. It imports no MLflow and nothing outside ``strategies``, so
the live path validates a version's config without loading (or executing) its artifact.
Unknown keys are refused at every level; errors name the field and the value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from strategies.algo_spec import MARKET, AlgoParamError, AlgoSpec
from strategies.costs import CostRates
from strategies.errors import StratopsError
from strategies.health import HealthExpectation, HealthExpectationError
from strategies.names import InvalidNameError, validate_name, validate_symbol
from strategies.params import ParamError, get_params
from strategies.roster import STRATEGIES
from strategies.simulator import SimConfig
from strategies.spec import StrategySpec
from strategies.venues import (
    CutoffError,
    UnknownVenueError,
    format_cutoff,
    get_venue,
    parse_cutoff,
)

#: Every key a registered version's config may hold (``study.version_config`` writes them).
KNOWN_KEYS = ("strategy", "params", "venue", "cutoff", "symbols", "dataset", "sim", "product")
#: Keys a version's config may hold that :meth:`VersionConfig.to_json` writes only when set
#: (``execution``: the entries' execution algo, absent for ``market``; ``health``: research's
#: expectation of its trades, :mod:`strategies.health`; ``symbol_sizes``: each symbol's lot
#: and tick size, absent for a one-symbol version), so the config of a version without them
#: is byte-for-byte what it was before they existed.
OPTIONAL_KEYS = ("execution", "health", "symbol_sizes")
REQUIRED_KEYS = ("strategy", "params", "venue")
#: Broker product codes a version may trade futures with: NRML (carry-forward margin) or MIS
#: (intraday margin, squared off by the broker before the close). Versions registered before
#: the field existed trade NRML.
PRODUCTS = ("NRML", "MIS")
DEFAULT_PRODUCT = "NRML"


class VersionConfigError(StratopsError, ValueError):
    """A version config that does not describe a registered strategy with valid params and
    execution rules; the message names the field and the offending value."""


#: The old name, kept for callers that catch it.
ModelConfigError = VersionConfigError


def _refuse_unknown(data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise VersionConfigError(f"{where} has unknown keys {unknown}; known: {sorted(known)}")


def _typed(where: str, name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (int, float, bool or str); bools are never numbers and an int
    is a valid float."""
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (bool, str) and isinstance(value, kind):
        return value
    raise VersionConfigError(f"{where}.{name}={value!r}: must be {kind.__name__}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SimRules:
    """The version's execution rules (``model_config["sim"]``): :class:`SimConfig`'s fields,
    with the cost schedule by version name instead of its rates."""

    qty_lots: int = 1
    lot_size: int = 1
    stop_points: float = 0.0
    stop_frac: float = 0.0
    trail_points: float = 0.0
    trail_frac: float = 0.0
    target_points: float = 0.0
    target_frac: float = 0.0
    max_trades_per_day: int = 0
    slippage_ticks: float = 0.0
    tick_size: float = 0.05
    fill: str = "next_open"
    initial_capital_inr: float = 1_000_000.0
    cost_schedule: str | None = None
    round_levels: bool = True
    size_type: str = "lots"
    size: float = 0.0
    fractional: bool = False
    direction: str = "both"

    def __post_init__(self) -> None:
        try:
            self.sim_config()  # SimConfig's own validation: one set of rules
        except (ParamError, ValueError, TypeError) as exc:
            raise VersionConfigError(f"model_config.sim: {exc}") from exc

    @classmethod
    def from_config(cls, config: SimConfig) -> SimRules:
        """The rules of a study's :class:`SimConfig` (its cost schedule by version)."""
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                  if f.name != "costs"}
        return cls(**values, cost_schedule=None if config.costs is None
                   else config.costs.version)

    @classmethod
    def from_json(cls, data: object) -> SimRules:
        """Decode ``model_config["sim"]`` (None or absent: the defaults)."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise VersionConfigError(f"model_config.sim={data!r}: must be a mapping")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        _refuse_unknown(data, tuple(fields), "model_config.sim")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = _FIELD_KINDS[name]
            if name == "cost_schedule" and value is None:
                values[name] = None
            else:
                values[name] = _typed("model_config.sim", name, value, kind)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def sim_config(self, costs: CostRates | None = None, **overrides: Any) -> SimConfig:
        """The simulator settings of these rules (``costs`` the schedule's rates, if any)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name != "cost_schedule"}
        return SimConfig(**{**values, **overrides, "costs": costs})


_FIELD_KINDS: dict[str, type] = {
    "qty_lots": int, "lot_size": int, "max_trades_per_day": int,
    "stop_points": float, "stop_frac": float, "trail_points": float, "trail_frac": float,
    "target_points": float, "target_frac": float, "slippage_ticks": float,
    "tick_size": float, "initial_capital_inr": float, "size": float,
    "fill": str, "cost_schedule": str, "size_type": str, "direction": str,
    "round_levels": bool, "fractional": bool,
}


def _strategy(value: object) -> StrategySpec:
    if not isinstance(value, str) or value not in STRATEGIES:
        raise VersionConfigError(f"model_config.strategy={value!r} is not registered; "
                                 f"registered: {sorted(STRATEGIES)}")
    return STRATEGIES[value]


def _params(spec: StrategySpec, value: object) -> Any:
    if not isinstance(value, Mapping):
        raise VersionConfigError(f"model_config.params={value!r} for {spec.name}: must be a "
                                 "mapping")
    try:
        return spec.make_params(**value)
    except (ParamError, TypeError) as exc:
        raise VersionConfigError(f"model_config.params={dict(value)!r} for {spec.name}: "
                                 f"{exc}") from exc


def _venue(value: object) -> str:
    try:
        get_venue(value)  # type: ignore[arg-type]  # a non-str fails in it: refused below
    except (UnknownVenueError, AttributeError) as exc:
        raise VersionConfigError(f"model_config.venue={value!r}: {exc}") from None
    assert isinstance(value, str)
    return value


def _symbols(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise VersionConfigError(f"model_config.symbols={value!r}: must be a list of symbols")
    try:
        return tuple(validate_symbol(s, field="model_config.symbols entry") for s in value)
    except InvalidNameError as exc:
        raise VersionConfigError(str(exc)) from None


def _product(value: object) -> str:
    if not isinstance(value, str) or value not in PRODUCTS:
        raise VersionConfigError(f"model_config.product={value!r}: must be one of "
                                 f"{list(PRODUCTS)}")
    return value


def _execution(value: object) -> AlgoSpec:
    """The version's execution algo (absent or None: ``market``, one order per entry)."""
    if value is None:
        return MARKET
    try:
        return AlgoSpec.from_mapping(value, "model_config.execution")
    except AlgoParamError as exc:
        raise VersionConfigError(str(exc)) from exc


def _health(value: object) -> HealthExpectation | None:
    """Research's expectation of the version's trades (absent or None: none recorded)."""
    if value is None or isinstance(value, HealthExpectation):
        return value
    try:
        return HealthExpectation.from_json(value)
    except HealthExpectationError as exc:
        raise VersionConfigError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class SymbolSize:
    """One symbol's contract sizes in a several-symbol version (``model_config.symbol_sizes``):
    the instrument master's lot and tick size when the version was researched."""

    symbol: str
    lot_size: int
    tick_size: float

    def __post_init__(self) -> None:
        where = f"model_config.symbol_sizes.{self.symbol}"
        if isinstance(self.lot_size, bool) or not isinstance(self.lot_size, int) or \
                self.lot_size < 1:
            raise VersionConfigError(f"{where}.lot_size={self.lot_size!r}: must be an int >= 1")
        if isinstance(self.tick_size, bool) or not isinstance(self.tick_size, int | float) \
                or not math.isfinite(self.tick_size) or self.tick_size <= 0:
            raise VersionConfigError(f"{where}.tick_size={self.tick_size!r}: must be a "
                                     "finite number > 0")


def _symbol_sizes(value: object) -> tuple[SymbolSize, ...]:
    """``model_config.symbol_sizes`` (``{symbol: {lot_size, tick_size}}``; absent: none)."""
    if value is None:
        return ()
    if isinstance(value, tuple) and all(isinstance(v, SymbolSize) for v in value):
        return value
    if not isinstance(value, Mapping):
        raise VersionConfigError(f"model_config.symbol_sizes={value!r}: must be a mapping "
                                 "symbol -> {lot_size, tick_size}")
    out = []
    for symbol, sizes in value.items():
        where = f"model_config.symbol_sizes.{symbol}"
        try:
            validate_symbol(symbol, field="model_config.symbol_sizes key")
        except InvalidNameError as exc:
            raise VersionConfigError(str(exc)) from None
        if not isinstance(sizes, Mapping):
            raise VersionConfigError(f"{where}={sizes!r}: must be a mapping")
        _refuse_unknown(sizes, ("lot_size", "tick_size"), where)
        missing = [k for k in ("lot_size", "tick_size") if k not in sizes]
        if missing:
            raise VersionConfigError(f"{where} lacks {missing}")
        out.append(SymbolSize(symbol, _typed(where, "lot_size", sizes["lot_size"], int),
                              _typed(where, "tick_size", sizes["tick_size"], float)))
    return tuple(out)


def _dataset(value: object) -> str | None:
    if value is None:
        return None
    try:
        return validate_name(value, field="model_config.dataset")
    except InvalidNameError as exc:
        raise VersionConfigError(str(exc)) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class VersionConfig:
    """One registered version's config. ``params`` is the strategy's own (frozen) params
    object; ``cutoff`` is ``"venue"``, None or a venue-local time; ``product`` the broker
    product its orders carry (:data:`PRODUCTS`)."""

    spec: StrategySpec
    params: Any
    venue: str
    cutoff: time | str | None = "venue"
    symbols: tuple[str, ...] = ()
    dataset: str | None = None
    sim: SimRules = field(default_factory=SimRules)
    product: str = DEFAULT_PRODUCT
    execution: AlgoSpec = MARKET
    health: HealthExpectation | None = None  # research's OOS trade statistics
    #: each symbol's lot and tick size (several symbols only; empty: ``sim``'s for all)
    symbol_sizes: tuple[SymbolSize, ...] = ()

    def __post_init__(self) -> None:
        _product(self.product)
        self._check_symbol_sizes()
        if not isinstance(self.params, self.spec.params_cls):
            raise VersionConfigError(f"params={self.params!r}: not a "
                                     f"{self.spec.params_cls.__name__} of {self.spec.name}")
        if parse_cutoff(self.cutoff) != self.cutoff:
            raise VersionConfigError(f"cutoff={self.cutoff!r}: parse it with parse_cutoff")

    def _check_symbol_sizes(self) -> None:
        """Several symbols with different contracts need ``symbol_sizes``, one entry per
        symbol, the first symbol's equal to ``sim``'s (the rules research simulated it with)."""
        if not self.symbol_sizes:
            return
        named = [s.symbol for s in self.symbol_sizes]
        if sorted(named) != sorted(self.symbols) or len(set(named)) != len(named):
            raise VersionConfigError(f"model_config.symbol_sizes names {named}, the version "
                                     f"trades {list(self.symbols)}: one entry per symbol")
        first = self.size_of(self.symbols[0])
        if (first.lot_size, first.tick_size) != (self.sim.lot_size, self.sim.tick_size):
            raise VersionConfigError(
                f"model_config.symbol_sizes.{first.symbol}=({first.lot_size}, "
                f"{first.tick_size}) differs from model_config.sim's lot_size "
                f"{self.sim.lot_size} / tick_size {self.sim.tick_size} (the first symbol's)")

    def size_of(self, symbol: str) -> SymbolSize:
        """``symbol``'s lot and tick size: its ``symbol_sizes`` entry, else ``sim``'s."""
        for size in self.symbol_sizes:
            if size.symbol == symbol:
                return size
        if self.symbol_sizes:
            raise VersionConfigError(f"{symbol!r} is not one of the version's symbols "
                                     f"{list(self.symbols)}")
        return SymbolSize(symbol, self.sim.lot_size, self.sim.tick_size)

    @property
    def strategy(self) -> str:
        return self.spec.name

    @property
    def params_dict(self) -> dict[str, Any]:
        """The params as plain values (what ``model_config["params"]`` holds)."""
        return get_params(self.params)

    @classmethod
    def build(cls, *, strategy: str, params: Mapping[str, Any], venue: str,
              cutoff: object = "venue", symbols: object = (), dataset: str | None = None,
              sim: SimRules | None = None, product: object = DEFAULT_PRODUCT,
              execution: object = None, health: object = None,
              symbol_sizes: object = None) -> VersionConfig:
        """A validated config from plain values (the research side's constructor)."""
        spec = _strategy(strategy)
        try:
            parsed_cutoff = parse_cutoff(cutoff, field="model_config.cutoff")
        except CutoffError as exc:
            raise VersionConfigError(str(exc)) from None
        return cls(spec=spec, params=_params(spec, params), venue=_venue(venue),
                   cutoff=parsed_cutoff, symbols=_symbols(symbols), dataset=_dataset(dataset),
                   sim=sim if sim is not None else SimRules(), product=_product(product),
                   execution=execution if isinstance(execution, AlgoSpec)
                   else _execution(execution), health=_health(health),
                   symbol_sizes=_symbol_sizes(symbol_sizes))

    @classmethod
    def from_json(cls, config: object) -> VersionConfig:
        """Decode a registered model's ``model_config`` (as :meth:`to_json` and every
        earlier ``study.model_config`` wrote it). Missing ``cutoff`` means the venue's,
        missing ``symbols``/``dataset``/``sim``/``product``/``execution`` their defaults (NRML,
        market); an unknown key is refused."""
        if not isinstance(config, Mapping):
            raise VersionConfigError(f"model_config must be a mapping, got {config!r}")
        missing = [key for key in REQUIRED_KEYS if key not in config]
        if missing:
            raise VersionConfigError(f"model_config lacks {missing}; got keys "
                                     f"{sorted(map(str, config))}")
        _refuse_unknown(config, KNOWN_KEYS + OPTIONAL_KEYS, "model_config")
        return cls.build(strategy=config["strategy"], params=config["params"],
                         venue=config["venue"], cutoff=config.get("cutoff", "venue"),
                         symbols=config.get("symbols"), dataset=config.get("dataset"),
                         sim=SimRules.from_json(config.get("sim")),
                         product=config.get("product", DEFAULT_PRODUCT),
                         execution=config.get("execution"), health=config.get("health"),
                         symbol_sizes=config.get("symbol_sizes"))

    def to_json(self) -> dict[str, Any]:
        """The JSON-safe ``model_config`` the registered pyfunc carries (``execution`` only
        when not ``market``, so a market version's config is what it always was)."""
        out = {"strategy": self.strategy, "params": self.params_dict, "venue": self.venue,
               "cutoff": format_cutoff(self.cutoff), "symbols": list(self.symbols),
               "dataset": self.dataset, "sim": self.sim.to_json(), "product": self.product}
        if not self.execution.is_market:
            out["execution"] = self.execution.to_json()
        if self.health is not None:
            out["health"] = self.health.to_json()
        if self.symbol_sizes:
            out["symbol_sizes"] = {s.symbol: {"lot_size": s.lot_size, "tick_size": s.tick_size}
                                   for s in self.symbol_sizes}
        return out
