"""The basis helper: spot levels moved onto the futures series explicitly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.basis import (
    BasisInputError,
    carry_basis,
    observed_basis,
    spot_level_on_futures,
)


def test_carry_basis_is_the_cost_of_carry() -> None:
    # NIFTY 23,500, 6.5 % a year, 30 days: F = S * exp(r T) -> ~125.8 points
    assert carry_basis(23_500.0, 0.065, 30.0) == pytest.approx(
        23_500.0 * (math.exp(0.065 * 30 / 365) - 1))
    assert carry_basis(23_500.0, 0.065, 0.0) == 0.0


def test_spot_filter_level_moves_by_the_observed_basis() -> None:
    spot = np.array([23_500.0, 23_520.0])
    fut = np.array([23_625.0, 23_640.5])
    # "spot above 23,510" read on the futures: the level sits basis points higher
    on_fut = spot_level_on_futures(23_510.0, fut, spot)
    assert list(on_fut) == [23_635.0, 23_630.5]
    assert list(fut > on_fut) == list(spot > 23_510.0)


@given(st.lists(st.tuples(st.floats(1_000, 60_000), st.floats(-500, 500)), min_size=1,
                max_size=20), st.floats(1_000, 60_000))
def test_a_spot_comparison_is_kept_on_the_futures_side(rows: list[tuple[float, float]],
                                                       level: float) -> None:
    spot = np.array([s for s, _ in rows])
    fut = spot + np.array([b for _, b in rows])
    on_fut = spot_level_on_futures(level, fut, spot)
    assert np.allclose(fut - on_fut, spot - level, atol=1e-6)


def test_observed_basis_refuses_misaligned_or_bad_input() -> None:
    with pytest.raises(BasisInputError, match="not aligned"):
        observed_basis(np.ones(3), np.ones(2))
    with pytest.raises(BasisInputError, match="finite"):
        observed_basis(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(BasisInputError, match="spot > 0"):
        carry_basis(0.0, 0.065, 1.0)
