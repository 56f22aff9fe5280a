"""Specification of walk-forward folds and CPCV splits on synthetic session arrays.

Expected bar positions are worked out by hand: ``SESSIONS_20`` has 20 sessions of 375 one-minute
bars (an NSE day), so session ``s`` holds bars ``[375 s, 375 s + 374]``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from datetime import date
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.research.splits import (
    CpcvSplit,
    Fold,
    SplitError,
    WalkForwardSpec,
    cpcv_groups,
    cpcv_paths,
    cpcv_splits,
    walk_forward_folds,
)
from strategies.bars import bars_from_frame
from tests.stubs import nse_minute_bars

BARS_PER_SESSION = 375
SESSIONS_20 = np.repeat(np.arange(20, dtype=np.int64), BARS_PER_SESSION)
TEN_BARS = np.repeat(np.arange(5, dtype=np.int64), 2)  # 5 sessions x 2 bars


def spec(**overrides: object) -> WalkForwardSpec:
    fields: dict[str, object] = {"scheme": "rolling", "train": 5, "test": 2, "unit": "sessions"}
    return WalkForwardSpec(**(fields | overrides))  # type: ignore[arg-type]


def units_of(session: np.ndarray, unit: str) -> np.ndarray:
    """Unit number of every bar, computed independently of the module under test."""
    if unit == "bars":
        return np.arange(len(session))
    return np.unique(session, return_inverse=True)[1]


def session_sizes() -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(1, 6), min_size=1, max_size=40)


def to_session(sizes: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


# --- WalkForwardSpec ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("train", 0),
        ("test", -1),
        ("purge", -1),
        ("embargo", -2),
        ("step", 0),
        ("train", True),
        ("test", 2.5),
    ],
)
def test_walk_forward_spec_invalid_length_raises_naming_field_and_value(
    field: str, value: object
) -> None:
    with pytest.raises(SplitError, match=rf"^{field} must be .*got {value!r}$"):
        spec(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("scheme", "expanding"), ("unit", "days")])
def test_walk_forward_spec_unknown_choice_raises_naming_field_and_value(
    field: str, value: str
) -> None:
    with pytest.raises(SplitError, match=rf"^{field} must be one of .*got '{value}'$"):
        spec(**{field: value})


def test_walk_forward_spec_step_below_test_raises_because_tests_would_overlap() -> None:
    with pytest.raises(SplitError, match=r"step must be >= test \(3\).*got 2"):
        spec(test=3, step=2)


def test_walk_forward_spec_step_omitted_defaults_to_test() -> None:
    assert spec(test=3).step_units == 3


def test_walk_forward_spec_assignment_raises_frozen_error() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec().train = 9  # type: ignore[misc]


def test_walk_forward_spec_positional_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        WalkForwardSpec("rolling", 5, 2, "sessions")  # type: ignore[misc]


# --- walk_forward_folds: exact windows ---------------------------------------------------------


def test_walk_forward_rolling_bars_train_window_slides_by_step() -> None:
    folds = walk_forward_folds(TEN_BARS, spec(unit="bars", train=4, test=2, purge=1))

    assert [(f.train_range, f.test_range) for f in folds] == [((0, 3), (5, 6)), ((2, 5), (7, 8))]


def test_walk_forward_anchored_bars_train_window_starts_at_zero_and_grows() -> None:
    folds = walk_forward_folds(
        TEN_BARS, spec(scheme="anchored", unit="bars", train=4, test=2, purge=1)
    )

    assert [(f.train_range, f.test_range) for f in folds] == [((0, 3), (5, 6)), ((0, 5), (7, 8))]


def test_walk_forward_rolling_sessions_windows_are_whole_sessions() -> None:
    folds = walk_forward_folds(SESSIONS_20, spec(train=5, test=2, purge=1))

    assert len(folds) == 7  # (20 - 5 - 1 - 2) // 2 + 1
    assert (folds[0].train_range, folds[0].test_range) == ((0, 1874), (2250, 2999))
    assert (folds[1].train_range, folds[1].test_range) == ((750, 2624), (3000, 3749))
    assert (folds[-1].train_range, folds[-1].test_range) == ((4500, 6374), (6750, 7499))


def test_walk_forward_anchored_sessions_train_grows_by_step_sessions() -> None:
    folds = walk_forward_folds(SESSIONS_20, spec(scheme="anchored", train=5, test=2, purge=1))

    assert [f.train_range for f in folds[:3]] == [(0, 1874), (0, 2624), (0, 3374)]
    assert [f.test_range for f in folds[:3]] == [(2250, 2999), (3000, 3749), (3750, 4499)]


def test_walk_forward_fold_indices_are_int64_sorted_and_read_only() -> None:
    fold = walk_forward_folds(SESSIONS_20, spec())[0]

    for positions in (fold.train_idx, fold.test_idx):
        assert positions.dtype == np.int64
        assert np.all(np.diff(positions) == 1)
        assert not positions.flags.writeable


def test_walk_forward_fold_numbers_count_from_zero() -> None:
    folds = walk_forward_folds(SESSIONS_20, spec())

    assert [f.index for f in folds] == list(range(len(folds)))
    assert all(isinstance(f, Fold) for f in folds)


# --- walk_forward_folds: invariants ------------------------------------------------------------


def test_walk_forward_step_equal_test_stitched_tests_cover_span_without_gaps() -> None:
    folds = walk_forward_folds(SESSIONS_20, spec(train=4, test=3, purge=2))
    stitched = np.concatenate([f.test_idx for f in folds])

    assert np.array_equal(stitched, np.arange(folds[0].test_idx[0], folds[-1].test_idx[-1] + 1))


def test_walk_forward_step_above_test_windows_do_not_overlap() -> None:
    folds = walk_forward_folds(SESSIONS_20, spec(train=4, test=2, step=3))

    for earlier, later in itertools.pairwise(folds):
        assert later.test_idx[0] - earlier.test_idx[-1] == BARS_PER_SESSION + 1  # one session gap


def test_walk_forward_purge_keeps_train_out_of_sessions_before_test() -> None:
    for fold in walk_forward_folds(SESSIONS_20, spec(train=5, test=2, purge=3)):
        test_session = SESSIONS_20[fold.test_idx[0]]
        assert SESSIONS_20[fold.train_idx].max() == test_session - 4


def test_walk_forward_zero_purge_train_ends_right_before_test() -> None:
    for fold in walk_forward_folds(TEN_BARS, spec(unit="bars", train=3, test=2)):
        assert fold.train_idx[-1] + 1 == fold.test_idx[0]


def test_walk_forward_train_never_reaches_fold_test_start() -> None:
    for scheme in ("rolling", "anchored"):
        for fold in walk_forward_folds(SESSIONS_20, spec(scheme=scheme, purge=0)):
            assert fold.train_idx.max() < fold.test_idx.min()


def test_walk_forward_sessions_unit_never_splits_a_session() -> None:
    session = to_session([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    for fold in walk_forward_folds(session, spec(train=3, test=2, purge=1)):
        for positions in (fold.train_idx, fold.test_idx):
            used = np.unique(session[positions])
            assert np.array_equal(positions, np.flatnonzero(np.isin(session, used)))


def test_walk_forward_bars_unit_splits_a_session_between_train_and_test() -> None:
    fold = walk_forward_folds(SESSIONS_20, spec(unit="bars", train=500, test=100))[0]

    assert fold.train_range == (0, 499)
    assert SESSIONS_20[fold.train_idx[-1]] == SESSIONS_20[fold.test_idx[0]] == 1


def test_walk_forward_embargo_leaves_folds_unchanged() -> None:
    plain = walk_forward_folds(SESSIONS_20, spec(purge=1))
    embargoed = walk_forward_folds(SESSIONS_20, spec(purge=1, embargo=3))

    assert [(f.train_range, f.test_range) for f in plain] == [
        (f.train_range, f.test_range) for f in embargoed
    ]


def test_walk_forward_last_fold_is_the_last_test_window_that_fits() -> None:
    folds = walk_forward_folds(SESSIONS_20, spec(train=5, test=4, purge=1))  # tests from 6

    assert [SESSIONS_20[f.test_idx[-1]] for f in folds] == [9, 13, 17]  # next would end at 21


def test_walk_forward_gaps_in_session_numbers_count_sessions_in_order() -> None:
    session = np.array([3, 3, 7, 7, 8, 11, 11], dtype=np.int64)
    fold = walk_forward_folds(session, spec(train=2, test=1))[0]

    assert (fold.train_range, fold.test_range) == ((0, 3), (4, 4))


def test_walk_forward_same_inputs_give_identical_folds() -> None:
    first = walk_forward_folds(SESSIONS_20, spec(scheme="anchored"))
    second = walk_forward_folds(SESSIONS_20, spec(scheme="anchored"))

    assert all(
        np.array_equal(a.train_idx, b.train_idx) and np.array_equal(a.test_idx, b.test_idx)
        for a, b in zip(first, second, strict=True)
    )


def test_walk_forward_real_nse_bars_test_windows_are_whole_sessions() -> None:
    bars = bars_from_frame(
        nse_minute_bars(start=date(2025, 1, 6), end=date(2025, 1, 17)),
        symbol="NIFTY",
        venue="NSE",
    )
    folds = walk_forward_folds(bars.session, spec(train=3, test=2, purge=1))

    assert len(folds) == 3  # 10 sessions: tests on sessions 4-5, 6-7, 8-9
    assert all(bars.bar_in_session[f.test_idx[0]] == 0 for f in folds)
    assert all(bars.session_last[f.test_idx[-1]] for f in folds)


# --- walk_forward_folds: errors ----------------------------------------------------------------


def test_walk_forward_too_few_sessions_raises_with_counts() -> None:
    with pytest.raises(
        SplitError,
        match=r"needs at least 8 sessions \(train 5 \+ purge 1 \+ test 2\), data has 7",
    ):
        walk_forward_folds(SESSIONS_20[: 7 * BARS_PER_SESSION], spec(purge=1))


def test_walk_forward_unsorted_session_raises_naming_bar() -> None:
    with pytest.raises(SplitError, match=r"non-decreasing, got 0 at bar 2 after 1"):
        walk_forward_folds(np.array([0, 1, 0, 2]), spec(unit="bars", train=1, test=1))


@pytest.mark.parametrize(
    "session", [np.array([0.0, 1.0]), np.zeros((2, 2), dtype=np.int64)], ids=["float", "2-d"]
)
def test_walk_forward_non_integer_or_2d_session_raises(session: np.ndarray) -> None:
    with pytest.raises(SplitError, match="session must be a 1-D integer array"):
        walk_forward_folds(session, spec(unit="bars", train=1, test=1))


def test_walk_forward_empty_session_raises() -> None:
    with pytest.raises(SplitError, match="session is empty"):
        walk_forward_folds(np.array([], dtype=np.int64), spec())


# --- walk_forward_folds: property --------------------------------------------------------------


def assert_fold_invariants(session: np.ndarray, wf: WalkForwardSpec, folds: list[Fold]) -> None:
    unit_of = units_of(session, wf.unit)
    n_units = int(unit_of[-1]) + 1
    expected_folds = (n_units - wf.train - wf.purge - wf.test) // wf.step_units + 1
    assert len(folds) == expected_folds
    for fold in folds:
        train_units, test_units = unit_of[fold.train_idx], unit_of[fold.test_idx]
        first_test = int(test_units[0])
        assert np.all(np.diff(fold.train_idx) == 1) and np.all(np.diff(fold.test_idx) == 1)
        assert np.array_equal(np.unique(test_units), np.arange(first_test, first_test + wf.test))
        assert int(train_units[-1]) == first_test - wf.purge - 1
        expected_first = 0 if wf.scheme == "anchored" else first_test - wf.purge - wf.train
        assert int(train_units[0]) == expected_first
        # whole units: every bar of a used unit is on the same side
        assert np.array_equal(fold.train_idx, np.flatnonzero(np.isin(unit_of, train_units)))
        assert np.array_equal(fold.test_idx, np.flatnonzero(np.isin(unit_of, test_units)))
    stitched = np.concatenate([f.test_idx for f in folds])
    assert np.all(np.diff(stitched) > 0)
    if wf.step_units == wf.test:
        assert np.array_equal(stitched, np.arange(stitched[0], stitched[-1] + 1))


@settings(max_examples=300, deadline=None)
@given(
    sizes=session_sizes(),
    scheme=st.sampled_from(["rolling", "anchored"]),
    unit=st.sampled_from(["bars", "sessions"]),
    train=st.integers(1, 12),
    test=st.integers(1, 8),
    purge=st.integers(0, 4),
    extra_step=st.none() | st.integers(0, 4),
)
def test_walk_forward_random_specs_hold_fold_invariants(
    sizes: list[int],
    scheme: str,
    unit: str,
    train: int,
    test: int,
    purge: int,
    extra_step: int | None,
) -> None:
    session = to_session(sizes)
    step = None if extra_step is None else test + extra_step
    wf = spec(scheme=scheme, unit=unit, train=train, test=test, purge=purge, step=step)
    n_units = len(session) if unit == "bars" else len(sizes)
    if n_units < train + purge + test:
        with pytest.raises(SplitError, match=f"data has {n_units}$"):
            walk_forward_folds(session, wf)
    else:
        assert_fold_invariants(session, wf, walk_forward_folds(session, wf))


# --- CPCV --------------------------------------------------------------------------------------


def test_cpcv_splits_count_equals_n_choose_k() -> None:
    assert len(cpcv_splits(SESSIONS_20, 6, 2, purge=1, embargo=1)) == comb(6, 2)


def test_cpcv_splits_follow_combinations_order() -> None:
    splits = cpcv_splits(SESSIONS_20, 4, 2, purge=0, embargo=0)

    assert [s.test_groups for s in splits] == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert [s.index for s in splits] == list(range(6))
    assert all(isinstance(s, CpcvSplit) for s in splits)


def test_cpcv_splits_each_group_tested_in_n_minus_1_choose_k_minus_1_splits() -> None:
    splits = cpcv_splits(SESSIONS_20, 6, 2, purge=0, embargo=0)
    tested = Counter(g for s in splits for g in s.test_groups)

    assert tested == dict.fromkeys(range(6), comb(5, 1))


def test_cpcv_splits_train_and_test_are_disjoint() -> None:
    for split in cpcv_splits(SESSIONS_20, 5, 2, purge=1, embargo=1):
        assert np.intersect1d(split.train_idx, split.test_idx).size == 0


def test_cpcv_splits_small_case_has_exact_purged_embargoed_indices() -> None:
    session = np.repeat(np.arange(6, dtype=np.int64), 2)  # groups: sessions {0,1} {2,3} {4,5}
    splits = cpcv_splits(session, 3, 1, purge=1, embargo=1)

    assert [s.test_idx.tolist() for s in splits] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert [s.train_idx.tolist() for s in splits] == [
        [6, 7, 8, 9, 10, 11],  # session 2 embargoed
        [0, 1, 10, 11],  # session 1 purged, session 4 embargoed
        [0, 1, 2, 3, 4, 5],  # session 3 purged
    ]


def test_cpcv_splits_purge_and_embargo_gaps_hold_around_every_test_group() -> None:
    purge, embargo = 2, 1
    group_of = cpcv_groups(SESSIONS_20, 5)
    for split in cpcv_splits(SESSIONS_20, 5, 2, purge=purge, embargo=embargo):
        train_sessions = SESSIONS_20[split.train_idx]
        for g in split.test_groups:
            first, last = SESSIONS_20[group_of == g][[0, -1]]
            near = np.r_[first - purge : first, last + 1 : last + 1 + embargo]
            assert not np.isin(train_sessions, near).any()


def test_cpcv_splits_sessions_unit_never_splits_a_session() -> None:
    session = to_session([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    for split in cpcv_splits(session, 4, 2, purge=1, embargo=1):
        assert not np.isin(session[split.train_idx], session[split.test_idx]).any()


def test_cpcv_groups_sizes_differ_by_at_most_one_session_earlier_larger() -> None:
    group_of = cpcv_groups(SESSIONS_20, 3)

    assert np.bincount(group_of).tolist() == [7 * 375, 7 * 375, 6 * 375]


def test_cpcv_groups_bars_unit_splits_inside_sessions() -> None:
    assert cpcv_groups(TEN_BARS, 4, unit="bars").tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_groups": 1}, r"n_groups must be an int >= 2, got 1"),
        ({"n_test_groups": 0}, r"n_test_groups must be a positive int, got 0"),
        ({"n_test_groups": 4}, r"n_test_groups must be < n_groups \(4\).*got 4"),
        ({"purge": -1}, r"purge must be an int >= 0, got -1"),
        ({"embargo": -1}, r"embargo must be an int >= 0, got -1"),
        ({"unit": "days"}, r"unit must be one of .*got 'days'"),
    ],
)
def test_cpcv_splits_invalid_argument_raises_naming_field(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"n_groups": 4, "n_test_groups": 2, "purge": 0, "embargo": 0}
    with pytest.raises(SplitError, match=message):
        cpcv_splits(SESSIONS_20, **(args | kwargs))  # type: ignore[arg-type]


def test_cpcv_splits_more_groups_than_sessions_raises_with_counts() -> None:
    with pytest.raises(SplitError, match=r"n_groups \(6\) exceeds the number of sessions \(5\)"):
        cpcv_splits(TEN_BARS, 6, 1, purge=0, embargo=0)


def test_cpcv_splits_purge_and_embargo_consuming_all_training_raise() -> None:
    with pytest.raises(SplitError, match=r"split 0 \(test groups \(0,\)\) has no training data"):
        cpcv_splits(TEN_BARS, 2, 1, purge=0, embargo=3)


def test_cpcv_paths_small_case_assigns_each_groups_nth_test_to_path_n() -> None:
    # splits (0,1), (0,2), (1,2); -1 marks a group that trains in that split
    assert cpcv_paths(3, 2).tolist() == [[0, 0, -1], [1, -1, 0], [-1, 1, 1]]


def test_cpcv_paths_count_equals_n_choose_k_times_k_over_n() -> None:
    paths = cpcv_paths(6, 2)

    assert paths.shape == (comb(6, 2), 6)
    assert paths.max() + 1 == comb(6, 2) * 2 // 6 == 5


def test_cpcv_paths_each_path_covers_every_group_exactly_once() -> None:
    paths = cpcv_paths(7, 3)
    for path in range(paths.max() + 1):
        assert (paths == path).sum(axis=0).tolist() == [1] * 7


def test_cpcv_paths_match_split_test_groups() -> None:
    paths = cpcv_paths(5, 2)
    for split in cpcv_splits(SESSIONS_20, 5, 2, purge=0, embargo=0):
        assert np.flatnonzero(paths[split.index] >= 0).tolist() == list(split.test_groups)


def test_cpcv_paths_assemble_full_out_of_sample_series() -> None:
    n_groups, k = 5, 2
    group_of = cpcv_groups(SESSIONS_20, n_groups)
    paths = cpcv_paths(n_groups, k)
    assembled = np.full((paths.max() + 1, len(SESSIONS_20)), -1)
    for split in cpcv_splits(SESSIONS_20, n_groups, k, purge=1, embargo=1):
        for g in split.test_groups:
            bars = split.test_idx[group_of[split.test_idx] == g]
            assert np.all(assembled[paths[split.index, g], bars] == -1)  # never written twice
            assembled[paths[split.index, g], bars] = split.index

    assert (assembled >= 0).all()


def test_cpcv_paths_invalid_arguments_raise_naming_field() -> None:
    with pytest.raises(SplitError, match=r"n_test_groups must be < n_groups \(3\).*got 3"):
        cpcv_paths(3, 3)


@settings(max_examples=200, deadline=None)
@given(
    sizes=session_sizes(),
    unit=st.sampled_from(["bars", "sessions"]),
    n_groups=st.integers(2, 7),
    data=st.data(),
    purge=st.integers(0, 3),
    embargo=st.integers(0, 3),
)
def test_cpcv_random_arguments_hold_split_invariants(
    sizes: list[int], unit: str, n_groups: int, data: st.DataObject, purge: int, embargo: int
) -> None:
    session = to_session(sizes)
    n_test = data.draw(st.integers(1, n_groups - 1))
    unit_of = units_of(session, unit)
    try:
        splits = cpcv_splits(session, n_groups, n_test, purge, embargo, unit)  # type: ignore[arg-type]
    except SplitError as error:
        assert "exceeds the number" in str(error) or "no training data" in str(error)
        return
    group_of = cpcv_groups(session, n_groups, unit=unit)  # type: ignore[arg-type]
    assert len(splits) == comb(n_groups, n_test)
    for split in splits:
        train_units, test_units = unit_of[split.train_idx], unit_of[split.test_idx]
        assert np.array_equal(split.test_idx, np.flatnonzero(np.isin(group_of, split.test_groups)))
        assert not np.isin(train_units, test_units).any()
        # a unit trains iff it is outside the test set, more than `purge` units before and
        # more than `embargo` units after every test unit
        units = np.arange(unit_of[-1] + 1)
        lag = units[:, None] - np.unique(test_units)[None, :]
        clear = np.where(lag > 0, lag > embargo, lag < -purge).all(axis=1)
        assert np.array_equal(np.unique(train_units), units[clear])
