"""Build the smart order router of a run from ``live.venues`` (README, Smart order routing).

With fewer than two venues nothing is built: the run uses its one broker exactly as before.
Paper venues each get their own book (``exchange_url`` with ``{name}`` and ``{mode}``
substituted) and move with the market; a Kite venue is the run's Kite broker, so a run with
one must be a Kite run (``--broker kite`` / ``live.broker: kite``) and a Kite run must have
one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratops.errors import LiveSetupError
from stratops.settings import Settings


def venue_router(settings: Settings, mode: str, fill_model: Any, kite: Any
                 ) -> tuple[Any, Callable[[Any], None]] | None:
    """(the router, the market callback moving its paper venues) or None (< 2 venues)."""
    from live.adapters.paper import PaperConfigError, PaperExchange
    from live.db import make_engine
    from live.sor.router import SmartOrderRouter
    from live.sor.rules import RULES
    from live.sor.venues import Venue

    configured = settings.live.venues
    if len(configured) < 2:
        return None
    has_kite = any(v.broker == "kite" for v in configured)
    if has_kite != (kite is not None):
        raise LiveSetupError(
            "live.venues has a kite venue: run with --broker kite" if has_kite else
            "a Kite run with live.venues needs a venue with broker: kite")
    papers: list[Any] = []
    venues = []
    for v in configured:
        broker = kite
        if v.broker == "paper":
            url = v.exchange_url.replace("{name}", v.name).replace("{mode}", mode)
            try:
                broker = PaperExchange(make_engine(url, settings.root),
                                       seed=settings.live.paper_seed, fill_model=fill_model)
            except PaperConfigError as exc:
                raise LiveSetupError(f"live.venues {v.name}: {exc}") from exc
            papers.append(broker)
        venues.append(Venue(name=v.name, broker=broker, account=v.account,
                            depth_qty=v.depth_qty, max_qty_per_order=v.max_qty_per_order,
                            max_notional_inr=v.max_notional_inr))

    def market(bar: Any) -> None:
        for paper in papers:
            paper.on_bar(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)

    return SmartOrderRouter(venues, RULES[settings.live.routing_rule]), market
