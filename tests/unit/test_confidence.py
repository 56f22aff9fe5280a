"""Calibrated confidence: the size mapping, the stored calibrator (skops, digest-checked,
features checked on load), the nested walk-forward that never learns from the windows it
scores, and the ensemble resolvers."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.research.confidence_study import (
    ConfidenceTrainingError,
    EntryTable,
    confidence_for_version,
    make_calibrator,
    nested_scores,
    train_confidence,
)
from pipelines.research.config import ConfidenceSettings
from strategies.confidence import (
    CONFIDENCE_FEATURES,
    MANIFEST,
    MODEL_FILE,
    ConfidenceError,
    ConfidenceSizing,
    SizingError,
    checked_probability,
    confidence_lots,
    entry_feature_matrix,
    load_confidence,
    write_confidence,
)
from strategies.ensemble import (
    Candidate,
    ConfidenceResolver,
    PriorityResolver,
    ResolverError,
    make_resolver,
)
from tests.confidence_stubs import bars_and_table, confidence, confidence_copy, trained

FAST = ConfidenceSettings(attach=True, min_trades=20, cv=2, selection_splits=2)


# -- the size mapping ------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "lots"), [(0.0, 0), (0.2, 0), (0.25, 0), (0.3, 2), (0.35, 5),
                                         (0.4, 7), (0.45, 10), (0.9, 10), (1.0, 10)])
def test_confidence_lots_follow_the_documented_floor_mapping(p: float, lots: int) -> None:
    assert confidence_lots(10, p, 0.25, 0.45) == lots
    assert lots == math.floor(10 * min(1.0, max(0.0, (p - 0.25) / 0.2)) + 1e-9)


@pytest.mark.parametrize("p", [float("nan"), -0.01, 1.01, float("inf")])
def test_a_confidence_that_is_not_a_probability_sizes_nothing(p: float) -> None:
    assert checked_probability(p).problem is not None
    with pytest.raises(SizingError, match="not a probability"):
        confidence_lots(3, p, 0.1, 0.5)


def test_sizing_bounds_are_multiples_of_the_version_hit_rate() -> None:
    sizing = ConfidenceSizing(zero_at=0.5, full_at=1.0)
    assert sizing.bounds(0.3) == pytest.approx((0.15, 0.3))
    assert sizing.lots(4, 0.3, 0.3) == 4 and sizing.lots(4, 0.15, 0.3) == 0
    assert sizing.lots(4, 0.225, 0.3) == 2
    with pytest.raises(SizingError, match="zero_at"):
        ConfidenceSizing(zero_at=1.0, full_at=0.5)
    with pytest.raises(SizingError, match="hit rate"):
        sizing.bounds(0.0)
    with pytest.raises(SizingError, match="no probability to size up to"):
        ConfidenceSizing(zero_at=2.5, full_at=3.0).bounds(0.5)


# -- the stored calibrator -------------------------------------------------------------------

def test_stored_calibrator_predicts_what_research_scored() -> None:
    model = confidence()
    _, study = trained()
    assert model.features == CONFIDENCE_FEATURES and model.method == study.method
    assert 0.0 < model.hit_rate < 1.0 and study.metrics["conf_folds_scored"] >= 3
    assert 0.0 < study.metrics["conf_mean_size"] <= 1.0  # sizing only ever scales down
    assert abs(study.metrics["conf_sized_net_pnl_inr"]) <= \
        bars_and_table()[1].query("window == 'test'")["net_pnl_inr"].abs().sum()
    bars, fold_table = bars_and_table()
    table = EntryTable.of(fold_table)
    p = model.probabilities(table.matrix)
    assert ((p >= 0) & (p <= 1)).all() and p.std() > 0
    last = int(np.argmax(table.decision_idx))
    assert model.read(table.matrix[last]).probability == pytest.approx(p[last])
    decided = int(table.decision_idx[last]) + 1  # the live tail read gives the same value
    tail = model.read_last(bars.open[:decided], bars.high[:decided], bars.low[:decided],
                           bars.close[:decided], bars.session[:decided],
                           int(table.matrix[last, -1]))
    assert tail.problem is None and tail.probability == pytest.approx(p[last], abs=1e-9)


def test_same_calibrator_written_twice_has_the_same_digest(tmp_path: Path) -> None:
    model = confidence()
    one = write_confidence(tmp_path / "a", model.estimator, model.method, {"hit_rate": 0.3})
    two = write_confidence(tmp_path / "b", model.estimator, model.method, {"hit_rate": 0.3})
    assert one == two


def test_nan_features_give_a_reading_with_a_problem() -> None:
    row = np.full(len(CONFIDENCE_FEATURES), np.nan)
    reading = confidence().read(row)
    assert math.isnan(reading.probability) and "NaN feature rv_30" in (reading.problem or "")


def test_calibrator_trained_on_other_features_is_a_load_error(tmp_path: Path) -> None:
    folder = confidence_copy(tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["features"] = manifest["features"][:-1]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ConfidenceError, match="trained on features"):
        load_confidence(folder)


def test_calibrator_of_another_width_is_a_load_error(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    write_confidence(tmp_path, make_calibrator("sigmoid", 0, 2).fit(x, y), "sigmoid",
                     {"hit_rate": 0.5})
    with pytest.raises(ConfidenceError, match="takes 3 features"):
        load_confidence(tmp_path)


def test_altered_calibrator_or_missing_hit_rate_is_refused(tmp_path: Path) -> None:
    folder = confidence_copy(tmp_path)
    (folder / MODEL_FILE).write_bytes((folder / MODEL_FILE).read_bytes() + b"\0")
    with pytest.raises(ConfidenceError, match="altered"):
        load_confidence(folder)
    model = confidence()
    write_confidence(tmp_path / "x", model.estimator, model.method, {})
    with pytest.raises(ConfidenceError, match="hit_rate"):
        load_confidence(tmp_path / "x")


# -- the nested walk-forward -----------------------------------------------------------------

def _table(per_fold: int = 60, folds: int = 3, seed: int = 1) -> EntryTable:
    """Train then test rows per fold; the outcome leans on the first feature (learnable)."""
    rng = np.random.default_rng(seed)
    n = per_fold * 2 * folds
    x = rng.normal(size=(n, len(CONFIDENCE_FEATURES)))
    won = (x[:, 0] + rng.normal(scale=0.8, size=n) > 0.4).astype(np.int64)
    fold = np.repeat(np.arange(folds), 2 * per_fold)
    train = np.tile(np.r_[np.ones(per_fold, bool), np.zeros(per_fold, bool)], folds)
    return EntryTable(x, won, fold, train, np.arange(n, dtype=np.int64))


def test_nested_scores_learn_only_from_each_fold_training_window() -> None:
    table = _table()
    base = nested_scores(table, FAST)
    assert base.metrics["conf_folds_scored"] == 3 and set(base.methods) == {0, 1, 2}
    assert base.metrics["conf_brier"] < base.metrics["conf_brier_base_rate"]
    flipped = table.won.copy()
    flipped[~table.train] = 1 - flipped[~table.train]  # every test outcome reversed
    again = nested_scores(replace(table, won=flipped), FAST)
    for fold, p in base.predictions.items():  # the same predictions: nothing learnt from them
        np.testing.assert_array_equal(p, again.predictions[fold])
    assert again.metrics["conf_brier"] != base.metrics["conf_brier"]
    trained_flip = table.won.copy()
    trained_flip[table.train] = 1 - trained_flip[table.train]
    other = nested_scores(replace(table, won=trained_flip), FAST)
    assert not np.array_equal(other.predictions[0], base.predictions[0])


def test_fold_with_too_few_training_trades_is_not_scored() -> None:
    scores = nested_scores(_table(), ConfidenceSettings(min_trades=70))
    assert scores.metrics["conf_folds_skipped"] == 3 and "min_trades 70" in scores.notes[0]


def test_too_few_trades_to_store_a_calibrator_is_refused(tmp_path: Path) -> None:
    _, fold_table = bars_and_table()
    with pytest.raises(ConfidenceTrainingError, match="min_trades"):
        train_confidence(fold_table.head(5), FAST, tmp_path)
    with pytest.raises(ConfidenceTrainingError, match="lacks columns"):
        train_confidence(fold_table.drop(columns=["rv_30"]), FAST, tmp_path)


def test_entry_features_are_the_live_features_at_the_decision_bar() -> None:
    bars, fold_table = bars_and_table()
    table = EntryTable.of(fold_table)
    i = len(table) // 2
    want = entry_feature_matrix(bars.open, bars.high, bars.low, bars.close, bars.session,
                                [int(table.decision_idx[i])], [table.matrix[i, -1]])[0]
    np.testing.assert_array_equal(table.matrix[i], want)


# -- the ensemble resolvers ------------------------------------------------------------------

def test_priority_resolver_takes_the_lowest_priority_number() -> None:
    got = PriorityResolver().resolve([Candidate("a", 1, 2), Candidate("b", -1, 0),
                                      Candidate("c", 1, 0)])
    assert got.winner == 1 and set(got.losers) == {0, 2}
    assert "b (priority 0)" in got.losers[0]


def test_confidence_resolver_weighs_sides_then_takes_the_most_confident() -> None:
    got = ConfidenceResolver().resolve([Candidate("a", 1, 0, 0.3), Candidate("b", 1, 1, 0.35),
                                        Candidate("c", -1, 2, 0.6)])
    assert got.winner == 1  # long 0.65 beats short 0.6; b is the more confident long
    got = ConfidenceResolver().resolve([Candidate("a", 1, 0, None), Candidate("b", -1, 1, 0.2)])
    assert got.winner == 1 and "no usable confidence" in got.losers[0]
    tie = ConfidenceResolver().resolve([Candidate("a", 1, 0, 0.4), Candidate("b", -1, 1, 0.4)])
    assert tie.winner is None and len(tie.losers) == 2
    nan = ConfidenceResolver().resolve([Candidate("a", 1, 0, float("nan"))])
    assert nan.winner is None


def test_unknown_resolver_is_refused() -> None:
    assert make_resolver("priority").name == "priority"
    with pytest.raises(ResolverError, match="'vote'"):
        make_resolver("vote")


class _Report:
    strategy = "ema_cross"

    def __init__(self) -> None:
        self.notes: list[str] = []


def test_version_gets_a_calibrator_only_when_attached_and_trainable(tmp_path: Path) -> None:
    _, fold_table = bars_and_table()
    called: list[int] = []

    def table() -> Any:
        called.append(1)
        return fold_table

    report = _Report()
    assert confidence_for_version(table, report, ConfidenceSettings(), tmp_path) is None
    assert not called  # not attached: the fold trade table is never built
    got = confidence_for_version(table, report, FAST, tmp_path)
    assert got is not None and got.metrics["conf_folds_scored"] >= 3
    assert load_confidence(got.path).method == got.method
    few = confidence_for_version(lambda: fold_table.head(5), report, FAST, tmp_path / "few")
    assert few is None and "confidence calibrator not trained" in report.notes[-1]
