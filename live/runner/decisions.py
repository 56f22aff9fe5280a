"""What to do at a bar's close, by the bar simulator's own rules (``next_open`` fills).

The rules are the simulator's, called, not copied: the signals decide through
:func:`strategies.rules.decide` (exit on the opposite entry or the exit signal, no
pyramiding, long wins only without a short entry), the day's entry cap through
:func:`strategies.rules.room_for_entry`, and a version's ``sim`` is validated by
:meth:`strategies.simulator.SimConfig.from_mapping` before the runner checks it trades that
way. A decision at bar t's close is a market order that fills at bar t+1's open. At the close
before the cutoff bar an open position is flattened (``cutoff``); an entry needs the next bar
to be inside the entry window (before the cutoff). Orders never carry over to a new session.

Stop-loss, trailing stop and target rules are executed as protective orders resting at the
broker (see :func:`protective_levels` and the runner): the levels come from the simulator's
own compiled functions, so a live position is stopped where its backtest would be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from live.runner.local_time import to_local
from strategies.errors import BadInputError
from strategies.params import ParamError, require
from strategies.rules import (
    LEVEL_KEYS,
    R_CUTOFF,
    R_SIGNAL,
    REASONS,
    check_levels,
    entry_levels,
    room_for_entry,
    stop_level,
    trail_level,
)
from strategies.rules import decide as decide_side
from strategies.simulator import SimConfig

__all__ = ["LEVEL_KEYS", "Decision", "Rules", "UnsupportedVersionError", "check_supported",
           "decide", "preload_rules", "protective_levels"]

#: Keys ``study.model_config`` writes beside the rules in a version's ``sim``: the cost
#: schedule's name (the runner computes no costs; the broker charges them).
RECORD_ONLY_KEYS = frozenset({"cost_schedule"})


class UnsupportedVersionError(BadInputError, ValueError):
    """A version whose execution rules the runner cannot honour exactly."""


def check_supported(sim: Mapping[str, Any]) -> SimConfig:
    """The version's rules as a :class:`SimConfig` (validated there: unknown keys and bad
    values are refused); refuse rules the runner does not execute identically to the
    simulator."""
    try:
        config = SimConfig.from_mapping(
            {k: v for k, v in sim.items() if k not in RECORD_ONLY_KEYS}, where="sim.")
    except ParamError as exc:
        raise UnsupportedVersionError(str(exc)) from None
    if config.fill != "next_open":
        raise UnsupportedVersionError(f"fill={config.fill!r}: the runner trades "
                                      "next_open (a decision at a close fills at the next open)")
    for key, runner_does in (("size_type", "lots"), ("direction", "both"),
                             ("fractional", False)):
        if getattr(config, key) != runner_does:
            raise UnsupportedVersionError(
                f"sim.{key}={getattr(config, key)!r}: the runner trades {key}={runner_does!r} "
                "only (fixed lots, both sides, whole lots); refusing rather than trading it "
                "differently from its research")
    return config


@dataclass(frozen=True, slots=True)
class Rules:
    """Execution rules of one deployed version."""

    qty: int  # units per trade (lots x lot size), after the stage's capital fraction
    max_trades_per_day: int  # 0 = unlimited
    cutoff: time | None  # venue-local hard flat time
    bar: timedelta  # bar length (1 minute on the NSE dataset)
    tz: str
    # protective exits, as in SimConfig: points or fraction of the entry price, 0 = unset
    stop_points: float = 0.0
    stop_frac: float = 0.0
    trail_points: float = 0.0
    trail_frac: float = 0.0
    target_points: float = 0.0
    target_frac: float = 0.0
    level_tick: float = 0.0  # levels rounded to this tick (0: exact), as SimConfig.round_levels

    def __post_init__(self) -> None:
        check_levels({key: getattr(self, key) for key in LEVEL_KEYS})
        require(math.isfinite(self.level_tick) and self.level_tick >= 0, "level_tick",
                self.level_tick, "must be finite and >= 0")

    @property
    def levels(self) -> tuple[float, float, float, float]:
        """(stop points, stop fraction, target points, target fraction), as the compiled
        :func:`strategies.rules.entry_levels` takes them."""
        return (float(self.stop_points), float(self.stop_frac), float(self.target_points),
                float(self.target_frac))

    @property
    def has_stop(self) -> bool:
        return max(self.stop_points, self.stop_frac, self.trail_points, self.trail_frac) > 0

    @property
    def has_target(self) -> bool:
        return max(self.target_points, self.target_frac) > 0

    @property
    def trailing(self) -> bool:
        return max(self.trail_points, self.trail_frac) > 0


def preload_rules() -> int:
    """Call each of the rules' compiled functions this module uses once, with neutral
    values and the argument types the runner passes: numba loads a cached function on its
    first call (~1-3 ms), which would otherwise be the first order's bar. Returns how many."""
    decide_side(0.0, False, False, False, False, 0.0)
    room_for_entry(0.0, 0.0)
    stop, _ = entry_levels(1.0, 100.0, (0.0, 0.0, 0.0, 0.0), 0.0)
    stop_level(1.0, stop, trail_level(1.0, 100.0, 0.0, 0.0, 0.0))
    return 5


def protective_levels(side: int, entry_px: float, peak: float, rules: Rules
                      ) -> tuple[float | None, float | None]:
    """(stop trigger, target limit) of a position of ``side`` entered at ``entry_px`` whose
    best price since entry is ``peak`` (the entry price on the entry bar): the simulator's
    :func:`~strategies.rules.entry_levels` / :func:`~strategies.rules.trail_level` /
    :func:`~strategies.rules.stop_level`, called as they are compiled. None where the rule
    is unset."""
    tick = float(rules.level_tick)
    stop, target = entry_levels(float(side), float(entry_px), rules.levels, tick)
    trail = trail_level(float(side), float(peak), float(rules.trail_points),
                        float(rules.trail_frac), tick)
    level, _ = stop_level(float(side), stop, trail)
    return (None if math.isnan(level) else float(level),
            None if math.isnan(target) else float(target))


@dataclass(frozen=True, slots=True)
class Decision:
    """``action`` exit/enter; ``side`` +1 buy / -1 sell of the resulting order."""

    action: str
    side: int
    reason: str


def decide(*, pos: int, signals: tuple[bool, bool, bool, bool], ts: datetime,
           session_ends: bool, trades_today: int, rules: Rules) -> list[Decision]:
    """Orders to send at the close of the bar at ``ts`` (``pos``: current signed side)."""
    if session_ends:
        return []  # pending orders never cross into the next session
    nxt = to_local(ts + rules.bar, rules.tz).time()
    at_cutoff = rules.cutoff is not None and nxt >= rules.cutoff
    if pos != 0 and at_cutoff:  # also after a missed cutoff bar: never carried past it
        return [Decision("exit", -pos, REASONS[R_CUTOFF])]
    le, lx, se, sx = signals
    do_exit, side = decide_side(float(pos), bool(le), bool(lx), bool(se), bool(sx), 0.0)
    out = []
    if do_exit and pos != 0:
        out.append(Decision("exit", -pos, REASONS[R_SIGNAL]))
    entry_window = rules.cutoff is None or nxt < rules.cutoff
    if side != 0 and entry_window and room_for_entry(float(trades_today),
                                                     float(rules.max_trades_per_day)):
        out.append(Decision("enter", int(side), "entry"))
    return out
