"""Sending one decided order the NSE/Kite way: split at the exchange's freeze quantity into
slices (each its own ``CheckRisk``/``RiskChecked`` and its own journaled intent, keyed from
the trace: :mod:`live.orders.slicing`), each carrying the version's product and, at market,
the configured market protection; limit and trigger prices fitted to the exchange's band.

A slice the risk engine denies stops the slices after it: those already sent stay working
(an entry's sent slices are a smaller position, protected and exited like any other; an
exit's are a partial exit, completed at a later close) and a ``slices_stopped`` alert says
how many went. After a restart, a plan whose first slice is journaled is re-derived from
that intent (``parent_qty``) and only its missing slices are sent. Over a smart order router
(:mod:`live.sor`) the order's child orders - split between venues and cut at each venue's
limits - are the slices, each intent naming its ``venue``. A slice the broker
rejects at once also stops the rest (an exit is then retried at the next close:
:mod:`~live.runner.refusals`; a flip's entry is not sent behind a rejected exit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from live.broker import OrderType, Side
from live.events import OrderIntended, Severity
from live.orders.prices import BandFit, PriceBand, band_around, fit_to_band
from live.orders.rules import DEFAULT_KEY, OrderRules
from live.orders.slicing import SliceError, replan, slice_key, slice_qty
from live.risk.interface import RiskDecision
from live.runner.crossing import InternalCrossing
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.risk_gate import contract_field
from live.sor.router import SmartOrderRouter, held_by_venue
from live.sor.venues import RoutingError
from live.state import OrderStatus
from strategies.instruments import Contract

DEFAULT_BAND_PCT = 10.0  # NSE index futures' daily operating range without risk.yaml
BrokerBand = Callable[[str], tuple[float, float] | None]  # symbol -> (lower, upper)


class OrderSlicer(InternalCrossing):
    """Slices, risk-checks and intends one decided order; fits prices to the band."""

    order_rules: OrderRules
    price_band_pct: Mapping[str, float]  # risk.yaml pre_trade.price_band_pct
    entries: dict[tuple[str, str, object], int]

    if TYPE_CHECKING:  # the pipeline's
        def withdraw_protection(self, strategy: str, symbol: str, bar: FeedBar,
                                why: str) -> bool:
            raise NotImplementedError

    def plan_slices(self, d: Deployed, bar: FeedBar, qty: int) -> list[int] | None:
        """``qty`` as slices at the symbol's freeze quantity; None (alerted) when it cannot
        be sliced - nothing is sent (fail closed)."""
        try:
            return slice_qty(qty, self.order_rules.freeze_for(bar.symbol),
                             d.lot_for(bar.symbol))
        except SliceError as exc:
            self.alert(bar.ts, Severity.ERROR, "order_not_sliced",
                       f"{d.strategy}/{bar.symbol}: {exc}; not sent")
            return None

    def resume_slices(self, d: Deployed, bar: FeedBar, trace: str) -> bool:
        """Send the missing slices of ``trace``'s journaled plan (a restart between slices);
        True when every slice is intended."""
        first = self.executor.intents.get(slice_key(trace, 0))
        cross = self.state.crosses.get(slice_key(trace, 0))
        if first is None and cross is not None:  # crossed internally before a restart
            return self._resume_cross(d, bar, trace, cross.started.order_qty,
                                      1 if cross.started.side is Side.BUY else -1)
        if first is None or first.slice_count <= 1:
            return True
        plan = replan(first.parent_qty or first.qty, first.qty)
        side = 1 if first.side is Side.BUY else -1
        reduces = trace not in self.entry_traces
        contract = self.order_contract(trace, d, bar, reduces=reduces)
        if isinstance(contract, RiskDecision):  # denied and journaled: the rest waits
            return False
        return self.send_slices(d, bar, trace, side=side, plan=plan, reduces=reduces,
                                reason="resumed", contract=contract)

    def _resume_cross(self, d: Deployed, bar: FeedBar, trace: str, qty: int, side: int
                      ) -> bool:
        """Finish an order crossed internally before a restart: the cross settled from the
        broker's book, its remainder sent (on the bar it was decided at only)."""
        reduces = trace not in self.entry_traces
        contract = self.order_contract(trace, d, bar, reduces=reduces)
        if isinstance(contract, RiskDecision):
            return False
        return self.send_slices(d, bar, trace, side=side, plan=[qty], reduces=reduces,
                                reason="resumed", contract=contract)

    def send_slices(self, d: Deployed, bar: FeedBar, trace: str, *, side: int,
                    plan: list[int], reduces: bool, reason: str,
                    contract: Contract | None = None) -> bool:
        """Risk-check and intend each slice of ``plan`` not intended yet; True when all are.
        An exit withdraws the position's protective orders before its first slice."""
        routed = self.route_slices(d, bar, trace, plan, side=side, reduces=reduces)
        if routed is None:
            return False
        plan, venues = routed
        total, count = sum(plan), len(plan)
        for i, qty in enumerate(plan):
            key = slice_key(trace, i)
            if key in self.state.orders:
                continue
            if key not in self.state.crosses:  # a cross started: its check was answered
                verdict = self.ask_risk(trace, key, d, bar, side=side, qty=qty,
                                        reduces_exposure=reduces, slice_index=i,
                                        contract=contract, nets=count == 1 and self.nets)
                self.risk_warning(bar, d, verdict, f"{reason} exit")
                if verdict.disable_strategy:
                    self.switch(bar, d.strategy, "halt", "risk_engine",
                                f"{verdict.check}: {verdict.reason} (re-enable: stratops "
                                "kill rearm)")
                if not verdict.passed:
                    self._denied(d, bar, reduces, reason, verdict.check, verdict.reason, i,
                                 count)
                    return False
            if reduces and not self.withdraw_protection(d.strategy, bar.symbol, bar,
                                                        f"{reason} exit"):
                return False  # the position may have changed: decided again next close
            if count == 1:  # an unsliced market order may cross internally (net mode)
                left = self.net_order(d, bar, trace, key, side=side, qty=qty,
                                      reduces=reduces, contract=contract)
                if left is None:
                    return False
                if left == 0:
                    continue
                qty = total = left
            self.executor.send(OrderIntended(
                trace_id=trace, ts_event=bar.ts, client_key=key, strategy=d.strategy,
                version=str(d.version), symbol=bar.symbol, exchange=self.exchange,
                side=Side.BUY if side > 0 else Side.SELL, qty=qty,
                order_type=OrderType.MARKET, mode=self.mode, product=d.product,
                market_protection_pct=self.order_rules.market_protection_pct,
                slice_index=i, slice_count=count, parent_qty=total if count > 1 else None,
                tradingsymbol=contract_field(contract, "tradingsymbol"),
                expiry=contract_field(contract, "expiry"), venue=venues[i], algo_id=d.algo_id))
            self.summary.intents += 1
            if self.state.orders[key].status is OrderStatus.REJECTED:
                return False  # refused at once: the rest waits (an exit: retried next close)
        return True

    def route_slices(self, d: Deployed, bar: FeedBar, trace: str, plan: list[int], *,
                     side: int, reduces: bool) -> tuple[list[int], list[str | None]] | None:
        """``plan`` with each slice's venue: unchanged (no venue) on one broker; over a smart
        order router, its child orders for the plan's total (at this bar's close; an exit
        first where the position is held - so a restart at the same bar re-derives the
        same plan). None (alerted): not sent - no venue can take it, or the plan differs
        from the children already intended."""
        if not isinstance(self.broker, SmartOrderRouter):
            return plan, [None] * len(plan)
        held = held_by_venue(self.state.orders.values(), strategy=d.strategy,
                             symbol=bar.symbol, side=side, exclude_trace=trace) \
            if reduces else None
        try:
            legs = self.broker.plan(qty=sum(plan), lot_size=d.lot_for(bar.symbol), price=bar.close,
                                    freeze_qty=self.order_rules.freeze_for(bar.symbol),
                                    held_qty=held)
        except RoutingError as exc:
            self.alert(bar.ts, Severity.ERROR, "order_not_routed",
                       f"{d.strategy}/{bar.symbol}: {exc}; not sent")
            return None
        for i, leg in enumerate(legs):
            sent = self.executor.intents.get(slice_key(trace, i))
            if sent is not None and (sent.qty, sent.venue) != (leg.qty, leg.venue):
                self.alert(bar.ts, Severity.ERROR, "route_changed",
                           f"{d.strategy}/{bar.symbol}: child {i} was intended as "
                           f"{sent.qty} at {sent.venue}, the plan now says {leg.qty} at "
                           f"{leg.venue}; the rest is not sent")
                return None
        return [leg.qty for leg in legs], [leg.venue for leg in legs]

    def _denied(self, d: Deployed, bar: FeedBar, reduces: bool, reason: str, check: str,
                why: str, index: int, count: int) -> None:
        self.summary.denials += 1
        if reduces:
            self.alert(bar.ts, Severity.ERROR, "exit_denied",
                       f"{d.strategy}/{bar.symbol}: {reason} exit denied by {check}: {why}")
        if index > 0:
            self.alert(bar.ts, Severity.ERROR if reduces else Severity.WARNING,
                       "slices_stopped",
                       f"{d.strategy}/{bar.symbol}: slice {index + 1} of {count} denied by "
                       f"{check}; the {index} slice(s) sent stay working, the other "
                       f"{count - index} are not sent")

    # -- prices at the exchange -----------------------------------------------------------

    def price_band(self, symbol: str, tick: float) -> PriceBand | None:
        """Today's band of ``symbol``: the broker's when it reports one (a method
        ``price_band(symbol) -> (lower, upper) | None``), else ``price_band_pct`` around
        the previous session's close; None before any previous session is seen."""
        reported: BrokerBand | None = getattr(self.broker, "price_band", None)
        edges = reported(symbol) if reported is not None else None
        if edges is not None:
            return PriceBand(edges[0], edges[1], f"{getattr(self.broker, 'name', 'broker')} "
                                                 "band")
        base = self.symbol_history(symbol).prev_session_close
        if base is None:
            return None
        pct = self.price_band_pct.get(symbol, self.price_band_pct.get(DEFAULT_KEY,
                                                                      DEFAULT_BAND_PCT))
        return band_around(base, pct, tick)

    def fit_exit_price(self, d: Deployed, bar: FeedBar, price: float, what: str
                       ) -> BandFit:
        """A risk-reducing order's limit or trigger price inside the band (clamped to the
        edge with a ``price_clamped`` alert: an exit is never stuck)."""
        fit = fit_to_band(price, self.price_band(bar.symbol, d.tick_for(bar.symbol)),
                          reduces_exposure=True, what=what)
        if fit.clamped:
            self.alert(bar.ts, Severity.WARNING, "price_clamped",
                       f"{d.strategy}/{bar.symbol}: {fit.reason}")
        return fit
