"""Train/test splits of a bar series: walk-forward folds and combinatorial purged CV (CPCV).

Splits are computed on *units*: single bars (``unit="bars"``) or whole trading sessions
(``unit="sessions"``, every bar of a session goes to the same side). Window lengths, purge and
embargo are counted in that unit. Results are int64 bar positions, sorted and read-only.

A trade's label spans bars, so a training observation just before a test window can see test
prices (removed by the *purge*), and one just after a test window is serially correlated with
it (removed by the *embargo*). References: M. López de Prado, *Advances in Financial Machine
Learning* (Wiley, 2018), ch. 7.4 (purging, embargo) and ch. 12.4 (CPCV, backtest paths);
R. Pardo, *The Evaluation and Optimization of Trading Strategies* (2nd ed., Wiley, 2008),
ch. 11 (walk-forward analysis).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Literal, get_args

import numpy as np

from strategies.errors import BadInputError

Scheme = Literal["rolling", "anchored"]
Unit = Literal["bars", "sessions"]


class SplitError(BadInputError, ValueError):
    """A split specification or a data length that cannot produce valid train/test sets."""


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise SplitError(f"{name} must be {kind}, got {value!r}")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SplitError(f"{name} must be one of {allowed}, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class WalkForwardSpec:
    """Walk-forward windows: train on ``train`` units, skip ``purge``, test on ``test`` units.

    ``rolling`` keeps the training window at ``train`` units and moves it by ``step``;
    ``anchored`` starts training at the first unit and lets it grow by ``step`` per fold
    (Pardo 2008, ch. 11). ``step`` defaults to ``test``, which makes consecutive test windows
    contiguous so out-of-sample results stitch into one series; ``step < test`` is rejected
    because test windows would overlap.

    ``purge`` units are left out between the end of training and the start of testing
    (López de Prado 2018, ch. 7.4.1). ``embargo`` has **no effect** on walk-forward folds:
    training always precedes testing inside a fold, so no training observation ever follows a
    test observation, which is the only case an embargo guards against (ch. 7.4.2). The field
    is accepted (and validated) so one spec can describe a study that also runs CPCV.
    """

    scheme: Scheme
    train: int
    test: int
    unit: Unit
    purge: int = 0
    embargo: int = 0
    step: int | None = None

    def __post_init__(self) -> None:
        _check_choice("scheme", self.scheme, get_args(Scheme))
        _check_choice("unit", self.unit, get_args(Unit))
        _check_int("train", self.train, 1)
        _check_int("test", self.test, 1)
        _check_int("purge", self.purge, 0)
        _check_int("embargo", self.embargo, 0)
        if self.step is not None:
            _check_int("step", self.step, 1)
            if self.step < self.test:
                raise SplitError(
                    f"step must be >= test ({self.test}) so test windows do not overlap, "
                    f"got {self.step!r}"
                )

    @property
    def step_units(self) -> int:
        """The step actually used: ``step``, or ``test`` when ``step`` is None."""
        return self.test if self.step is None else int(self.step)


def _readonly(positions: np.ndarray) -> np.ndarray:
    positions.setflags(write=False)
    return positions


def _first_last(positions: np.ndarray) -> tuple[int, int]:
    return int(positions[0]), int(positions[-1])


@dataclass(frozen=True, slots=True, eq=False)
class Fold:
    """One walk-forward fold: bar positions to optimise on and bar positions to evaluate on.

    ``train_idx`` and ``test_idx`` are sorted, read-only int64 positions into the bar arrays
    (both contiguous runs). ``train_range`` and ``test_range`` give the first and last position,
    both inclusive. Equality is identity (arrays have no single truth value).
    """

    index: int
    train_idx: np.ndarray
    test_idx: np.ndarray

    @property
    def train_range(self) -> tuple[int, int]:
        """First and last training bar position, inclusive."""
        return _first_last(self.train_idx)

    @property
    def test_range(self) -> tuple[int, int]:
        """First and last test bar position, inclusive."""
        return _first_last(self.test_idx)


@dataclass(frozen=True, slots=True, eq=False)
class CpcvSplit:
    """One CPCV split: the groups held out for testing and the purged, embargoed training set.

    ``index`` is the split's row in :func:`cpcv_paths` (splits follow the lexicographic order
    of ``itertools.combinations``). ``train_idx`` and ``test_idx`` are sorted, read-only int64
    bar positions; the test set may be several separate runs, one per test group.
    """

    index: int
    test_groups: tuple[int, ...]
    train_idx: np.ndarray
    test_idx: np.ndarray


def _unit_layout(session: np.ndarray, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
    """Each bar's unit number (0, 1, ...) and each unit's first bar, plus the end sentinel."""
    _check_choice("unit", unit, get_args(Unit))
    session = np.asarray(session)
    if session.ndim != 1 or not np.issubdtype(session.dtype, np.integer):
        raise SplitError(
            f"session must be a 1-D integer array, got shape {session.shape} dtype {session.dtype}"
        )
    n_bars = len(session)
    if n_bars == 0:
        raise SplitError("session is empty: 0 bars")
    steps = np.diff(session)
    backwards = np.flatnonzero(steps < 0)
    if len(backwards):
        i = int(backwards[0]) + 1
        raise SplitError(
            f"session must be non-decreasing, got {session[i]} at bar {i} after {session[i - 1]}"
        )
    if unit == "bars":
        positions = np.arange(n_bars, dtype=np.int64)
        return positions, np.arange(n_bars + 1, dtype=np.int64)
    new_unit = np.r_[True, steps != 0]
    bar_unit = np.cumsum(new_unit, dtype=np.int64) - 1
    starts = np.r_[np.flatnonzero(new_unit), n_bars].astype(np.int64)
    return bar_unit, starts


def _bars(starts: np.ndarray, first_unit: int, stop_unit: int) -> np.ndarray:
    return _readonly(np.arange(starts[first_unit], starts[stop_unit], dtype=np.int64))


def walk_forward_folds(session: np.ndarray, spec: WalkForwardSpec) -> list[Fold]:
    """Walk-forward folds over bars grouped into sessions, as many as fit in the data.

    Fold ``k`` tests units ``[s, s + test)`` with ``s = train + purge + k * step``; it trains
    on ``[s - purge - train, s - purge)`` (rolling) or ``[0, s - purge)`` (anchored). Folds
    stop before a test window would run past the data. No training bar is at or after the
    fold's first test bar (no look-ahead), and ``spec.embargo`` is not used (see
    :class:`WalkForwardSpec`). References: Pardo (2008), ch. 11; López de Prado (2018), ch. 7.

    Parameters
    ----------
    session : np.ndarray
        Session number of every bar (``Bars.session``), int, non-decreasing.
    spec : WalkForwardSpec
        Window lengths and scheme, in bars or sessions.

    Returns
    -------
    list[Fold]
        Folds in time order, ``Fold.index`` = 0, 1, ...

    Raises
    ------
    SplitError
        If ``session`` is not a non-empty, non-decreasing integer array, or the data holds
        fewer units than ``train + purge + test`` (not even one fold).
    """
    _, starts = _unit_layout(session, spec.unit)
    n_units = len(starts) - 1
    first_test = spec.train + spec.purge
    need = first_test + spec.test
    if n_units < need:
        raise SplitError(
            f"walk-forward needs at least {need} {spec.unit} (train {spec.train} + purge "
            f"{spec.purge} + test {spec.test}), data has {n_units}"
        )
    step = spec.step_units
    folds = []
    for k in range((n_units - need) // step + 1):
        test_start = first_test + k * step
        train_stop = test_start - spec.purge
        train_start = 0 if spec.scheme == "anchored" else train_stop - spec.train
        folds.append(
            Fold(
                index=k,
                train_idx=_bars(starts, train_start, train_stop),
                test_idx=_bars(starts, test_start, test_start + spec.test),
            )
        )
    return folds


def _check_cpcv_args(n_groups: int, n_test_groups: int, purge: int, embargo: int) -> None:
    _check_int("n_groups", n_groups, 2)
    _check_int("n_test_groups", n_test_groups, 1)
    if n_test_groups >= n_groups:
        raise SplitError(
            f"n_test_groups must be < n_groups ({n_groups}) to leave training data, "
            f"got {n_test_groups!r}"
        )
    _check_int("purge", purge, 0)
    _check_int("embargo", embargo, 0)


def _group_starts(n_units: int, n_groups: int, unit: Unit) -> np.ndarray:
    """First unit of each group plus the end sentinel; sizes differ by at most one unit."""
    if n_units < n_groups:
        raise SplitError(f"n_groups ({n_groups}) exceeds the number of {unit} ({n_units})")
    sizes = np.full(n_groups, n_units // n_groups, dtype=np.int64)
    sizes[: n_units % n_groups] += 1  # the np.array_split convention: earlier groups larger
    return np.asarray(np.r_[0, np.cumsum(sizes)].astype(np.int64))


def cpcv_groups(session: np.ndarray, n_groups: int, unit: Unit = "sessions") -> np.ndarray:
    """The CPCV group (0 .. ``n_groups - 1``) of every bar: contiguous, near-equal in units.

    Group sizes differ by at most one unit, earlier groups taking the remainder (as
    ``np.array_split``). Use it with :func:`cpcv_paths` to pick each group's out-of-sample
    bars when assembling backtest paths (López de Prado 2018, ch. 12.4).

    Parameters
    ----------
    session : np.ndarray
        Session number of every bar, int, non-decreasing.
    n_groups : int
        Number of groups N, at least 2.
    unit : {"sessions", "bars"}
        Split whole sessions (default) or single bars into groups.

    Returns
    -------
    np.ndarray
        int64 group number per bar, non-decreasing.

    Raises
    ------
    SplitError
        If ``n_groups`` < 2, ``session`` is invalid, or there are fewer units than groups.
    """
    _check_int("n_groups", n_groups, 2)
    bar_unit, starts = _unit_layout(session, unit)
    group_sizes = np.diff(_group_starts(len(starts) - 1, n_groups, unit))
    return np.asarray(np.repeat(np.arange(n_groups, dtype=np.int64), group_sizes)[bar_unit])


def cpcv_splits(
    session: np.ndarray,
    n_groups: int,
    n_test_groups: int,
    purge: int,
    embargo: int,
    unit: Unit = "sessions",
) -> list[CpcvSplit]:
    """Combinatorial purged cross-validation: every choice of ``n_test_groups`` test groups.

    The data is cut into ``n_groups`` contiguous groups (:func:`cpcv_groups`); each of the
    C(N, k) combinations is a test set. Training is every other unit except the ``purge``
    units before each test group (labels reaching into the test set) and the ``embargo``
    units after each test group (serial correlation). Reference: López de Prado (2018),
    ch. 7.4 and ch. 12.4.

    Parameters
    ----------
    session : np.ndarray
        Session number of every bar, int, non-decreasing.
    n_groups : int
        Number of groups N, at least 2.
    n_test_groups : int
        Test groups per split k, ``1 <= k < N``.
    purge, embargo : int
        Units removed from training before / after each test group, ``>= 0``.
    unit : {"sessions", "bars"}
        Unit of groups, purge and embargo.

    Returns
    -------
    list[CpcvSplit]
        C(N, k) splits in ``itertools.combinations`` order (the rows of :func:`cpcv_paths`).

    Raises
    ------
    SplitError
        On invalid arguments, too few units for ``n_groups``, or a split whose training set
        is empty after purging and embargoing.
    """
    _check_cpcv_args(n_groups, n_test_groups, purge, embargo)
    bar_unit, starts = _unit_layout(session, unit)
    n_units = len(starts) - 1
    group_starts = _group_starts(n_units, n_groups, unit)
    splits = []
    for index, test_groups in enumerate(combinations(range(n_groups), n_test_groups)):
        is_test = np.zeros(n_units, dtype=bool)
        blocked = np.zeros(n_units, dtype=bool)  # test, purged or embargoed units
        for g in test_groups:
            first, stop = int(group_starts[g]), int(group_starts[g + 1])
            is_test[first:stop] = True
            blocked[max(first - purge, 0) : min(stop + embargo, n_units)] = True
        train_idx = np.flatnonzero(~blocked[bar_unit]).astype(np.int64)
        if len(train_idx) == 0:
            raise SplitError(
                f"split {index} (test groups {test_groups}) has no training data left after "
                f"purge {purge} and embargo {embargo} {unit}"
            )
        test_idx = np.flatnonzero(is_test[bar_unit]).astype(np.int64)
        splits.append(
            CpcvSplit(
                index=index,
                test_groups=test_groups,
                train_idx=_readonly(train_idx),
                test_idx=_readonly(test_idx),
            )
        )
    return splits


def cpcv_paths(n_groups: int, n_test_groups: int) -> np.ndarray:
    """Backtest path of every (split, test group): ``paths[s, g]``, or -1 if g trains in s.

    Each group is tested in φ = C(N-1, k-1) = C(N, k)·k/N splits; its j-th such split (in
    :func:`cpcv_splits` order) feeds path j. So there are φ paths, numbered 0 .. φ-1, and each
    path takes every group's out-of-sample predictions exactly once, from one split
    (López de Prado 2018, ch. 12.4, fig. 12.1).

    Parameters
    ----------
    n_groups : int
        Number of groups N, at least 2.
    n_test_groups : int
        Test groups per split k, ``1 <= k < N``.

    Returns
    -------
    np.ndarray
        int64 array of shape (C(N, k), N).

    Raises
    ------
    SplitError
        If ``n_groups`` < 2 or ``n_test_groups`` is not in ``[1, n_groups)``.
    """
    _check_cpcv_args(n_groups, n_test_groups, 0, 0)
    n_splits = comb(n_groups, n_test_groups)
    is_test = np.zeros((n_splits, n_groups), dtype=bool)
    for row, test_groups in enumerate(combinations(range(n_groups), n_test_groups)):
        is_test[row, list(test_groups)] = True
    nth_test = np.cumsum(is_test, axis=0, dtype=np.int64) - 1
    return np.where(is_test, nth_test, -1)
