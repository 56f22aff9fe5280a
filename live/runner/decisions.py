"""What to do at a bar's close, by the bar simulator's own rules (``next_open`` fills).

Mirrors :func:`strategies.sim_kernel.simulate_kernel` step for step so a replay through the
runner trades like the backtest: a decision at bar t's close is a market order that fills
at bar t+1's open. At the close before the cutoff bar an open position is flattened
(``cutoff``); otherwise the four signals decide as in the kernel's ``_decide`` (exit on the
opposite entry or the exit signal, no pyramiding, long wins only without a short entry);
an entry needs the next bar to be inside the entry window (before the cutoff) and the
day's entry count below ``max_trades_per_day``. Orders never carry over to a new session.

Stop-loss, trailing stop and target rules are executed as protective orders resting at the
broker (see :func:`protective_levels` and the runner): the levels come from the simulator's
own compiled functions, so a live position is stopped where its backtest would be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from strategies.errors import BadInputError
from strategies.sim_kernel import (
    R_CUTOFF,
    R_SIGNAL,
    REASONS,
    _entry_levels,
    _stop_level,
    _trail_level,
)

LEVEL_KEYS = ("stop_points", "stop_frac", "trail_points", "trail_frac", "target_points",
              "target_frac")


class UnsupportedVersionError(BadInputError, ValueError):
    """A version whose execution rules the runner cannot honour exactly."""


def check_supported(sim: dict[str, Any]) -> None:
    """Refuse rules the runner does not execute identically to the simulator."""
    if sim.get("fill", "next_open") != "next_open":
        raise UnsupportedVersionError(f"fill={sim.get('fill')!r}: the runner trades "
                                      "next_open (a decision at a close fills at the next open)")
    for key, runner_does in (("size_type", "lots"), ("direction", "both"),
                             ("fractional", False)):
        if sim.get(key, runner_does) != runner_does:
            raise UnsupportedVersionError(
                f"sim.{key}={sim.get(key)!r}: the runner trades {key}={runner_does!r} only "
                "(fixed lots, both sides, whole lots); refusing rather than trading it "
                "differently from its research")
    for rule in ("stop", "trail", "target"):
        points, frac = (float(sim.get(f"{rule}_{unit}") or 0.0) for unit in ("points", "frac"))
        if not (math.isfinite(points) and math.isfinite(frac) and points >= 0 and frac >= 0):
            raise UnsupportedVersionError(f"sim.{rule}_points={points!r} / sim.{rule}_frac="
                                          f"{frac!r}: must be finite and >= 0")
        if points > 0 and frac > 0:
            raise UnsupportedVersionError(f"sim.{rule}_points and sim.{rule}_frac are both set "
                                          "(the simulator takes one)")


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

    @property
    def has_stop(self) -> bool:
        return max(self.stop_points, self.stop_frac, self.trail_points, self.trail_frac) > 0

    @property
    def has_target(self) -> bool:
        return max(self.target_points, self.target_frac) > 0

    @property
    def trailing(self) -> bool:
        return max(self.trail_points, self.trail_frac) > 0


def protective_levels(side: int, entry_px: float, peak: float, rules: Rules
                      ) -> tuple[float | None, float | None]:
    """(stop trigger, target limit) of a position of ``side`` entered at ``entry_px`` whose
    best price since entry is ``peak`` (the entry price on the entry bar): the simulator's
    ``_entry_levels`` / ``_trail_level`` / ``_stop_level``, called as they are compiled.
    None where the rule is unset."""
    stop, target = _entry_levels(float(side), entry_px, (
        rules.stop_points, rules.stop_frac, rules.target_points, rules.target_frac),
        rules.level_tick)
    trail = _trail_level(float(side), peak, rules.trail_points, rules.trail_frac,
                         rules.level_tick)
    level, _ = _stop_level(float(side), stop, trail)
    return (None if math.isnan(level) else float(level),
            None if math.isnan(target) else float(target))


@dataclass(frozen=True, slots=True)
class Decision:
    """``action`` exit/enter; ``side`` +1 buy / -1 sell of the resulting order."""

    action: str
    side: int
    reason: str


def _decide(pos: int, le: bool, lx: bool, se: bool, sx: bool) -> tuple[bool, int]:
    """The kernel's ``_decide``: (exit now?, side to enter)."""
    long_in, short_in = le and not se, se and not le
    if pos > 0:
        return lx or se, -1 if short_in else 0
    if pos < 0:
        return sx or le, 1 if long_in else 0
    return False, 1 if long_in else (-1 if short_in else 0)


def _local_time(ts: datetime, tz: str) -> time:
    import pandas as pd

    return pd.Timestamp(ts).tz_convert(tz).time()


def decide(*, pos: int, signals: tuple[bool, bool, bool, bool], ts: datetime,
           session_ends: bool, trades_today: int, rules: Rules) -> list[Decision]:
    """Orders to send at the close of the bar at ``ts`` (``pos``: current signed side)."""
    if session_ends:
        return []  # pending orders never cross into the next session
    nxt = _local_time(ts + rules.bar, rules.tz)
    at_cutoff = rules.cutoff is not None and nxt >= rules.cutoff
    if pos != 0 and at_cutoff:  # also after a missed cutoff bar: never carried past it
        return [Decision("exit", -pos, REASONS[R_CUTOFF])]
    do_exit, side = _decide(pos, *signals)
    out = []
    if do_exit and pos != 0:
        out.append(Decision("exit", -pos, REASONS[R_SIGNAL]))
    entry_window = rules.cutoff is None or nxt < rules.cutoff
    room = rules.max_trades_per_day <= 0 or trades_today < rules.max_trades_per_day
    if side != 0 and entry_window and room:
        out.append(Decision("enter", side, "entry"))
    return out
