"""Child-order schedules of a parent order: TWAP, VWAP, POV and implementation shortfall.

Pure: a spec, a parent quantity in whole lots, a window and a seed in; the children (index,
qty, not-before time) out. Sizes and times are jittered by up to ``randomise_pct`` (so the
children do not signal), from ``random.Random(seed)``: the same seed plans the same
schedule. Sizes always sum to the parent in whole lots, except POV's, which never exceed the
participation cap (the remainder is the deadline's to handle).

Implementation shortfall follows Almgren & Chriss, "Optimal execution of portfolio
transactions", J. Risk 3 (2000): the holdings trajectory ``x_j = X sinh(k(T - t_j)) /
sinh(k T)`` with ``k = sqrt(lambda sigma^2 / eta)``, ``lambda`` the spec's
``risk_aversion``. Units are normalised (the parent is 1, time in minutes): ``sigma`` is the
per-minute volatility as a price fraction (default :data:`DEFAULT_SIGMA_PER_MINUTE`, 1% a
day over a 375-minute NSE session) and ``eta`` the temporary impact per unit of the parent
traded a minute (default :data:`DEFAULT_ETA`, the paper's section-4 example
``eta = 2.5e-6 $/share / (share/day)`` at $50 and 5M shares a day, i.e. 0.25 price
fraction per day-volume a day, expressed per minute: 0.25 / 375).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from live.algos.profile import VolumeProfile, VolumeProfileError
from strategies.algo_spec import AlgoParamError, AlgoSpec
from strategies.errors import BadInputError

DEFAULT_SIGMA_PER_MINUTE = 0.01 / math.sqrt(375.0)
DEFAULT_ETA = 0.25 / 375.0


class AlgoDeadlineError(BadInputError, ValueError):
    """A parent order whose deadline is after the venue cutoff (or not after its start)."""


@dataclass(frozen=True, slots=True)
class ChildPlan:
    """One planned child: its position in the parent, its quantity and its earliest time."""

    index: int
    qty: int
    not_before: datetime


def plan_schedule(spec: AlgoSpec, *, parent_qty: int, lot_size: int, start: datetime,
                  deadline: datetime, seed: int, volume_profile: VolumeProfile | None = None,
                  sigma_per_minute: float | None = None, eta: float | None = None,
                  cutoff: datetime | None = None) -> list[ChildPlan]:
    """The children of a ``parent_qty`` order worked from ``start`` to ``deadline``.

    Raises :class:`AlgoDeadlineError` when ``deadline`` is after ``cutoff`` and
    :class:`VolumeProfileError` when VWAP or POV has no volume history for the window.
    """
    lots = _parent_lots(parent_qty, lot_size)
    if deadline <= start:
        raise AlgoDeadlineError(f"deadline {deadline.isoformat()} is not after the start "
                                f"{start.isoformat()}")
    if cutoff is not None and deadline > cutoff:
        raise AlgoDeadlineError(f"deadline {deadline.isoformat()} is after the cutoff "
                                f"{cutoff.isoformat()}: the parent cannot finish in session")
    if spec.is_market:
        return [ChildPlan(0, parent_qty, start)]
    rng = random.Random(seed)
    count = spec.child_count
    slot = (deadline - start) / count
    nominal = [start + slot * i for i in range(count)]
    if spec.name == "pov":
        caps = _pov_caps(spec, nominal, slot, volume_profile, lot_size)
        sizes = _capped_lots(caps, lots, spec.randomise_pct, rng)
    else:
        weights = _weights(spec, nominal, slot, volume_profile, sigma_per_minute, eta)
        sizes = _allocate(_jitter(weights, spec.randomise_pct, rng), lots)
    times = [t + slot * (rng.uniform(0.0, spec.randomise_pct / 100.0)) for t in nominal]
    children = [(q, t) for q, t in zip(sizes, times, strict=True) if q > 0]
    return [ChildPlan(i, q * lot_size, _whole_second(t, start))
            for i, (q, t) in enumerate(children)]


def _whole_second(t: datetime, start: datetime) -> datetime:
    return max(start, t - timedelta(microseconds=t.microsecond))


def _parent_lots(parent_qty: int, lot_size: int) -> int:
    if lot_size <= 0:
        raise AlgoParamError(f"lot_size={lot_size}: must be positive")
    if parent_qty <= 0 or parent_qty % lot_size:
        raise AlgoParamError(f"parent_qty={parent_qty}: must be a positive multiple of "
                             f"lot_size={lot_size}")
    return parent_qty // lot_size


def _weights(spec: AlgoSpec, nominal: Sequence[datetime], slot: timedelta,
             profile: VolumeProfile | None, sigma_per_minute: float | None,
             eta: float | None) -> list[float]:
    if spec.name == "twap":
        return [1.0] * len(nominal)
    if spec.name == "vwap":
        return [_profile(profile, spec).share(t, t + slot) for t in nominal]
    assert spec.risk_aversion is not None  # AlgoSpec refuses "is" without one
    return almgren_chriss_trades(len(nominal), slot.total_seconds() / 60.0,
                                 spec.risk_aversion,
                                 sigma_per_minute if sigma_per_minute is not None
                                 else DEFAULT_SIGMA_PER_MINUTE,
                                 eta if eta is not None else DEFAULT_ETA)


def almgren_chriss_trades(count: int, slot_minutes: float, risk_aversion: float,
                          sigma_per_minute: float, eta: float) -> list[float]:
    """The fraction of the parent traded in each of ``count`` slots (Almgren-Chriss)."""
    if sigma_per_minute <= 0 or eta <= 0:
        raise AlgoParamError(f"sigma_per_minute={sigma_per_minute}, eta={eta}: must be "
                             "positive")
    kappa = math.sqrt(risk_aversion * sigma_per_minute ** 2 / eta)
    total = count * slot_minutes
    if kappa * total < 1e-9:
        return [1.0 / count] * count
    kappa = min(kappa, 700.0 / total)  # sinh overflows past ~710

    def held(t: float) -> float:
        return math.sinh(kappa * (total - t)) / math.sinh(kappa * total)

    return [held(i * slot_minutes) - held((i + 1) * slot_minutes) for i in range(count)]


def _profile(profile: VolumeProfile | None, spec: AlgoSpec) -> VolumeProfile:
    if profile is None:
        raise VolumeProfileError(f"execution.name={spec.name!r} needs a volume profile "
                                 "learned from history; none was given")
    return profile


def _pov_caps(spec: AlgoSpec, nominal: Sequence[datetime], slot: timedelta,
              profile: VolumeProfile | None, lot_size: int) -> list[int]:
    assert spec.participation_pct is not None  # AlgoSpec refuses "pov" without one
    known = _profile(profile, spec)
    if known.expected_volume(nominal[0], nominal[-1] + slot) <= 0:
        raise VolumeProfileError("the volume profile has no volume in the parent's window "
                                 f"{nominal[0].isoformat()}..{(nominal[-1] + slot).isoformat()}")
    return [int(spec.participation_pct / 100.0 * known.expected_volume(t, t + slot)
                // lot_size) for t in nominal]


def _jitter(weights: Sequence[float], randomise_pct: float, rng: random.Random) -> list[float]:
    spread = randomise_pct / 100.0
    jittered = [w * (1.0 + rng.uniform(-spread, spread)) for w in weights]
    total = sum(jittered)
    if total <= 0:
        raise VolumeProfileError("the volume profile has no volume in the parent's window")
    return [w / total for w in jittered]


def _allocate(fractions: Sequence[float], lots: int) -> list[int]:
    """Whole lots per slot summing to ``lots`` (largest remainder)."""
    exact = [f * lots for f in fractions]
    sizes = [math.floor(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (sizes[i] - exact[i], i))
    for i in order[: lots - sum(sizes)]:
        sizes[i] += 1
    return sizes


def _capped_lots(caps: Sequence[int], lots: int, randomise_pct: float,
                 rng: random.Random) -> list[int]:
    """POV: each slot's lots at most its cap (jittered down only), in order until done."""
    sizes: list[int] = []
    left = lots
    for cap in caps:
        jittered = math.floor(cap * (1.0 - rng.uniform(0.0, randomise_pct / 100.0)))
        take = min(left, max(jittered, 0))
        sizes.append(take)
        left -= take
    return sizes


__all__ = ["DEFAULT_ETA", "DEFAULT_SIGMA_PER_MINUTE", "AlgoDeadlineError", "ChildPlan",
           "almgren_chriss_trades", "plan_schedule"]
