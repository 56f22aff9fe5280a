"""The inner walk-forward of one outer fold: the out-of-sample trades the enable matrix of
that fold is learned from (nested walk-forward, López de Prado 2018, ch. 7 / Pardo 2008,
ch. 11 applied twice).

Inside outer fold k's **training window** (``L`` units of the outer spec's unit), ``n``
anchored inner folds are laid out with :func:`pipelines.research.splits.walk_forward_folds`:
inner test ``t = (L - purge) // (n + 1)`` units, inner train the first
``L - purge - n * t`` units (growing by ``t`` per inner fold), the outer ``purge`` between
them, so the last inner test window ends exactly where the outer training window ends.
For each inner fold the candidate params whose warm-up fits are run on the inner train
window (:func:`strategies.grid.run_grid`), the best by ``select`` is chosen (as the outer
walk-forward chooses), and traded cold on the inner test window; its trades, read by the
outer fold's regime classifier, are the inner OOS trades (``window = "inner"``).

Nothing here reads a bar at or after the outer fold's training end (the truncation test
replaces every later bar and gets the same rows). Deterministic: the grid, the simulator
and the classifiers are.

Cost: ``n`` grid runs per outer fold on windows shorter than the outer training window,
i.e. at most ``n`` times the outer walk-forward's in-sample grid work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipelines.research.fold_trades import REGIME_COLUMNS, TRADE_COLUMNS, trade_rows
from pipelines.research.splits import Fold, SplitError, WalkForwardSpec, walk_forward_folds
from pipelines.research.walk_forward import _best
from strategies.bars import Bars
from strategies.errors import BadInputError
from strategies.grid import run_grid
from strategies.params import get_params
from strategies.regime_features import FEATURE_NAMES
from strategies.regime_model import RegimeModel
from strategies.simulator import SimConfig
from strategies.spec import StrategySpec

INNER = "inner"


class InnerWalkForwardError(BadInputError, ValueError):
    """An outer training window too short for the inner walk-forward asked for (the message
    names the fold, its length and ``enable_matrix.inner_folds``)."""


@dataclass(frozen=True, slots=True)
class InnerFold:
    """One inner fold: its bar positions (of the whole series) and the params it chose
    (None: no candidate's warm-up fits its windows, so it has no trades)."""

    fold: Fold
    params: dict[str, Any] | None


def inner_spec(n_units: int, outer: WalkForwardSpec, n_inner: int, where: str
               ) -> WalkForwardSpec:
    """The anchored inner spec of an outer training window of ``n_units`` units."""
    test = (n_units - outer.purge) // (n_inner + 1)
    if test < 1:
        raise InnerWalkForwardError(
            f"{where}: its training window holds {n_units} {outer.unit}, too few for "
            f"enable_matrix.inner_folds={n_inner} (purge {outer.purge}): lower inner_folds "
            "or lengthen research.walk_forward.train")
    return WalkForwardSpec(scheme="anchored", train=n_units - outer.purge - n_inner * test,
                           test=test, unit=outer.unit, purge=outer.purge)


def inner_folds(bars: Bars, outer_fold: Fold, outer: WalkForwardSpec, n_inner: int
                ) -> list[Fold]:
    """The inner folds of ``outer_fold``'s training window, as positions of ``bars``."""
    first, last = outer_fold.train_range
    session = bars.session[first:last + 1]
    n_units = len(session) if outer.unit == "bars" else len(np.unique(session))
    spec = inner_spec(n_units, outer, n_inner, f"outer fold {outer_fold.index}")
    try:
        folds = walk_forward_folds(session, spec)
    except SplitError as exc:
        raise InnerWalkForwardError(f"outer fold {outer_fold.index}: {exc}") from exc
    return [Fold(f.index, f.train_idx + first, f.test_idx + first) for f in folds]


def _choose(spec: StrategySpec, bars: Bars, config: SimConfig, fold: Fold,
            combos: Sequence[Any], select: str) -> Any | None:
    window = min(len(fold.train_idx), len(fold.test_idx))
    fits = [p for p in combos if spec.warmup(p) + 2 <= window]
    if not fits:
        return None
    first, last = fold.train_range
    grid = run_grid(spec, bars.window(first, last + 1), config, fits)
    return fits[_best(grid.metrics, select)]


def inner_oos_trades(spec: StrategySpec, bars: Bars, features: npt.NDArray[np.float64],
                     config: SimConfig, outer_fold: Fold, outer: WalkForwardSpec, *,
                     combos: Sequence[Any], model: RegimeModel, n_inner: int,
                     select: str) -> tuple[pd.DataFrame, list[InnerFold]]:
    """The inner OOS trades of ``outer_fold`` (table rows, ``window = "inner"``, ``fold`` =
    the outer fold) and the inner folds with the params each chose."""
    parts, chosen = [], []
    for fold in inner_folds(bars, outer_fold, outer, n_inner):
        params = _choose(spec, bars, config, fold, combos, select)
        chosen.append(InnerFold(fold, None if params is None else get_params(params)))
        if params is not None:
            parts.append(trade_rows(spec, bars, features, config, params, fold.test_range,
                                    model, fold=outer_fold.index, window=INNER))
    if not parts:
        return pd.DataFrame(columns=[*TRADE_COLUMNS, *FEATURE_NAMES, *REGIME_COLUMNS]), chosen
    return pd.concat(parts, ignore_index=True), chosen
