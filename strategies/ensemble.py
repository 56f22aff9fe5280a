"""One symbol's ensemble: which of several strategies' entries on the same bar is taken.

One interface (:class:`Resolver`), two rules, chosen by name (:func:`make_resolver`; policy.yaml
``signal_governance.ensemble.resolver``):

- ``priority``: the simple rule - the strategy with the lowest priority number wins (ties:
  first listed), :func:`strategies.signals.resolve_by_priority` called, not copied;
- ``confidence``: a confidence-weighted vote - each side's weight is the sum of its
  entries' calibrated confidences (:mod:`strategies.confidence`); the heavier side wins
  (a tie: no entry), and its most confident entry is taken (ties: priority). An entry
  without a usable confidence (no calibrator, NaN, outside [0, 1]) has no vote and is not
  taken: the ensemble never trades on a weight it cannot read.

Only entries compete: exits are honoured from every strategy, as in
:func:`~strategies.signals.resolve_by_priority`. Research (arrays of bars) and the runner
(one bar) call the same :meth:`Resolver.resolve` on the entries of one bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from strategies.errors import BadInputError
from strategies.signals import Signals, resolve_by_priority

RESOLVERS = ("priority", "confidence")


class ResolverError(BadInputError, ValueError):
    """An ensemble rule that does not exist."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One strategy's wish to enter at a bar: ``side`` +1/-1, its priority (lower wins)
    and its calibrated confidence (None: the version carries no calibrator)."""

    strategy: str
    side: int
    priority: int
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """The winning candidate's position in the list (None: no entry) and why each other
    candidate was not taken (position -> reason)."""

    winner: int | None
    losers: dict[int, str]


class Resolver(Protocol):
    @property
    def name(self) -> str: ...

    def resolve(self, candidates: Sequence[Candidate]) -> Resolution: ...


def _one_bar(side: int) -> Signals:
    return Signals(np.array([side > 0]), np.zeros(1, dtype=bool), np.array([side < 0]),
                   np.zeros(1, dtype=bool))


@dataclass(frozen=True, slots=True)
class PriorityResolver:
    """The lowest priority number wins (:func:`resolve_by_priority`)."""

    name: str = "priority"

    def resolve(self, candidates: Sequence[Candidate]) -> Resolution:
        if not candidates:
            return Resolution(None, {})
        owner = int(resolve_by_priority([(c.priority, _one_bar(c.side))
                                         for c in candidates]).entry_owner[0])
        won = candidates[owner]
        return Resolution(owner, {i: f"ensemble priority: {won.strategy} (priority "
                                     f"{won.priority}) takes the entry over priority "
                                     f"{c.priority}"
                                  for i, c in enumerate(candidates) if i != owner})


def usable(confidence: float | None) -> bool:
    return confidence is not None and math.isfinite(confidence) and 0.0 <= confidence <= 1.0


@dataclass(frozen=True, slots=True)
class ConfidenceResolver:
    """Confidence-weighted vote of the sides, then the most confident entry of the winner."""

    name: str = "confidence"

    def resolve(self, candidates: Sequence[Candidate]) -> Resolution:
        losers: dict[int, str] = {}
        weight = {1: 0.0, -1: 0.0}
        voters = []
        for i, c in enumerate(candidates):
            if not usable(c.confidence):
                losers[i] = (f"ensemble confidence: {c.strategy} has no usable confidence "
                             f"({c.confidence!r}); not weighed, not taken")
                continue
            weight[1 if c.side > 0 else -1] += float(c.confidence or 0.0)
            voters.append(i)
        if not voters:
            return Resolution(None, losers)
        if math.isclose(weight[1], weight[-1]):
            for i in voters:
                losers[i] = (f"ensemble confidence: long weight {weight[1]:.4f} ties short "
                             f"{weight[-1]:.4f}; no entry")
            return Resolution(None, losers)
        side = 1 if weight[1] > weight[-1] else -1
        winner = min((i for i in voters if (candidates[i].side > 0) == (side > 0)),
                     key=lambda i: (-(candidates[i].confidence or 0.0),
                                    candidates[i].priority, i))
        won = candidates[winner]
        for i in voters:
            if i != winner:
                losers[i] = (f"ensemble confidence: {won.strategy} takes the entry "
                             f"(p {won.confidence:.4f}; long weight {weight[1]:.4f}, short "
                             f"{weight[-1]:.4f})")
        return Resolution(winner, losers)


def make_resolver(name: str) -> Resolver:
    """The rule called ``name`` (:data:`RESOLVERS`)."""
    if name == "priority":
        return PriorityResolver()
    if name == "confidence":
        return ConfidenceResolver()
    raise ResolverError(f"signal_governance.ensemble.resolver {name!r}: expected one of "
                        f"{list(RESOLVERS)}")


@dataclass(frozen=True, slots=True)
class EnsemblePolicy:
    """The runner's ensemble: its rule and the strategies' priority order. With an order,
    the first listed has priority 0 and a strategy not listed comes after every listed one
    (by its own priority); without one, each strategy's own ``StrategySpec.priority``."""

    resolver: Resolver
    priority: tuple[str, ...] = ()

    def priority_of(self, strategy: str, own: int) -> int:
        if not self.priority:
            return own
        return self.priority.index(strategy) if strategy in self.priority \
            else len(self.priority) + own
