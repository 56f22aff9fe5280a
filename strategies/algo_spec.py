"""A version's execution algo: which parent-order algo its entries use and its bounded params.

Pure data. It lives in ``strategies`` so the version config (``model_config["execution"]``)
validates it without importing ``live``; ``live.algos`` re-exports it and plans the
schedules. ``market`` (the default, and what an absent ``execution`` key means) is one
market order per entry, today's behaviour. Every refusal names the field and the value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from strategies.errors import BadInputError

AlgoName = Literal["market", "twap", "vwap", "pov", "is"]
ALGO_NAMES: tuple[str, ...] = ("market", "twap", "vwap", "pov", "is")
ON_DEADLINE = ("market", "cancel")

#: Inclusive bounds of the numeric fields (``participation_pct`` and ``risk_aversion`` are
#: exclusive at their lower bound: 0 is refused).
HORIZON_MINUTES_BOUNDS = (1, 375)
CHILD_COUNT_BOUNDS = (1, 375)
RANDOMISE_PCT_BOUNDS = (0.0, 50.0)
LIMIT_OFFSET_TICKS_BOUNDS = (0, 100)
SLIPPAGE_GUARD_BPS_BOUNDS = (0.0, 1000.0)
PARTICIPATION_PCT_BOUNDS = (0.0, 25.0)
RISK_AVERSION_BOUNDS = (0.0, 1e6)


class AlgoParamError(BadInputError, ValueError):
    """An execution algo param that is unknown, of the wrong type or outside its bounds."""


def _number(where: str, name: str, value: object, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlgoParamError(f"{where}.{name}={value!r}: must be {kind.__name__}")
    if kind is int and not isinstance(value, int):
        raise AlgoParamError(f"{where}.{name}={value!r}: must be int")
    return kind(value)


def _within(where: str, name: str, value: float, bounds: tuple[float, float], *,
            open_low: bool = False) -> None:
    low, high = bounds
    if (value <= low if open_low else value < low) or value > high:
        side = "(" if open_low else "["
        raise AlgoParamError(f"{where}.{name}={value!r}: outside {side}{low}, {high}]")


@dataclass(frozen=True, kw_only=True, slots=True)
class AlgoSpec:
    """One parent-order algo and its params; ``market`` ignores the rest.

    ``child_count`` children over ``horizon_minutes`` (at most one a minute), sizes and times
    jittered by up to ``randomise_pct``; children rest ``limit_offset_ticks`` inside the best
    price, never worse than arrival by ``slippage_guard_bps``; ``on_deadline`` says what the
    remainder does at the deadline.
    """

    name: AlgoName = "market"
    horizon_minutes: int = 30
    child_count: int = 6
    randomise_pct: float = 0.0
    limit_offset_ticks: int = 0
    slippage_guard_bps: float = 50.0
    on_deadline: str = "market"
    participation_pct: float | None = None
    risk_aversion: float | None = None

    def __post_init__(self) -> None:
        self.validate("execution")

    def validate(self, where: str) -> None:
        """Refuse a field outside its bounds, naming ``where``, the field and the value."""
        if self.name not in ALGO_NAMES:
            raise AlgoParamError(f"{where}.name={self.name!r}: must be one of {list(ALGO_NAMES)}")
        if self.on_deadline not in ON_DEADLINE:
            raise AlgoParamError(f"{where}.on_deadline={self.on_deadline!r}: must be one of "
                                 f"{list(ON_DEADLINE)}")
        _within(where, "horizon_minutes", self.horizon_minutes, HORIZON_MINUTES_BOUNDS)
        _within(where, "child_count", self.child_count, CHILD_COUNT_BOUNDS)
        if self.child_count > self.horizon_minutes:
            raise AlgoParamError(f"{where}.child_count={self.child_count}: more than one child "
                                 f"a minute over horizon_minutes={self.horizon_minutes}")
        _within(where, "randomise_pct", self.randomise_pct, RANDOMISE_PCT_BOUNDS)
        _within(where, "limit_offset_ticks", self.limit_offset_ticks, LIMIT_OFFSET_TICKS_BOUNDS)
        _within(where, "slippage_guard_bps", self.slippage_guard_bps, SLIPPAGE_GUARD_BPS_BOUNDS,
                open_low=True)
        self._validate_algo_params(where)

    def _validate_algo_params(self, where: str) -> None:
        for field_name, algo, bounds in (("participation_pct", "pov", PARTICIPATION_PCT_BOUNDS),
                                         ("risk_aversion", "is", RISK_AVERSION_BOUNDS)):
            value = getattr(self, field_name)
            if self.name == algo and value is None:
                raise AlgoParamError(f"{where}.{field_name}: required by algo {algo!r}")
            if self.name != algo and value is not None:
                raise AlgoParamError(f"{where}.{field_name}={value!r}: only algo {algo!r} "
                                     f"takes it, not {self.name!r}")
            if value is not None:
                _within(where, field_name, value, bounds, open_low=True)

    @property
    def is_market(self) -> bool:
        """True when entries go as one market order (no parent)."""
        return self.name == "market"

    @classmethod
    def from_mapping(cls, data: object, where: str = "execution") -> AlgoSpec:
        """Parse a plain mapping (a version config's ``execution``); unknown keys refused."""
        if not isinstance(data, Mapping):
            raise AlgoParamError(f"{where}={data!r}: must be a mapping")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise AlgoParamError(f"{where} has unknown keys {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in ("name", "on_deadline"):
                if not isinstance(value, str):
                    raise AlgoParamError(f"{where}.{name}={value!r}: must be str")
                values[name] = value
            elif name in ("horizon_minutes", "child_count", "limit_offset_ticks"):
                values[name] = _number(where, name, value, int)
            elif value is None and name in ("participation_pct", "risk_aversion"):
                values[name] = None
            else:
                values[name] = _number(where, name, value, float)
        spec = cls.__new__(cls)
        for name, value in {**_defaults(), **values}.items():
            object.__setattr__(spec, name, value)
        spec.validate(where)
        return spec

    def to_json(self) -> dict[str, Any]:
        """The plain mapping :meth:`from_mapping` reads back."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(AlgoSpec)}


MARKET = AlgoSpec()

__all__ = ["ALGO_NAMES", "MARKET", "AlgoName", "AlgoParamError", "AlgoSpec"]
