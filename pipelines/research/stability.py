"""Parameter stability: is the chosen point a plateau, do IS ranks carry OOS, do choices drift?

Robust parameters sit on a plateau of good neighbours rather than a lone spike (Pardo,
"The Evaluation and Optimization of Trading Strategies", 2nd ed. 2008, ch. 11: a robust
optimum is surrounded by profitable neighbours); in-sample ranks that predict out-of-sample
ranks and choices that do not jump between folds are the other two signs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from strategies.errors import StratopsError


class StabilityInputError(StratopsError, ValueError):
    """Inputs that the stability measures cannot use (names the argument and value)."""


def _position(space: Mapping[str, Sequence[Any]], name: str, value: Any) -> int:
    values = list(space[name])
    if value not in values:
        raise StabilityInputError(f"{name}={value!r} is not in the declared space {values}")
    return values.index(value)


def neighbours(params: Mapping[str, Any], space: Mapping[str, Sequence[Any]]
               ) -> list[dict[str, Any]]:
    """Points one step away along one axis of the declared space (grid neighbours)."""
    out = []
    for name in space:
        i = _position(space, name, params[name])
        for j in (i - 1, i + 1):
            if 0 <= j < len(space[name]):
                out.append({**params, name: space[name][j]})
    return out


def plateau_score(grid: pd.DataFrame, chosen: Mapping[str, Any],
                  space: Mapping[str, Sequence[Any]], metric: str = "sharpe",
                  keep: float = 0.5) -> float:
    """Share of the chosen point's grid neighbours whose ``metric`` reaches ``keep`` x the
    chosen point's (0 when the chosen metric is not positive or it has no valid neighbour).

    ``grid`` has one row per evaluated combination: the parameter columns and ``metric``.
    Neighbours the params class rejected (absent from ``grid``) do not count.
    """
    if metric not in grid:
        raise StabilityInputError(f"metric {metric!r} not among grid columns {list(grid)}")
    names = list(space)
    index = grid.set_index(names)[metric]
    key = tuple(chosen[n] for n in names)
    if key not in index.index:
        raise StabilityInputError(f"chosen point {dict(chosen)} is not in the grid")
    best = float(index.loc[key])
    if not np.isfinite(best) or best <= 0:
        return 0.0
    values = [float(index.loc[tuple(nb[n] for n in names)])
              for nb in neighbours(chosen, space) if tuple(nb[n] for n in names) in index.index]
    if not values:
        return 0.0
    return float(np.mean(np.asarray(values) >= keep * best))


def rank_correlation(in_sample: np.ndarray, out_of_sample: np.ndarray) -> float:
    """Spearman rank correlation of the combinations' IS and OOS metric (NaN pairs dropped);
    NaN when fewer than 3 pairs remain or either side is constant (no ranking)."""
    a, b = np.asarray(in_sample, float), np.asarray(out_of_sample, float)
    if a.shape != b.shape:
        raise StabilityInputError(f"in_sample {a.shape} and out_of_sample {b.shape} differ")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


def params_drift(chosen_per_fold: Sequence[Mapping[str, Any]],
                 space: Mapping[str, Sequence[Any]]) -> float:
    """Mean step of the chosen parameters between consecutive folds, each axis scaled to
    [0, 1] by its number of declared values: 0 = the same point every fold, 1 = corner to
    corner every time."""
    if len(chosen_per_fold) < 2:
        return 0.0
    spans = {n: max(len(space[n]) - 1, 1) for n in space}
    steps = []
    for before, after in itertools.pairwise(chosen_per_fold):
        moves = [abs(_position(space, n, after[n]) - _position(space, n, before[n])) / spans[n]
                 for n in space]
        steps.append(float(np.mean(moves)))
    return float(np.mean(steps))
