"""Strategy parameters as data: frozen keyword-only dataclasses, declared spaces, stable hashes.

Like scikit-learn estimators, a strategy's parameters are declared once, validated once at
construction, and introspectable (:func:`get_params`). A parameter space is a mapping from
field name to the candidate values; :func:`expand_space` enumerates its valid combinations
(constraints such as ``fast < slow`` are the params class's own validation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from strategies.errors import BadInputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

P = TypeVar("P", bound="DataclassInstance")  # a strategy's params class is a dataclass


class ParamError(BadInputError, ValueError):
    """A parameter value outside its declared range, or an unknown parameter name."""


def get_params(params: Any) -> dict[str, Any]:
    """The params object's fields as a plain dict (declaration order)."""
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}


def params_hash(params: Any) -> str:
    """Stable 16-hex-digit hash of the class name and values (MLflow tag and cache key)."""
    payload = json.dumps({"class": type(params).__name__, "params": get_params(params)},
                         sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def require(condition: bool, name: str, value: Any, rule: str) -> None:
    """Raise :class:`ParamError` naming ``name`` and ``value`` unless ``condition`` holds."""
    if not condition:
        raise ParamError(f"{name}={value!r}: {rule}")


def coerce(params_cls: type[P], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Convert ``key=value`` strings (command line) to the field types of ``params_cls``."""
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    out: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in fields:
            raise ParamError(f"unknown parameter {key!r} for {params_cls.__name__}; "
                             f"known: {sorted(fields)}")
        kind: type[Any] = type(fields[key].default)
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                out[key] = raw.lower() in ("true", "1")
            else:
                out[key] = kind(raw)
        except ValueError as exc:
            raise ParamError(f"{key}={raw!r} is not a valid {kind.__name__}") from exc
    return out


def expand_space(params_cls: type[P], space: Mapping[str, Sequence[Any]]) -> Iterator[P]:
    """Every valid combination of ``space`` as a params object, in a stable order.

    Combinations the params class rejects (e.g. ``fast >= slow``) are skipped.
    """
    names = list(space)
    known = {f.name for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ParamError(f"space of {params_cls.__name__} names unknown fields {unknown}")
    for values in itertools.product(*(space[n] for n in names)):
        try:
            yield params_cls(**dict(zip(names, values, strict=True)))
        except ParamError:
            continue


def in_space(params: Any, space: Mapping[str, Sequence[Any]]) -> None:
    """Raise :class:`ParamError` if a field's value lies outside the declared space's range."""
    for name, values in space.items():
        value = getattr(params, name)
        numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numeric and isinstance(value, int | float) and not isinstance(value, bool):
            lo, hi = min(numeric), max(numeric)
            require(lo <= value <= hi, name, value, f"outside the declared space [{lo}, {hi}]")
        elif value not in values:
            raise ParamError(f"{name}={value!r}: not in the declared space {list(values)}")
