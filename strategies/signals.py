"""Entry/exit signal arrays of one strategy on one instrument, and priority resolution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from strategies.errors import StratopsError


class SignalLengthError(StratopsError, ValueError):
    """Signal arrays whose length differs from the bars they are applied to."""


@dataclass(frozen=True, slots=True)
class Signals:
    """Boolean arrays, one value per bar, computed at the bar's close."""

    long_entry: np.ndarray
    long_exit: np.ndarray
    short_entry: np.ndarray
    short_exit: np.ndarray

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.long_entry, self.long_exit, self.short_entry, self.short_exit

    def __len__(self) -> int:
        return len(self.long_entry)

    def check_length(self, n_bars: int) -> None:
        lengths = {len(a) for a in self.arrays()}
        if lengths != {n_bars}:
            raise SignalLengthError(f"signal lengths {sorted(lengths)} != {n_bars} bars")

    @classmethod
    def empty(cls, n: int) -> Signals:
        return cls(*(np.zeros(n, dtype=bool) for _ in range(4)))


@dataclass(frozen=True, slots=True)
class Resolved:
    """Signals after priority resolution, plus which strategy (index) owns each entry."""

    signals: Signals
    entry_owner: np.ndarray  # -1 where no entry


def resolve_by_priority(named: Sequence[tuple[int, Signals]]) -> Resolved:
    """Merge several strategies' signals on one instrument: on a bar where more than one
    wants to enter, the strategy with the lowest priority number wins (ties: first listed);
    exits are honoured from any strategy."""
    if not named:
        raise ValueError("no signals to resolve")
    n = len(named[0][1])
    order = sorted(range(len(named)), key=lambda i: (named[i][0], i))
    le = np.zeros(n, dtype=bool)
    se = np.zeros(n, dtype=bool)
    owner = np.full(n, -1, dtype=np.int64)
    for i in order:
        sig = named[i][1]
        sig.check_length(n)
        wants = (sig.long_entry | sig.short_entry) & (owner < 0)
        le |= sig.long_entry & wants
        se |= sig.short_entry & wants
        owner[wants] = i
    lx = np.logical_or.reduce([s.long_exit for _, s in named])
    sx = np.logical_or.reduce([s.short_exit for _, s in named])
    return Resolved(Signals(le, lx, se, sx), owner)
