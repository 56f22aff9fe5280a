"""Research's governed decisions: per bar, a version's regime and its probability, the
regime features they were read from, whether the regime gate holds a new entry (and why),
and the strategy's signals - computed over a whole series with the code the live runner
runs per bar (:class:`strategies.regime_model.RegimeModel`: the feature matrix, the
classifier, :meth:`~strategies.regime_model.RegimeModel.entry_hold`), so a replayed session's
live decisions equal these exactly (tests/integration/test_governed_parity.py).

The ``strategy_version`` asset's check uses it: the registered version's classifier, read
back from MLflow (digest-checked, no pickle), must give the same governed decisions on the
last test window as the study's classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from strategies.bars import Bars
from strategies.regime_features import regime_feature_matrix
from strategies.regime_model import RegimeModel, RegimeReading
from strategies.spec import StrategySpec

SIGNALS = ("long_entry", "long_exit", "short_entry", "short_exit")


@dataclass(frozen=True)
class GovernedDecisions:
    """One row per bar of the series."""

    regime: npt.NDArray[np.str_]
    probability: npt.NDArray[np.float64]  # NaN where the bar cannot be classified
    features: npt.NDArray[np.float64]  # the regime feature matrix (NaN: not known yet)
    entry_hold: list[str | None]  # why a new entry waits at the bar (None: it need not)
    signals: dict[str, npt.NDArray[np.bool_]]

    def mismatches(self, other: GovernedDecisions, rows: npt.NDArray[np.int64]
                   ) -> list[str]:
        """The columns that differ from ``other`` at ``rows`` (NaN equal to NaN, exact)."""
        out = []
        for name in ("regime", "probability", "features"):
            mine, theirs = getattr(self, name)[rows], getattr(other, name)[rows]
            if not np.array_equal(mine, theirs, equal_nan=name != "regime"):
                out.append(name)
        if [self.entry_hold[i] for i in rows] != [other.entry_hold[i] for i in rows]:
            out.append("entry_hold")
        out += [k for k in SIGNALS
                if not np.array_equal(self.signals[k][rows], other.signals[k][rows])]
        return out


def governed_decisions(bars: Bars, spec: StrategySpec, params: object,
                       model: RegimeModel) -> GovernedDecisions:
    """Each bar's governed decision inputs (see the module) over ``bars``."""
    matrix = regime_feature_matrix(bars.open, bars.high, bars.low, bars.close, bars.session)
    regimes, probs = model.classify(matrix)
    holds = [model.entry_hold(_reading(model, str(r), float(p), row))
             for r, p, row in zip(regimes, probs, matrix, strict=True)]
    signals = spec.signals(bars, params)
    return GovernedDecisions(regimes, probs, matrix, holds,
                             dict(zip(SIGNALS, (np.asarray(a, dtype=bool)
                                                for a in signals.arrays()), strict=True)))


def _reading(model: RegimeModel, regime: str, probability: float,
             row: npt.NDArray[np.float64]) -> RegimeReading:
    """A bar's reading as the live runner holds it (the regime's probability; the NaN
    features named when it could not be classified)."""
    problem = model.nan_problem(row)
    if problem is not None:
        return RegimeReading(regime, probability, {}, problem)
    return RegimeReading(regime, probability, {regime: probability})
