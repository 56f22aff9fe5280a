"""The inner walk-forward each outer fold's enable matrix is learned from: its folds lie
inside the outer training window (hand-checked layout), it never reads a bar after it
(truncation), its params are the inner train window's best, and the matrix of a small
hand-computed case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.research.enable_matrix import learn_matrix
from pipelines.research.gates import MatrixGates, MatrixRule
from pipelines.research.inner_walk_forward import (
    InnerWalkForwardError,
    inner_folds,
    inner_oos_trades,
    inner_spec,
)
from pipelines.research.splits import walk_forward_folds
from strategies.bars import Bars
from strategies.ema_cross import SPEC
from strategies.grid import METRIC_NAMES, run_grid
from strategies.params import get_params
from strategies.regime_features import regime_feature_matrix
from tests.regime_stubs import governance
from tests.unit.test_fold_trades import COMBOS, CONFIG, WF, _bars, _frame

N_INNER = 2


def _features(bars: Bars) -> np.ndarray:
    return regime_feature_matrix(bars.open, bars.high, bars.low, bars.close, bars.session)


@pytest.fixture(scope="module")
def bars() -> Bars:
    return _bars(_frame())


def test_inner_layout_is_the_hand_checked_one(bars: Bars) -> None:
    # outer: rolling, train 15 sessions, purge 1: inner test (15 - 1) // 3 = 4 sessions,
    # inner train 15 - 1 - 2 * 4 = 6 sessions (anchored), the outer purge between them
    spec = inner_spec(15, WF, N_INNER, "fold 0")
    assert (spec.scheme, spec.train, spec.test, spec.purge) == ("anchored", 6, 4, 1)
    outer = walk_forward_folds(bars.session, WF)[1]
    sessions = np.unique(bars.session[outer.train_idx])
    assert len(sessions) == 15
    inner = inner_folds(bars, outer, WF, N_INNER)
    assert len(inner) == N_INNER
    expected = [(sessions[0:6], sessions[7:11]), (sessions[0:10], sessions[11:15])]
    for fold, (train, test) in zip(inner, expected, strict=True):
        np.testing.assert_array_equal(np.unique(bars.session[fold.train_idx]), train)
        np.testing.assert_array_equal(np.unique(bars.session[fold.test_idx]), test)
        assert fold.train_range[0] == outer.train_range[0]
    assert inner[-1].test_range[1] == outer.train_range[1]  # ends where the outer train ends
    with pytest.raises(InnerWalkForwardError, match=r"holds 3 sessions, too few for "
                                                    r"enable_matrix.inner_folds=2"):
        inner_spec(3, WF, N_INNER, "outer fold 0")
    with pytest.raises(ValueError):
        MatrixGates(inner_folds=0)


def test_inner_trades_never_read_the_outer_test_window(bars: Bars) -> None:
    """The same rows from a series cut at the outer training end: nothing after it read."""
    model = governance().model
    outer = walk_forward_folds(bars.session, WF)[1]
    full, chosen = inner_oos_trades(SPEC, bars, _features(bars), CONFIG, outer, WF,
                                    combos=COMBOS, model=model, n_inner=N_INNER,
                                    select="sharpe")
    cut = bars.window(0, outer.train_range[1] + 1)
    again, chosen_cut = inner_oos_trades(SPEC, cut, _features(cut), CONFIG, outer, WF,
                                         combos=COMBOS, model=model, n_inner=N_INNER,
                                         select="sharpe")
    assert len(full) > 0
    pd.testing.assert_frame_equal(full, again)
    assert [c.params for c in chosen] == [c.params for c in chosen_cut]
    assert (full["exit_idx"] <= outer.train_range[1]).all()
    assert (full["entry_idx"] >= chosen[0].fold.test_range[0]).all()
    assert set(full["window"]) == {"inner"} and set(full["fold"]) == {1}
    # each inner fold's params: the best Sharpe of the grid on its inner train window alone
    for inner in chosen:
        first, last = inner.fold.train_range
        grid = run_grid(SPEC, bars.window(first, last + 1), CONFIG, COMBOS)
        best = int(np.argmax(grid.metrics[:, METRIC_NAMES.index("sharpe")]))
        assert inner.params == get_params(COMBOS[best])


def test_matrix_of_a_hand_checked_inner_case() -> None:
    """trend: returns 1, 2, 3 %: mean 2 %, sd 1 %, t = 0.02 / (0.01 / sqrt 3) = 3.4641,
    one-sided p (2 df) = 0.5 * (1 - t / sqrt(t^2 + 2)) = 0.03709: enabled; chop: one loser
    and one winner (2 trades < min_trades 3): disabled; high_vol: no trade: disabled."""
    rows = pd.DataFrame({"regime": ["trend", "chop", "trend", "chop", "trend"],
                         "net_return": [0.01, -0.02, 0.02, 0.01, 0.03]})
    rule = MatrixRule(min_trades=3, min_mean_net_return=0.0, max_p_value=0.05)
    matrix = learn_matrix(rows, ("chop", "high_vol", "trend"), rule, "ema_cross")
    trend = matrix.cells["trend"]
    assert (trend.enabled, trend.trades) == (True, 3)
    assert trend.mean_net_return == pytest.approx(0.02)
    assert trend.t_stat == pytest.approx(2 * np.sqrt(3))
    assert trend.p_value == pytest.approx(0.5 * (1 - 2 * np.sqrt(3) / np.sqrt(14)))
    assert trend.p_value == pytest.approx(0.03709, abs=1e-5)
    assert (matrix.cells["chop"].enabled, matrix.cells["chop"].trades) == (False, 2)
    assert (matrix.cells["high_vol"].enabled, matrix.cells["high_vol"].trades) == (False, 0)
    assert matrix.enabled_regimes() == ("trend",)
