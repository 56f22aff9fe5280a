"""The registered strategies, by name, and their declared priority order.

Priority decides which strategy owns an entry when several fire on one instrument and bar
(lower wins): range breakout 1, EMA cross 2, ATR reversal 3, ATR divergence 4 - the
breakout is the most time-sensitive signal, the divergence the slowest to confirm.
"""

from __future__ import annotations

from strategies import atr_divergence, atr_reversal, ema_cross, range_breakout
from strategies.errors import BadInputError
from strategies.spec import StrategySpec

STRATEGIES: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in sorted(
        (range_breakout.SPEC, ema_cross.SPEC, atr_reversal.SPEC, atr_divergence.SPEC),
        key=lambda s: s.priority,
    )
}


class UnknownStrategyError(BadInputError, KeyError):
    """A strategy name that is not registered."""

    def __str__(self) -> str:
        return f"unknown strategy {self.args[0]!r}; registered: {sorted(STRATEGIES)}"


def get_strategy(name: str) -> StrategySpec:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UnknownStrategyError(name) from None
