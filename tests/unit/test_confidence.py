"""Calibrated confidence: the size mapping, the stored calibrator (skops, digest-checked,
features checked on load), the nested walk-forward that never learns from the windows it
scores, and the ensemble resolvers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pipelines.research.confidence_study import (
    ConfidenceTrainingError,
    EntryTable,
    make_calibrator,
    nested_scores,
    train_confidence,
)
from pipelines.research.config import ConfidenceSettings
from pipelines.research.splits import Fold
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
from tests.confidence_stubs import bars_and_trades, confidence, confidence_copy, trained

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
    assert 0.0 < model.hit_rate < 1.0
    bars, trades = bars_and_trades()
    table = EntryTable.of(bars, trades)
    p = model.probabilities(table.matrix)
    assert ((p >= 0) & (p <= 1)).all() and p.std() > 0
    row = table.matrix[-1]
    assert model.read(row).probability == pytest.approx(p[-1])
    decided = int(table.decision_idx[-1])  # the live tail read gives the same value
    side = int(row[-1])
    tail = model.read_last(bars.open[:decided + 1], bars.high[:decided + 1],
                           bars.low[:decided + 1], bars.close[:decided + 1],
                           bars.session[:decided + 1], side)
    assert tail.problem is None and tail.probability == pytest.approx(p[-1], abs=1e-9)


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

def _table(n: int = 240, seed: int = 1) -> EntryTable:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(CONFIDENCE_FEATURES)))
    won = (x[:, 0] + rng.normal(scale=0.8, size=n) > 0.4).astype(np.int64)
    decision = np.arange(n, dtype=np.int64) * 10
    return EntryTable(x, won, decision, decision + 5)


def _folds() -> list[Fold]:
    def f(i: int, a: int, b: int, c: int, d: int) -> Fold:
        return Fold(i, np.arange(a, b, dtype=np.int64), np.arange(c, d, dtype=np.int64))
    return [f(0, 0, 600, 610, 1200), f(1, 600, 1200, 1210, 1800), f(2, 1200, 1800, 1810, 2400)]


def test_nested_scores_never_learn_from_the_windows_they_score() -> None:
    table = _table()
    base, _, methods, _ = nested_scores(table, _folds()[:2], FAST)
    flipped = table.won.copy()
    later = table.decision_idx >= 1210  # the test windows of fold 1 and after
    flipped[later] = 1 - flipped[later]
    # fold 0's score is untouched by every outcome after its test window
    alone, _, _, _ = nested_scores(table, _folds()[:1], FAST)
    again, _, _, _ = nested_scores(EntryTable(table.matrix, flipped, table.decision_idx,
                                              table.exit_idx), _folds()[:1], FAST)
    assert alone["conf_brier"] == again["conf_brier"]
    assert base["conf_folds_scored"] == 2 and set(methods) == {0, 1}
    assert base["conf_brier"] < base["conf_brier_base_rate"]  # a learnable edge is learnt


def test_fold_with_too_few_training_trades_is_not_scored() -> None:
    table = _table()
    metrics, _, _, notes = nested_scores(table, _folds(), ConfidenceSettings(min_trades=70))
    assert metrics["conf_folds_skipped"] == 3 and "min_trades 70" in notes[0]


def test_too_few_trades_to_store_a_calibrator_is_refused(tmp_path: Path) -> None:
    bars, trades = bars_and_trades()
    with pytest.raises(ConfidenceTrainingError, match="min_trades"):
        train_confidence(bars, trades.head(5), _folds(), FAST, tmp_path)


def test_entry_features_are_taken_at_the_decision_bar() -> None:
    bars, trades = bars_and_trades()
    table = EntryTable.of(bars, trades)
    first = trades.sort_values("entry_idx").iloc[-1]
    decided = int(first["entry_idx"]) - 1
    want = entry_feature_matrix(bars.open, bars.high, bars.low, bars.close, bars.session,
                                [decided], [1.0 if first["side"] == "long" else -1.0])[0]
    assert np.array_equal(table.matrix[-1], want)


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
