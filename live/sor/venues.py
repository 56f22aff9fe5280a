"""A venue: one broker and account, with its own per-order limits and a liquidity estimate.

``depth_qty`` is the liquidity the routing rules weigh (units: displayed depth, or the
average minute volume) - configuration, not a live quote, so a plan re-derived after a
restart at the same bar is the plan first made. ``max_qty_per_order`` and
``max_notional_inr`` cap each child order sent there: a larger share is sent as several.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from live.broker import Broker
from strategies.errors import BadInputError, StratopsError

VENUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


class VenueConfigError(BadInputError, ValueError):
    """A venue that cannot be used: bad name, a limit that is not positive, duplicates."""


class RoutingError(StratopsError, ValueError):
    """An order no venue can take (every venue's limit is below one lot at this price)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Venue:
    """One venue. ``name`` prefixes its broker's order and trade ids (``<name>:<id>``)."""

    name: str
    broker: Broker
    account: str
    depth_qty: int
    max_qty_per_order: int | None = None
    max_notional_inr: float | None = None

    def __post_init__(self) -> None:
        if not VENUE_NAME.match(self.name):
            raise VenueConfigError(f"venue name {self.name!r}: lowercase letters, digits, _ "
                                   "(1-16 chars, starting with a letter)")
        if self.depth_qty <= 0:
            raise VenueConfigError(f"venue {self.name}: depth_qty {self.depth_qty!r} must be "
                                   "positive")
        for field, value in (("max_qty_per_order", self.max_qty_per_order),
                             ("max_notional_inr", self.max_notional_inr)):
            if value is not None and not value > 0:
                raise VenueConfigError(f"venue {self.name}: {field} {value!r} must be "
                                       "positive when set")

    def max_child_qty(self, lot_size: int, price: float, freeze_qty: int) -> int:
        """The most units one order at this venue may carry (whole lots; 0: not one lot)."""
        cap = freeze_qty
        if self.max_qty_per_order is not None:
            cap = min(cap, self.max_qty_per_order)
        if self.max_notional_inr is not None and price > 0:
            cap = min(cap, int(self.max_notional_inr // price))
        return cap // lot_size * lot_size


def check_venues(venues: list[Venue]) -> None:
    """Refuse an empty list or two venues of one name."""
    if not venues:
        raise VenueConfigError("a router needs at least one venue")
    names = [v.name for v in venues]
    if len(set(names)) != len(names):
        raise VenueConfigError(f"venue names must be unique, got {names}")
