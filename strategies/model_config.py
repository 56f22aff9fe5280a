"""A registered version's ``model_config`` read as data: which strategy, params, venue,
cutoff, symbols and execution rules it trades with.

The research pyfunc (:mod:`strategies.pyfunc_model`) and the live loader read the same
config through :func:`parse_model_config`; this module imports no MLflow, so the live path
can validate a version's config without loading (or executing) its model artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

from strategies.errors import StratopsError
from strategies.names import InvalidNameError, validate_name, validate_symbol
from strategies.params import ParamError
from strategies.registry import STRATEGIES
from strategies.spec import StrategySpec
from strategies.venues import UnknownVenueError, get_venue

#: Every key a registered version's config may hold (``study.model_config`` writes them).
KNOWN_KEYS = frozenset({"strategy", "params", "venue", "cutoff", "symbols", "dataset", "sim"})


class ModelConfigError(StratopsError, ValueError):
    """A ``model_config`` that does not describe a registered strategy with valid params."""


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """The validated parts of ``model_config`` that decide the signals."""

    spec: StrategySpec
    params: Any
    venue: str
    cutoff: str | None
    symbols: tuple[str, ...] = ()


def _cutoff(value: object) -> str | None:
    if value is None or value == "venue":
        return value
    if isinstance(value, str):
        try:
            time.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ModelConfigError(f"model_config cutoff={value!r}: must be 'venue', 'HH:MM' or None")


def _symbols(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ModelConfigError(f"model_config symbols={value!r}: must be a list of symbols")
    try:
        return tuple(validate_symbol(s, field="model_config symbols entry") for s in value)
    except InvalidNameError as exc:
        raise ModelConfigError(str(exc)) from None


def _check_strict(config: Mapping[str, Any]) -> None:
    unknown = sorted(str(k) for k in config if k not in KNOWN_KEYS)
    if unknown:
        raise ModelConfigError(f"model_config has unknown keys {unknown}; known: "
                               f"{sorted(KNOWN_KEYS)}")
    if config.get("dataset") is not None:
        try:
            validate_name(config["dataset"], field="model_config dataset")
        except InvalidNameError as exc:
            raise ModelConfigError(str(exc)) from None
    if not isinstance(config.get("sim", {}), Mapping | None):
        raise ModelConfigError(f"model_config sim={config['sim']!r}: must be a mapping")


def parse_model_config(config: Mapping[str, Any] | None, *,
                       strict: bool = False) -> StrategyConfig:
    """Validate ``model_config`` (``strategy``, ``params``, ``venue``, optional ``cutoff``
    and ``symbols``) and build the params object with ``spec.make_params``.

    With ``strict`` (the live loader) every key must be one of :data:`KNOWN_KEYS`, the
    dataset a valid name and ``sim`` a mapping; otherwise other keys are ignored.
    """
    if not isinstance(config, Mapping):
        raise ModelConfigError(f"model_config must be a mapping, got {config!r}")
    missing = [key for key in ("strategy", "params", "venue") if key not in config]
    if missing:
        raise ModelConfigError(f"model_config lacks {missing}; got keys {sorted(config)}")
    if strict:
        _check_strict(config)
    name, params, venue = config["strategy"], config["params"], config["venue"]
    if not isinstance(name, str) or name not in STRATEGIES:
        raise ModelConfigError(
            f"model_config strategy={name!r} is not registered; registered: {sorted(STRATEGIES)}")
    spec = STRATEGIES[name]
    if not isinstance(params, Mapping):
        raise ModelConfigError(f"model_config params={params!r} for {name}: must be a mapping")
    try:
        params_obj = spec.make_params(**params)
    except (ParamError, TypeError) as exc:
        raise ModelConfigError(f"model_config params={dict(params)!r} for {name}: {exc}") from exc
    try:
        get_venue(venue)
    except (UnknownVenueError, AttributeError) as exc:
        raise ModelConfigError(f"model_config venue={venue!r}: {exc}") from None
    return StrategyConfig(spec, params_obj, venue, _cutoff(config.get("cutoff", "venue")),
                          _symbols(config.get("symbols")))
