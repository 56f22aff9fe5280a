"""The smart order router: a :class:`~live.broker.Broker` over several venues.

The runner asks :meth:`SmartOrderRouter.plan` for an order's child orders *before* it
journals them: each child is its own intent (its own client key, its ``venue`` named), so
journal-first and never-send-twice hold per child. :meth:`~SmartOrderRouter.submit` then only
dispatches a request to the venue it names (a risk-reducing order is planned first onto the
venues holding the position it reduces); a request naming none (a protective order) goes
where the trade it protects was filled (``after_trade``), else to the deepest venue. Order
and trade ids are qualified ``<venue>:<id>``, so cancel / modify / status by id reach the
right venue; ``status`` by client key asks every venue, and the reports (orders, fills,
positions summed per symbol) cover them all - a restart reconciles each venue's book.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from live.broker import (
    BrokerInputError,
    BrokerUnavailableError,
    FillReport,
    HasSession,
    OrderReport,
    OrderRequest,
    PositionReport,
    PushedOrderUpdates,
    PushesOrderUpdates,
    Side,
    SubmitResult,
)
from live.sor.rules import BestLiquidity, Leg, RoutingRule, plan_legs
from live.sor.venues import Venue, VenueConfigError, check_venues
from live.state import OrderRecord

SEP = ":"


def qualify(venue: str, local_id: str | None) -> str | None:
    """``<venue>:<id>`` (None stays None)."""
    return None if local_id is None else f"{venue}{SEP}{local_id}"


class SmartOrderRouter:
    """Routes orders over ``venues`` by ``rule`` (see the module docstring)."""

    def __init__(self, venues: Sequence[Venue], rule: RoutingRule) -> None:
        check_venues(list(venues))
        self.venues = {v.name: v for v in venues}
        self.rule = rule
        names = {getattr(v.broker, "name", "") for v in venues}
        # one broker kind everywhere keeps its name (its MIS square-off rules apply)
        self.name = names.pop() if len(names) == 1 else "sor"
        contracts = {bool(getattr(v.broker, "reports_contracts", False)) for v in venues}
        if len(contracts) > 1:
            raise VenueConfigError("venues mix brokers that report by contract (Kite) and "
                                   "by symbol (paper): positions could not be summed")
        self.reports_contracts = contracts.pop()
        self.avoided: set[str] = set()  # venues new entries are rerouted away from
        self.supports_oco = all(v.broker.supports_oco for v in venues)

    # ---- routing ------------------------------------------------------------------------

    def plan(self, *, qty: int, lot_size: int, price: float, freeze_qty: int,
             held_qty: Mapping[str, int] | None = None) -> list[Leg]:
        """The child orders of one order (raises ``RoutingError`` when none can be made);
        ``held_qty``: for a risk-reducing order, the position it reduces per venue."""
        venues = list(self.venues.values())
        if not held_qty:  # an entry: not to a venue it was rerouted from (exits still go
            venues = [v for v in venues if v.name not in self.avoided]  # where held)
        return plan_legs(self.rule, venues, qty=qty, lot_size=lot_size,
                         price=price, freeze_qty=freeze_qty, held_qty=held_qty)

    def avoid(self, venue: str) -> None:
        """Reroute: new entries leave ``venue`` (a playbook's remediation); risk-reducing
        orders still reach the venue holding what they reduce.

        Raises
        ------
        BrokerInputError
            ``venue`` is not routed to, or it is the last venue left.
        """
        if venue not in self.venues:
            raise BrokerInputError(f"venue {venue!r}: not one of {sorted(self.venues)}")
        if set(self.venues) <= self.avoided | {venue}:
            raise BrokerInputError(f"venue {venue!r} is the last venue left to route to")
        self.avoided.add(venue)

    def _venue_for(self, request: OrderRequest) -> Venue:
        if request.venue is not None:
            venue = self.venues.get(request.venue)
            if venue is None:
                raise BrokerInputError(f"venue {request.venue!r}: not one of "
                                       f"{sorted(self.venues)}")
            return venue
        if request.after_trade is not None and SEP in request.after_trade:
            return self._split(request.after_trade)[0]
        return BestLiquidity().shares(list(self.venues.values()), request.qty, 1)[0][0]

    def _split(self, qualified: str) -> tuple[Venue, str]:
        name, sep, local = qualified.partition(SEP)
        venue = self.venues.get(name)
        if not sep or venue is None or not local:
            raise BrokerInputError(f"id {qualified!r}: not <venue>:<id> of a venue of "
                                   f"{sorted(self.venues)}")
        return venue, local

    # ---- commands -----------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> SubmitResult:
        venue = self._venue_for(request)
        after = request.after_trade
        if after is not None and SEP in after:
            after = self._split(after)[1]
        result = venue.broker.submit(replace(request, venue=None, after_trade=after))
        return replace(result, broker_order_id=qualify(venue.name, result.broker_order_id))

    def modify(self, broker_order_id: str, *, qty: int | None = None,
               limit_price: float | None = None,
               trigger_price: float | None = None) -> SubmitResult:
        venue, local = self._split(broker_order_id)
        result = venue.broker.modify(local, qty=qty, limit_price=limit_price,
                                     trigger_price=trigger_price)
        return replace(result, broker_order_id=qualify(venue.name, result.broker_order_id))

    def cancel(self, broker_order_id: str) -> SubmitResult:
        venue, local = self._split(broker_order_id)
        result = venue.broker.cancel(local)
        return replace(result, broker_order_id=qualify(venue.name, result.broker_order_id))

    # ---- reports ------------------------------------------------------------------------

    def status(self, *, broker_order_id: str | None = None,
               client_key: str | None = None) -> OrderReport | None:
        """By id: its venue's answer. By client key only: every venue is asked; one key at
        two venues is a duplicate the journal must resolve (raised as unknown)."""
        if broker_order_id is not None:
            venue, local = self._split(broker_order_id)
            report = venue.broker.status(broker_order_id=local, client_key=client_key)
            return None if report is None else _qualified(venue.name, report)
        if client_key is None:
            raise BrokerInputError("status needs broker_order_id or client_key")
        found = [_qualified(v.name, r) for v in self.venues.values()
                 if (r := v.broker.status(client_key=client_key)) is not None]
        if len(found) > 1:
            raise BrokerUnavailableError(f"client_key {client_key!r} is at several venues: "
                                         f"{[r.broker_order_id for r in found]}")
        return found[0] if found else None

    def orders(self) -> list[OrderReport]:
        return [_qualified(v.name, r) for v in self.venues.values() for r in v.broker.orders()]

    def fills(self) -> list[FillReport]:
        return [replace(f, trade_id=f"{v.name}{SEP}{f.trade_id}",
                        broker_order_id=f"{v.name}{SEP}{f.broker_order_id}")
                for v in self.venues.values() for f in v.broker.fills()]

    def positions(self) -> list[PositionReport]:
        """Net positions summed per symbol over the venues (average price by quantity)."""
        net: dict[str, int] = {}
        cost: dict[str, float] = {}
        for venue in self.venues.values():
            for p in venue.broker.positions():
                net[p.symbol] = net.get(p.symbol, 0) + p.net_qty
                cost[p.symbol] = cost.get(p.symbol, 0.0) + p.net_qty * p.avg_price
        return [PositionReport(symbol=s, net_qty=n, avg_price=cost[s] / n)
                for s, n in sorted(net.items()) if n != 0]

    # ---- sessions and pushed updates of the venues that have them -----------------------

    @property
    def session_invalid(self) -> bool:
        """True when any venue's session died (the runner then holds)."""
        return any(isinstance(v.broker, HasSession) and v.broker.session_invalid
                   for v in self.venues.values())

    def drain_order_updates(self) -> PushedOrderUpdates:
        orders: list[OrderReport] = []
        problems: list[str] = []
        for venue in self.venues.values():
            if isinstance(venue.broker, PushesOrderUpdates):
                pushed = venue.broker.drain_order_updates()
                orders += [_qualified(venue.name, r) for r in pushed.orders]
                problems += [f"{venue.name}: {p}" for p in pushed.problems]
        return PushedOrderUpdates(orders=tuple(orders), problems=tuple(problems))


def held_by_venue(orders: Iterable[OrderRecord], *, strategy: str, symbol: str, side: int,
                  exclude_trace: str) -> dict[str, int]:
    """Units of ``strategy``'s position in ``symbol`` that an order of ``side`` (+1 buy, -1
    sell) would reduce, per venue, from the journal's orders (their fills, by the venue of
    their qualified id); the orders of ``exclude_trace`` (the order being planned) left out,
    so a restart at the same bar re-derives the same plan."""
    net: dict[str, int] = {}
    for order in orders:
        if order.strategy != strategy or order.symbol != symbol or \
                order.trace_id == exclude_trace or order.broker_order_id is None or \
                SEP not in order.broker_order_id or not order.filled_qty:
            continue
        venue = order.broker_order_id.partition(SEP)[0]
        signed = order.filled_qty if order.side is Side.BUY else -order.filled_qty
        net[venue] = net.get(venue, 0) + signed
    return {venue: -n * side for venue, n in net.items() if n * side < 0}


def _qualified(venue: str, report: OrderReport) -> OrderReport:
    return replace(report, broker_order_id=f"{venue}{SEP}{report.broker_order_id}")
