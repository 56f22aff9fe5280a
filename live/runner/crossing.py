"""Internal crossing (``compliance.yaml`` ``self_trade: net``): a market order of one strategy
that would trade against another strategy's resting limit entry of ours is filled, as far
as it can be, by that resting order - inside the firm, never on the exchange - and only its
remainder goes to market.

One cross, journal first:

1. ``InternalCrossStarted`` (the marker: the crossing order's key, the resting order, its
   total at the broker, the price - the resting limit);
2. the resting order is reduced at the broker through the normal command path: a
   ``ModifyOrder`` to a lower total quantity, or a ``CancelOrder`` when all of its open
   quantity is crossed (or a fill has left no room for a lower total);
3. the broker's book decides what was withdrawn (:mod:`live.orders.crossing`) - new fills
   are journaled first, so a fill racing the withdrawal stays the broker's -, and
   ``InternalCrossed`` books exactly that to both strategies at the resting limit (with a
   ``TradeExited`` for a position it closes), in one commit.

A cross started and not finished (a crash, an unanswered broker) is settled by the same
rule from the broker's book at restart or at the next poll: a resting order the book shows
untouched gets its (idempotent: an absolute total, or a cancel) withdrawal now; nothing is
booked twice and nothing crossed that the broker still holds. Until it is settled the
crossing order sends nothing. Only unsliced market orders net (``nets`` on their risk
check); the remainder is sent under the same client key after a new look at the book: a
remainder that would still cross a working order of ours is denied (an entry, journaled
``RiskChecked`` ``self_trade``) or sent with a ``self_trade_exit`` alert (an exit). A
resting limit that is not an entry of ours (no entry trace: nothing would protect what it
opens), or whose strategy's kill switch is not off (a crossed entry is a new position of
it), is never crossed: the crossing order is then handled the same way.
"""

from __future__ import annotations

from datetime import datetime

from live.broker import BrokerUnavailableError, OrderReport, OrderState, OrderType, Side
from live.events import (
    CancelOrder,
    Event,
    InternalCrossed,
    InternalCrossStarted,
    KillMode,
    ModifyOrder,
    OrderModified,
    RiskChecked,
    Severity,
    TradeExited,
    cross_trade_id,
)
from live.orders.crossing import crossed_qty
from live.risk.compliance_controls import SELF_TRADE, crossing_order, nettable
from live.risk.interface import OrderProposal
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.risk_gate import SELF_TRADE_EXIT, RiskGate
from live.state import (
    CrossRecord,
    OrderRecord,
    OrderStatus,
    kill_mode_for,
    preview_fill,
    unfinished_crosses,
)
from strategies.instruments import Contract

CROSS_UNSETTLED = "cross_unsettled"  # the alert of a cross the broker's book cannot settle yet
NET = "net"


class InternalCrossing(RiskGate):
    """Crosses a market order internally against another strategy's resting limit entry."""

    @property
    def nets(self) -> bool:
        """Whether ``compliance.yaml`` says ``self_trade: net`` (the risk engine's rules)."""
        compliance = getattr(self.risk, "compliance", None)
        return compliance is not None and compliance.config.self_trade == NET

    def _proposal(self, d: Deployed, bar: FeedBar, side: int, qty: int, reduces: bool,
                  contract: Contract | None) -> OrderProposal:
        return OrderProposal(strategy=d.strategy, symbol=bar.symbol, side=side, qty=qty,
                             reference_price=bar.close, reduces_exposure=reduces, ts=bar.ts,
                             expiry=None if contract is None else contract.expiry,
                             order_type=OrderType.MARKET.value, nets=True)

    def net_order(self, d: Deployed, bar: FeedBar, trace: str, key: str, *, side: int,
                  qty: int, reduces: bool, contract: Contract | None) -> int | None:
        """The quantity of market order ``key`` left to send after crossing it internally
        (``qty`` when nothing nets; None: hold - a cross not settled, or a remainder denied
        because it would still cross a working order of ours)."""
        cross = self.state.crosses.get(key)
        if cross is None and self.nets:
            proposal = self._proposal(d, bar, side, qty, reduces, contract)
            resting = crossing_order(proposal, self.state)
            if resting is not None and nettable(proposal, resting, self.state):
                refusal = self._runner_refusal(resting)
                if refusal:  # fail closed: what the compliance check cannot see
                    return self._still_crossing(
                        d, bar, trace, qty, reduces,
                        f"{d.strategy}/{bar.symbol}: {key} would cross our working order "
                        f"{resting.client_key} ({resting.strategy}), {refusal}; not "
                        "crossed internally")
                assert resting.limit_price is not None  # nettable: an open limit
                self.executor.record(InternalCrossStarted(
                    trace_id=trace, ts_event=bar.ts, cross_id=key, strategy=d.strategy,
                    version=str(d.version), symbol=bar.symbol,
                    side=Side.BUY if side > 0 else Side.SELL,
                    qty=min(qty, resting.qty - resting.filled_qty), order_qty=qty,
                    price=resting.limit_price, resting_key=resting.client_key,
                    resting_strategy=resting.strategy, resting_qty=resting.qty))
                self.crash_hook("after_cross_started")
                cross = self.state.crosses[key]
        if cross is None:
            return qty
        if not cross.finished and not self.settle_cross(cross, bar.ts):
            return None
        left = cross.started.order_qty - (cross.crossed_qty or 0)
        if left == 0:
            return 0
        still = crossing_order(self._proposal(d, bar, side, left, reduces, contract),
                               self.state)
        if still is None:
            return left
        return self._still_crossing(
            d, bar, trace, left, reduces,
            f"{d.strategy}/{bar.symbol}: the remainder {left} of {key} after its internal "
            f"cross (crossed {cross.crossed_qty}) would cross our working order "
            f"{still.client_key} ({still.strategy}); one internal cross per order")

    def _runner_refusal(self, resting: OrderRecord) -> str:
        """Why the runner will not cross against ``resting`` ("" when it will): it must be
        an entry (what it opens is then protected) of a strategy whose kill switch is off
        (a crossed entry is a new position of that strategy)."""
        if resting.trace_id not in self.entry_traces:
            return "which is not an entry"
        kill = kill_mode_for(self.state, resting.strategy)
        if kill is not KillMode.OFF:
            return f"whose strategy's kill switch is {kill}"
        return ""

    def _still_crossing(self, d: Deployed, bar: FeedBar, trace: str, qty: int,
                        reduces: bool, why: str) -> int | None:
        """An order that would cross a working order of ours and cannot be crossed
        internally: an exit is sent (``qty``) with a ``self_trade_exit`` alert, an entry is
        denied (``RiskChecked`` ``self_trade``; None)."""
        if reduces:
            self.alert(bar.ts, Severity.WARNING, SELF_TRADE_EXIT, why + "; exit sent "
                       "(risk-reducing orders are never held by a compliance check)")
            return qty
        self.executor.record(RiskChecked(trace_id=trace, ts_event=bar.ts,
                                         strategy=d.strategy, symbol=bar.symbol,
                                         passed=False, check=SELF_TRADE, reason=why))
        self.summary.denials += 1
        return None

    def settle_crosses(self, ts: datetime) -> list[str]:
        """Settle every cross started and not finished from the broker's book (a restart,
        a poll after an unanswered one); what could not be settled, each a problem."""
        problems = []
        for cross in unfinished_crosses(self.state):
            if not self.settle_cross(cross, ts):
                problems.append(f"internal cross {cross.started.cross_id}: resting order "
                                f"{cross.started.resting_key} not settled with the broker")
        return problems

    def settle_cross(self, cross: CrossRecord, ts: datetime) -> bool:
        """Withdraw what the cross needs at the broker unless its book shows it done, then
        book what the book says was withdrawn; False (alerted) when the book cannot be read
        (tried again at the next poll: nothing crosses or sends for it meanwhile)."""
        started = cross.started
        report = self._resting_report(started, ts)
        if report is None:
            return False
        resting = self.state.orders.get(started.resting_key)
        if report.state is OrderState.OPEN and report.qty == started.resting_qty and \
                resting is not None and resting.broker_order_id is not None:
            target = started.resting_qty - started.qty  # the total left resting
            if target > report.filled_qty:
                self.bus.send(ModifyOrder(trace_id=resting.trace_id, ts_event=ts,
                                          client_key=resting.client_key,
                                          broker_order_id=resting.broker_order_id,
                                          qty=target))
            else:
                self.bus.send(CancelOrder(trace_id=resting.trace_id, ts_event=ts,
                                          client_key=resting.client_key,
                                          broker_order_id=resting.broker_order_id,
                                          reason=f"internal cross {started.cross_id}"))
            self.crash_hook("after_cross_withdrawn")
            report = self._resting_report(started, ts)
            if report is None:
                return False
        resting = self.state.orders.get(started.resting_key)
        if resting is not None and resting.status is OrderStatus.OPEN and \
                report.state is not OrderState.CANCELLED and report.qty != resting.qty:
            # confirmed at the broker, its OrderModified lost (a crash): the book's total
            self.executor.record(OrderModified(
                trace_id=resting.trace_id, ts_event=ts, client_key=resting.client_key,
                broker_order_id=report.broker_order_id, qty=report.qty))
        qty = crossed_qty(started, report)
        self.bus.publish(InternalCrossed(
            trace_id=started.trace_id, ts_event=ts, cross_id=started.cross_id,
            trade_id=cross_trade_id(started.cross_id), crossed_qty=qty,
            reason=(f"the broker's book: resting order {started.resting_key} {report.state} "
                    f"total {report.qty} filled {report.filled_qty}, was {started.resting_qty}"
                    f"; {qty} of {started.qty} crossed at {started.price:g}")),
            *self._exits(started, qty, ts))
        self.protection.note_cross(self.state.crosses[started.cross_id], ts)
        return True

    def _resting_report(self, started: InternalCrossStarted, ts: datetime
                        ) -> OrderReport | None:
        """The broker's report of the resting order, its fills journaled first (a fill
        that raced the withdrawal is the broker's); None (alerted) when unreadable."""
        try:
            self.executor.poll(ts)
            report = self.broker.status(client_key=started.resting_key)
        except BrokerUnavailableError as exc:
            report, why = None, f"broker unavailable ({exc})"
        else:
            why = "the broker has no such order"
        if report is None:
            self.alert(ts, Severity.CRITICAL, CROSS_UNSETTLED,
                       f"internal cross {started.cross_id} of {started.strategy}/"
                       f"{started.symbol} against {started.resting_key}: {why}; nothing "
                       "crosses or is sent for it until the broker's book settles it")
        return report

    def _exits(self, started: InternalCrossStarted, qty: int, ts: datetime
               ) -> list[Event]:
        """The ``TradeExited`` of each strategy whose position the cross closes."""
        out: list[Event] = []
        signed = qty if started.side is Side.BUY else -qty
        for strategy, units in ((started.strategy, signed),
                                (started.resting_strategy, -signed)):
            pos = self.state.positions.get((strategy, started.symbol))
            if qty == 0 or pos is None or pos.net_qty == 0:
                continue
            net, realised = preview_fill(pos, units, started.price)
            if net == 0:
                before = self.state.stats_for(strategy).realised_pnl_inr
                out.append(TradeExited(trace_id=started.trace_id, ts_event=ts,
                                       strategy=strategy, symbol=started.symbol,
                                       reason="closed (internal cross)",
                                       pnl_inr=(before + realised) - before))
        return out
