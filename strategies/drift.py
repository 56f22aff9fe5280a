"""Feature drift against a version's training reference: the Population Stability Index and
the Kolmogorov-Smirnov distance, per feature.

The reference is stored binned, not as raw rows: per feature, ``n_bins`` quantile bin edges
of the training sample with each bin's share (for PSI) and 101 quantiles (the reference CDF,
linearly interpolated, for KS through :func:`scipy.stats.kstest`). It is plain JSON, hashed
with the classifier, so research and live measure against the same numbers.

PSI = sum over bins of ``(p_live - p_ref) * ln(p_live / p_ref)``, shares floored at
:data:`PSI_FLOOR` (an empty bin would be infinite); the usual reading is < 0.1 stable,
0.1-0.25 moderate, > 0.25 a shift (Yurdakul 2018, "Statistical properties of the population
stability index"). KS is reported as the statistic D (the largest CDF gap), not a p-value:
one-minute features are strongly autocorrelated, so a p-value computed as if bars were
independent would call every session a shift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from strategies.errors import BadInputError

PSI_FLOOR = 1e-4
N_QUANTILES = 101
DEFAULT_BINS = 10


class DriftReferenceError(BadInputError, ValueError):
    """A drift reference that is missing, malformed or for other features."""


@dataclass(frozen=True, slots=True)
class FeatureReference:
    """One feature's training distribution: bin edges (inner cut points) and shares, and
    its quantiles at 0, 1, ..., 100 %."""

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    quantiles: tuple[float, ...]

    def psi(self, sample: npt.NDArray[np.float64]) -> float:
        counts = np.bincount(np.searchsorted(np.asarray(self.edges), sample, side="right"),
                             minlength=len(self.shares)).astype(np.float64)
        live = np.maximum(counts / max(len(sample), 1), PSI_FLOOR)
        ref = np.maximum(np.asarray(self.shares), PSI_FLOOR)
        return float(np.sum((live - ref) * np.log(live / ref)))

    def cdf(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The reference CDF, piecewise linear through the stored quantiles."""
        q = np.asarray(self.quantiles)
        levels = np.linspace(0.0, 1.0, len(q))
        return np.asarray(np.interp(x, q, levels, left=0.0, right=1.0))

    def ks(self, sample: npt.NDArray[np.float64]) -> float:
        from scipy import stats  # ~0.3 s to import: only when a drift is measured

        return float(stats.kstest(sample, self.cdf).statistic)


@dataclass(frozen=True, slots=True)
class DriftReading:
    """PSI and KS per feature of one sample, with how many rows it had."""

    rows: int
    psi: dict[str, float]
    ks: dict[str, float]

    def breaches(self, max_psi: float, max_ks: float) -> list[str]:
        """``"<feature> psi 0.31 > 0.25"`` for every statistic above its threshold."""
        out = [f"{n} psi {v:.3g} > {max_psi:g}" for n, v in self.psi.items() if v > max_psi]
        out += [f"{n} ks {v:.3g} > {max_ks:g}" for n, v in self.ks.items() if v > max_ks]
        return out

    def worst(self) -> tuple[float, float]:
        return max(self.psi.values(), default=0.0), max(self.ks.values(), default=0.0)


@dataclass(frozen=True, slots=True)
class DriftReference:
    """The training reference of every feature, in the classifier's feature order."""

    features: tuple[FeatureReference, ...]
    rows: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @classmethod
    def from_samples(cls, matrix: npt.NDArray[np.float64], names: Sequence[str],
                     n_bins: int = DEFAULT_BINS) -> DriftReference:
        """Bin a training matrix (rows with a NaN are left out)."""
        rows = matrix[~np.isnan(matrix).any(axis=1)]
        if len(rows) < n_bins * 10:
            raise DriftReferenceError(f"a drift reference needs at least {n_bins * 10} "
                                      f"complete rows, got {len(rows)}")
        refs = []
        for j, name in enumerate(names):
            col = rows[:, j]
            edges = np.unique(np.quantile(col, np.linspace(0, 1, n_bins + 1)[1:-1]))
            counts = np.bincount(np.searchsorted(edges, col, side="right"),
                                 minlength=len(edges) + 1)
            refs.append(FeatureReference(
                name, tuple(map(float, edges)), tuple(map(float, counts / len(col))),
                tuple(map(float, np.quantile(col, np.linspace(0, 1, N_QUANTILES))))))
        return cls(tuple(refs), len(rows))

    def measure(self, matrix: npt.NDArray[np.float64]) -> DriftReading:
        """PSI and KS of each column of ``matrix`` (rows with a NaN are left out)."""
        if matrix.ndim != 2 or matrix.shape[1] != len(self.features):
            raise DriftReferenceError(f"a drift sample needs {len(self.features)} feature "
                                      f"columns {list(self.names)}, got shape {matrix.shape}")
        rows = matrix[~np.isnan(matrix).any(axis=1)]
        if not len(rows):
            return DriftReading(0, {}, {})
        return DriftReading(len(rows),
                            {f.name: f.psi(rows[:, j]) for j, f in enumerate(self.features)},
                            {f.name: f.ks(rows[:, j]) for j, f in enumerate(self.features)})

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "features": [
            {"name": f.name, "edges": list(f.edges), "shares": list(f.shares),
             "quantiles": list(f.quantiles)} for f in self.features]}

    @classmethod
    def from_json(cls, data: object, where: str) -> DriftReference:
        """Decode :meth:`to_json`'s output; any malformed field is refused, naming it."""
        if not isinstance(data, Mapping) or not isinstance(data.get("features"), list):
            raise DriftReferenceError(f"{where}: not a drift reference (no features list)")
        refs = []
        for i, raw in enumerate(data["features"]):
            try:
                ref = FeatureReference(str(raw["name"]), _floats(raw["edges"]),
                                       _floats(raw["shares"]), _floats(raw["quantiles"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise DriftReferenceError(f"{where}: features[{i}] malformed ({exc!r})") from exc
            if len(ref.shares) != len(ref.edges) + 1 or len(ref.quantiles) < 2 or \
                    not math.isclose(sum(ref.shares), 1.0, abs_tol=1e-6):
                raise DriftReferenceError(f"{where}: features[{i}] ({ref.name}) has "
                                          f"{len(ref.edges)} edges, {len(ref.shares)} shares "
                                          f"summing to {sum(ref.shares):.6g}")
            refs.append(ref)
        return cls(tuple(refs), int(data.get("rows", 0)))


def _floats(values: object) -> tuple[float, ...]:
    if not isinstance(values, list):
        raise TypeError(f"{values!r:.60} is not a list")
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in out):
        raise ValueError("non-finite value")
    return out


#: Rows a regime needs in a drift sample before it is compared (fewer: left out).
MIN_REGIME_ROWS = 100


@dataclass(frozen=True, slots=True)
class RegimeDriftReading:
    """Drift of a window, regime by regime, and the row-weighted mean over the regimes
    compared (``psi``/``ks`` per feature); ``compared`` is each regime's row count."""

    psi: dict[str, float]
    ks: dict[str, float]
    compared: dict[str, int]

    def breaches(self, max_psi: float, max_ks: float) -> list[str]:
        return DriftReading(sum(self.compared.values()), self.psi, self.ks).breaches(
            max_psi, max_ks)

    def worst(self) -> tuple[float, float]:
        return max(self.psi.values(), default=0.0), max(self.ks.values(), default=0.0)


@dataclass(frozen=True, slots=True)
class RegimeDriftReference:
    """One :class:`DriftReference` per classified regime: a window's bars are compared with
    the training bars the classifier put in the same regime, so the regime mix of a few
    sessions is not mistaken for drift."""

    by_regime: dict[str, DriftReference]

    @property
    def names(self) -> tuple[str, ...]:
        first = next(iter(self.by_regime.values()), None)
        return () if first is None else first.names

    @classmethod
    def from_samples(cls, matrix: npt.NDArray[np.float64], regimes: npt.ArrayLike,
                     names: Sequence[str], classes: Sequence[str]) -> RegimeDriftReference:
        labels = np.asarray(regimes).astype(str)
        return cls({c: DriftReference.from_samples(matrix[labels == c], names)
                    for c in classes if (labels == c).sum() >= DEFAULT_BINS * 10})

    def measure(self, matrix: npt.NDArray[np.float64], regimes: npt.ArrayLike
                ) -> RegimeDriftReading:
        """Per regime with at least :data:`MIN_REGIME_ROWS` complete rows, PSI and KS
        against that regime's reference; their row-weighted mean per feature."""
        labels = np.asarray(regimes).astype(str)
        complete = ~np.isnan(matrix).any(axis=1)
        readings: dict[str, DriftReading] = {}
        for regime, reference in self.by_regime.items():
            rows = matrix[complete & (labels == regime)]
            if len(rows) >= MIN_REGIME_ROWS:
                readings[regime] = reference.measure(rows)
        total = sum(r.rows for r in readings.values())
        if not total:
            return RegimeDriftReading({}, {}, {})

        def mean(kind: str) -> dict[str, float]:
            return {n: sum(getattr(r, kind)[n] * r.rows for r in readings.values()) / total
                    for n in self.names}

        return RegimeDriftReading(mean("psi"), mean("ks"),
                                  {k: r.rows for k, r in readings.items()})

    def to_json(self) -> dict[str, Any]:
        return {"by_regime": {k: v.to_json() for k, v in sorted(self.by_regime.items())}}

    @classmethod
    def from_json(cls, data: object, where: str) -> RegimeDriftReference:
        if not isinstance(data, Mapping) or not isinstance(data.get("by_regime"), Mapping) \
                or not data["by_regime"]:
            raise DriftReferenceError(f"{where}: not a per-regime drift reference "
                                      "(no by_regime table)")
        refs = {str(k): DriftReference.from_json(v, f"{where} by_regime.{k}")
                for k, v in data["by_regime"].items()}
        names = {r.names for r in refs.values()}
        if len(names) != 1:
            raise DriftReferenceError(f"{where}: regimes disagree on features {sorted(names)}")
        return cls(refs)


@dataclass(frozen=True, slots=True)
class DriftLimits:
    """What a drift monitor holds on: PSI or KS above these over the last
    ``window_sessions`` completed sessions (policy.yaml ``signal_governance``); and whether
    a version carrying a regime classifier but no enable matrix has its entries held
    (``require_enable_matrix``)."""

    max_psi: float
    max_ks: float
    window_sessions: int = 1
    require_enable_matrix: bool = False

    def __post_init__(self) -> None:
        if not (self.max_psi > 0 and 0 < self.max_ks <= 1 and self.window_sessions >= 1):
            raise DriftReferenceError(f"drift limits max_psi={self.max_psi!r} (> 0), "
                                      f"max_ks={self.max_ks!r} (in (0, 1]), "
                                      f"window_sessions={self.window_sessions!r} (>= 1)")
