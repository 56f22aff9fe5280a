"""One window of bars traded by an ensemble: every member's entry signals, the bars where two
or more want an entry resolved by the ensemble's rule (:class:`~strategies.ensemble.Resolver`,
the same :meth:`resolve` the runner calls), the losers' entry signals removed, and each member
simulated again on its own signals (a denied entry leaves it flat, as in the runner).

Research's walk-forward study calls it per fold (:mod:`pipelines.research.ensemble_study`) and
the canary evidence of an ensemble version calls it on the bars the canary runner saw
(:mod:`live.ensemble_canary`): one simulation of an ensemble, not two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from strategies.bars import Bars
from strategies.ensemble import Candidate, EnsemblePolicy
from strategies.rules import room_for_entry
from strategies.signals import Signals
from strategies.simulator import DIRECTION_CODES, SimConfig, simulate
from strategies.spec import StrategySpec

#: (member index, bar index in the window, side) -> the entry's calibrated confidence
#: (None: no usable one; the confidence rule then gives it no vote)
Confidence = Callable[[int, int, int], float | None]
#: (member index, bar index in the window, side) -> is the entry sized to at least one lot
Sized = Callable[[int, int, int], bool]


@dataclass(frozen=True, slots=True)
class SimMember:
    """One member in a window: its spec (name, own priority), its signals on the window and
    its simulator settings (its size, fill model and protective levels)."""

    spec: StrategySpec
    signals: Signals
    config: SimConfig


def entry_sides(signals: Signals) -> np.ndarray:
    """+1 / -1 where the bar's signals want a long / short entry (not both), else 0."""
    le, _, se, _ = signals.arrays()
    return np.where(le & ~se, 1, np.where(se & ~le, -1, 0)).astype(np.int64)


def masked(signals: Signals, keep: np.ndarray) -> Signals:
    """``signals`` with the entries where ``keep`` is False removed (exits untouched)."""
    le, lx, se, sx = signals.arrays()
    return Signals(le & keep, lx, se & keep, sx)


def no_confidence(member: int, bar: int, side: int) -> float | None:
    return None


#: exits inside a bar (its levels): the runner ignores that bar's signals, as the simulator
LEVEL_EXITS = ("stop", "trail", "target")


def wants_entry(window: Bars, member: SimMember, traded: pd.DataFrame, t: int, side: int
                ) -> bool:
    """Does ``member``, having traded ``traded`` (its simulation on ``window``), decide an
    entry of ``side`` at bar ``t``'s close - what the runner resolves (its ``decide``): not
    on a bar its levels closed a position in, not on the side it already holds (a flip is an
    entry), only on the side its ``direction`` takes, with room for another entry that
    session and a next bar inside the entry window."""
    entry, exit_ = traded["entry_idx"].to_numpy(), traded["exit_idx"].to_numpy()
    held = (entry <= t) & (exit_ > t)
    pos = 0 if not held.any() else (1 if traded["side"].to_numpy()[held][0] == "long" else -1)
    stopped = ((exit_ == t) & traded["exit_reason"].isin(LEVEL_EXITS).to_numpy()).any()
    direction = DIRECTION_CODES[member.config.direction]
    today = int(((entry <= t) & (window.session[entry] == window.session[t])).sum())
    window_open = t + 1 >= len(window) or bool(window.entry_ok[t + 1])
    return (pos != side and not stopped and side * direction >= 0 and window_open
            and room_for_entry(float(today), float(member.config.max_trades_per_day)))


def kept_entries(window: Bars, members: Sequence[SimMember], policy: EnsemblePolicy | None,
                 confidence: Confidence = no_confidence, sized: Sized | None = None
                 ) -> list[np.ndarray]:
    """Per member, the bars whose entry survives the ensemble (all of them without a
    policy: each member trades alone). Bar by bar, as the runner: only the members that
    decide an entry there (:func:`wants_entry`, given the entries already resolved away)
    compete; one holding that side, stopped out or out of room does not. ``sized``: the
    entry that wins (or is alone) is also held where it is sized to nothing (the runner's
    confidence sizing), which leaves that member flat."""
    n = len(members[0].signals.arrays()[0]) if members else 0
    keep = [np.ones(n, dtype=bool) for _ in members]
    if (policy is None and sized is None) or not members:
        return keep
    sides = np.vstack([entry_sides(m.signals) for m in members])
    traded: dict[int, pd.DataFrame] = {}  # member -> its trades under the current keep

    def trades_of(i: int) -> pd.DataFrame:
        if i not in traded:
            traded[i] = simulate(window, masked(members[i].signals, keep[i]),
                                 members[i].config).trades
        return traded[i]

    least = 1 if sized is not None else 2
    for t in np.flatnonzero((sides != 0).sum(axis=0) >= least):
        wanting = [i for i in range(len(members)) if sides[i, t] != 0 and wants_entry(
            window, members[i], trades_of(i), int(t), int(sides[i, t]))]
        if policy is not None and len(wanting) >= 2:
            candidates = [Candidate(members[i].spec.name, int(sides[i, t]),
                                    policy.priority_of(members[i].spec.name,
                                                       members[i].spec.priority),
                                    confidence(i, int(t), int(sides[i, t])))
                          for i in wanting]
            for loser in policy.resolver.resolve(candidates).losers:
                keep[wanting[loser]][t] = False
                traded.pop(wanting[loser], None)
        for i in wanting:
            if sized is not None and keep[i][t] and not sized(i, int(t), int(sides[i, t])):
                keep[i][t] = False
                traded.pop(i, None)
    return keep


def simulate_ensemble(window: Bars, members: Sequence[SimMember],
                      policy: EnsemblePolicy | None,
                      confidence: Confidence = no_confidence, sized: Sized | None = None
                      ) -> list[pd.DataFrame]:
    """Each member's trades on ``window`` (in member order; positions of ``window``) with
    the entries ``policy`` resolves away (and ``sized`` sizes to nothing) removed."""
    keep = kept_entries(window, members, policy, confidence, sized)
    return [simulate(window, masked(m.signals, k), m.config).trades
            for m, k in zip(members, keep, strict=True)]
