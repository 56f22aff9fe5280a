"""Routing rules: how one order is shared between venues, and the plan of child orders.

:class:`BestLiquidity` sends it all to the deepest venue that can take it (depth at least the
order; when none is that deep, the deepest). :class:`ProRataSplit` shares it by depth, in
whole lots (largest remainders get the odd lots). A risk-reducing order goes first to the
venues holding the position it reduces. :func:`plan_legs` then cuts each venue's
share into child orders within that venue's per-order limits and the freeze quantity; a
venue whose limit is below one lot at this price takes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from live.sor.venues import RoutingError, Venue

MAX_LEGS = 100  # as live.orders.slicing.MAX_SLICES: more is a fat finger, not a trade


@dataclass(frozen=True, slots=True)
class Leg:
    """One child order of a plan: ``qty`` units at ``venue``."""

    venue: str
    qty: int


class RoutingRule(Protocol):
    """Shares ``qty`` units (whole lots) between ``venues`` (each able to take a lot)."""

    name: str

    def shares(self, venues: Sequence[Venue], qty: int, lot_size: int
               ) -> list[tuple[Venue, int]]: ...


class BestLiquidity:
    """All of the order to the deepest venue whose depth covers it (else the deepest)."""

    name = "best_liquidity"

    def shares(self, venues: Sequence[Venue], qty: int, lot_size: int
               ) -> list[tuple[Venue, int]]:
        deep_enough = [v for v in venues if v.depth_qty >= qty] or list(venues)
        best = max(deep_enough, key=lambda v: v.depth_qty)  # the first of equals
        return [(best, qty)]


class ProRataSplit:
    """The order shared by depth, in whole lots; the odd lots to the largest remainders."""

    name = "pro_rata"

    def shares(self, venues: Sequence[Venue], qty: int, lot_size: int
               ) -> list[tuple[Venue, int]]:
        lots = qty // lot_size
        total_depth = sum(v.depth_qty for v in venues)
        exact = [lots * v.depth_qty / total_depth for v in venues]
        whole = [int(x) for x in exact]
        odd = lots - sum(whole)
        by_remainder = sorted(range(len(venues)), key=lambda i: (whole[i] - exact[i], i))
        for i in by_remainder[:odd]:
            whole[i] += 1
        return [(v, n * lot_size) for v, n in zip(venues, whole, strict=True) if n > 0]


RULES: dict[str, RoutingRule] = {r.name: r for r in (BestLiquidity(), ProRataSplit())}


def _reducing_shares(able: Sequence[Venue], held_qty: Mapping[str, int], qty: int,
                     lot_size: int) -> tuple[list[tuple[Venue, int]], int]:
    """Shares of a risk-reducing order taken first where the position is held (whole lots,
    venues in their configured order); and the units left for the rule."""
    shares, left = [], qty
    for venue in able:
        take = min(left, max(0, held_qty.get(venue.name, 0)) // lot_size * lot_size)
        if take > 0:
            shares.append((venue, take))
            left -= take
    return shares, left


def plan_legs(rule: RoutingRule, venues: Sequence[Venue], *, qty: int, lot_size: int,
              price: float, freeze_qty: int,
              held_qty: Mapping[str, int] | None = None) -> list[Leg]:
    """The child orders of one order of ``qty`` units at about ``price``: the rule's shares,
    each cut into orders within its venue's limits (biggest first). A risk-reducing order
    passes ``held_qty`` (venue -> units of the position it reduces held there): it goes
    first to those venues, and only what is left is shared by the rule.

    Raises
    ------
    RoutingError
        When ``qty`` is not whole lots, no venue can take one lot, or it needs too many legs.
    """
    if lot_size < 1 or qty < 1 or qty % lot_size:
        raise RoutingError(f"qty {qty!r} is not a positive whole number of lots of "
                           f"{lot_size!r}")
    caps = {v.name: v.max_child_qty(lot_size, price, freeze_qty) for v in venues}
    able = [v for v in venues if caps[v.name] >= lot_size]
    if not able:
        raise RoutingError(f"no venue can take one lot of {lot_size} at {price:g}: limits "
                           f"{caps}")
    shares, left = _reducing_shares(able, held_qty or {}, qty, lot_size)
    if left > 0:
        shares += rule.shares(able, left, lot_size)
    legs: list[Leg] = []
    for venue, share in _merged(shares):
        full, rest = divmod(share, caps[venue.name])
        legs += [Leg(venue.name, caps[venue.name])] * full + \
            ([Leg(venue.name, rest)] if rest else [])
    if len(legs) > MAX_LEGS:
        raise RoutingError(f"qty {qty} needs {len(legs)} child orders; more than {MAX_LEGS}")
    return legs


def _merged(shares: list[tuple[Venue, int]]) -> list[tuple[Venue, int]]:
    """One share per venue (first-seen order)."""
    total: dict[str, int] = {}
    by_name: dict[str, Venue] = {}
    for venue, qty in shares:
        total[venue.name] = total.get(venue.name, 0) + qty
        by_name[venue.name] = venue
    return [(by_name[name], qty) for name, qty in total.items()]
