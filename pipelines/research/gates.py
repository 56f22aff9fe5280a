"""Gates: the reviewed thresholds in ``gates.yaml`` and the verdict on a set of metrics.

A verdict lists every check with its value, threshold and outcome; the version passes only
if all pass. A missing or NaN metric fails its check (fail closed), never passes silently.

``max_pbo`` is checked on PBO at the configured block count (``research.pbo_splits``, 16 by
default). When PBO at the other reported block counts (``pbo.s<S>`` metrics) lies on both
sides of the threshold, the verdict carries a warning that it is on a knife's edge: the
outcome is the same, but it owes itself to the choice of S.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from strategies.errors import BadInputError

# check name -> (metric it reads, comparison); "min" passes when value >= threshold
CHECKS: dict[str, tuple[str, str]] = {
    "min_oos_sharpe": ("oos_sharpe", "min"),
    "min_dsr_probability": ("dsr_probability", "min"),
    "max_pbo": ("pbo", "max"),
    "max_drawdown": ("oos_max_drawdown", "max"),
    "min_trades": ("oos_trades", "min"),
    "max_cost_share": ("oos_cost_share", "max"),
    "min_stability": ("stability", "min"),
}
PBO_AT_SPLITS = re.compile(r"^pbo\.s(\d+)$")  # PBO at S blocks, e.g. pbo.s8


class GateConfigError(BadInputError, ValueError):
    """``gates.yaml`` is missing, malformed, or names an unknown check or strategy."""


class Thresholds(BaseModel):
    """One complete set of thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_oos_sharpe: float
    min_dsr_probability: float = Field(ge=0.0, le=1.0)
    max_pbo: float = Field(ge=0.0, le=1.0)
    max_drawdown: float = Field(ge=0.0)
    min_trades: int = Field(ge=0)
    max_cost_share: float = Field(ge=0.0)
    min_stability: float = Field(ge=0.0, le=1.0)


class SignalGates(BaseModel):
    """``signal_governance:`` - the regime classifier's and the drift monitor's gates
    (README, "Signal governance: regimes and drift")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_regime_balanced_accuracy: float = Field(0.80, ge=0.0, le=1.0)
    max_drift_psi: float = Field(0.25, gt=0.0)
    max_drift_ks: float = Field(0.14, gt=0.0, le=1.0)


class MatrixRule(BaseModel):
    """One rule a regime's trades must pass for the strategy to be enabled there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_trades: int = Field(10, ge=1)
    min_mean_net_return: float = Field(0.0, allow_inf_nan=False)
    max_p_value: float = Field(0.10, gt=0.0, le=1.0)


def _default_rules() -> tuple[MatrixRule, ...]:
    return (MatrixRule(),)


class MatrixGates(BaseModel):
    """``enable_matrix:`` - how the regime enable matrix is learned (README, "Signal
    governance: the enable matrix"). ``rules[0]`` is the version's; every rule is tried
    nested and counted as a trial in the governed stream's DSR."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[MatrixRule, ...] = Field(default_factory=_default_rules, min_length=1)
    #: anchored inner folds inside each outer training window whose OOS trades each outer
    #: fold's matrix is learned from (nested walk-forward; cost: this many grid runs per
    #: outer fold)
    inner_folds: int = Field(3, ge=1, le=12)


class _GatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    defaults: Thresholds
    strategies: dict[str, dict[str, float]] = Field(default_factory=dict)
    signal_governance: SignalGates = Field(default_factory=SignalGates)
    enable_matrix: MatrixGates = Field(default_factory=MatrixGates)


@dataclass(frozen=True, slots=True)
class Check:
    """One gate check: which metric, its value, the threshold and whether it passed."""

    name: str
    metric: str
    value: float
    threshold: float
    passed: bool


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """Every check of one strategy version; ``passed`` only when all checks pass."""

    strategy: str
    checks: tuple[Check, ...]
    gates_digest: str
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        out = {"strategy": self.strategy, "passed": self.passed,
               "gates_digest": self.gates_digest,
               "checks": [asdict(c) for c in self.checks]}
        if self.warnings:  # absent when empty: warning-free verdicts keep their digests
            out["warnings"] = list(self.warnings)
        return out

    def digest(self) -> str:
        """SHA-256 of the canonical JSON verdict (recorded with the registered version)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Gates:
    """The parsed ``gates.yaml``: defaults, per-strategy overrides, and the file's digest."""

    defaults: Thresholds
    overrides: Mapping[str, Mapping[str, float]]
    digest: str
    signal: SignalGates = field(default_factory=SignalGates)
    matrix: MatrixGates = field(default_factory=MatrixGates)

    def for_strategy(self, strategy: str) -> Thresholds:
        merged = {**self.defaults.model_dump(), **self.overrides.get(strategy, {})}
        return Thresholds(**merged)

    def evaluate(self, strategy: str, metrics: Mapping[str, float]) -> GateVerdict:
        """Check ``metrics`` against the thresholds for ``strategy``."""
        thresholds = self.for_strategy(strategy).model_dump()
        checks = []
        for name, (metric, kind) in CHECKS.items():
            value = float(metrics.get(metric, math.nan))
            limit = float(thresholds[name])
            ok = not math.isnan(value) and (value >= limit if kind == "min" else value <= limit)
            checks.append(Check(name, metric, value, limit, ok))
        warning = knife_edge_warning(metrics, float(thresholds["max_pbo"]))
        return GateVerdict(strategy, tuple(checks), self.digest,
                           (warning,) if warning is not None else ())


def pbo_by_splits(metrics: Mapping[str, float]) -> dict[int, float]:
    """``{S: PBO}`` from the ``pbo.s<S>`` metrics (finite values only), in increasing S."""
    found = {int(m.group(1)): float(v) for k, v in metrics.items()
             if (m := PBO_AT_SPLITS.match(k)) is not None and math.isfinite(float(v))}
    return dict(sorted(found.items()))


def knife_edge_warning(metrics: Mapping[str, float], max_pbo: float) -> str | None:
    """A warning when PBO across block counts lies on both sides of ``max_pbo`` (some S pass,
    some fail), naming the gated S and the spread; None otherwise."""
    spread = pbo_by_splits(metrics)
    if len(spread) < 2 or not min(spread.values()) <= max_pbo < max(spread.values()):
        return None
    gated = metrics.get("pbo.n_splits", math.nan)
    at = f"S={int(gated)}" if math.isfinite(float(gated)) else "the configured S"
    listing = ", ".join(f"{v:.2f} (S={s})" for s, v in spread.items())
    return (f"max_pbo is on a knife's edge: PBO {float(metrics.get('pbo', math.nan)):.2f} "
            f"at the gated {at}, but {min(spread.values()):.2f}-{max(spread.values()):.2f} "
            f"across block counts [{listing}] straddles the {max_pbo:g} threshold; the "
            "verdict depends on the choice of S")


def load_gates(path: Path, known_strategies: set[str] | None = None) -> Gates:
    """Parse and validate ``gates.yaml``; unknown keys and strategies are refused."""
    try:
        raw_text = path.read_text()
        raw = yaml.safe_load(raw_text)
    except OSError as exc:
        raise GateConfigError(f"{path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise GateConfigError(f"{path}: not valid YAML ({exc})") from exc
    try:
        parsed = _GatesFile(**(raw or {}))
    except (ValidationError, TypeError) as exc:
        raise GateConfigError(f"{path}: {exc}") from exc
    for strategy, keys in parsed.strategies.items():
        if known_strategies is not None and strategy not in known_strategies:
            raise GateConfigError(f"{path}: strategies.{strategy} is not a registered strategy")
        unknown = sorted(set(keys) - set(CHECKS))
        if unknown:
            raise GateConfigError(f"{path}: strategies.{strategy} has unknown checks {unknown}")
        try:
            Thresholds(**{**parsed.defaults.model_dump(), **keys})
        except ValidationError as exc:
            raise GateConfigError(f"{path}: strategies.{strategy}: {exc}") from exc
    digest = hashlib.sha256(raw_text.encode()).hexdigest()
    return Gates(parsed.defaults, parsed.strategies, digest, parsed.signal_governance,
                 parsed.enable_matrix)
