"""Parameter stability measures on small hand-built grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.research.stability import (
    StabilityInputError,
    neighbours,
    params_drift,
    plateau_score,
    rank_correlation,
)

SPACE = {"fast": (5, 10, 15), "slow": (20, 30, 40)}


def _grid(values: dict[tuple[int, int], float]) -> pd.DataFrame:
    return pd.DataFrame([{"fast": f, "slow": s, "sharpe": v} for (f, s), v in values.items()])


def test_neighbours_centre_has_four() -> None:
    assert len(neighbours({"fast": 10, "slow": 30}, SPACE)) == 4


def test_neighbours_corner_has_two() -> None:
    assert sorted((n["fast"], n["slow"]) for n in neighbours({"fast": 5, "slow": 20}, SPACE)) \
        == [(5, 30), (10, 20)]


def test_plateau_score_flat_neighbourhood_is_one() -> None:
    grid = _grid({(f, s): 1.0 for f in SPACE["fast"] for s in SPACE["slow"]})
    assert plateau_score(grid, {"fast": 10, "slow": 30}, SPACE) == 1.0


def test_plateau_score_lone_spike_is_zero() -> None:
    values = {(f, s): 0.1 for f in SPACE["fast"] for s in SPACE["slow"]}
    values[(10, 30)] = 2.0
    assert plateau_score(_grid(values), {"fast": 10, "slow": 30}, SPACE) == 0.0


def test_plateau_score_half_good_neighbours_is_half() -> None:
    values = {(f, s): 0.1 for f in SPACE["fast"] for s in SPACE["slow"]}
    values.update({(10, 30): 2.0, (5, 30): 1.5, (10, 20): 1.2})
    assert plateau_score(_grid(values), {"fast": 10, "slow": 30}, SPACE) == 0.5


def test_plateau_score_non_positive_choice_is_zero() -> None:
    grid = _grid({(f, s): -1.0 for f in SPACE["fast"] for s in SPACE["slow"]})
    assert plateau_score(grid, {"fast": 10, "slow": 30}, SPACE) == 0.0


def test_plateau_score_unknown_metric_is_refused() -> None:
    grid = _grid({(10, 30): 1.0})
    with pytest.raises(StabilityInputError, match="metric 'calmar'"):
        plateau_score(grid, {"fast": 10, "slow": 30}, SPACE, metric="calmar")


def test_rank_correlation_same_order_is_one() -> None:
    assert rank_correlation(np.arange(10.0), np.arange(10.0) * 3) == pytest.approx(1.0)


def test_rank_correlation_reversed_order_is_minus_one() -> None:
    assert rank_correlation(np.arange(10.0), -np.arange(10.0)) == pytest.approx(-1.0)


def test_rank_correlation_shape_mismatch_is_refused() -> None:
    with pytest.raises(StabilityInputError, match="differ"):
        rank_correlation(np.arange(3.0), np.arange(4.0))


def test_params_drift_same_choice_is_zero() -> None:
    assert params_drift([{"fast": 10, "slow": 30}] * 3, SPACE) == 0.0


def test_params_drift_corner_to_corner_is_one() -> None:
    folds = [{"fast": 5, "slow": 20}, {"fast": 15, "slow": 40}, {"fast": 5, "slow": 20}]
    assert params_drift(folds, SPACE) == 1.0


def test_params_drift_value_outside_space_is_refused() -> None:
    with pytest.raises(StabilityInputError, match="fast=7"):
        params_drift([{"fast": 7, "slow": 20}, {"fast": 5, "slow": 20}], SPACE)
