"""Journal-first order execution: an intent is durably journaled before it is sent, every
outcome is journaled, an unknown outcome is settled by asking the broker - never by sending
again - and every fill is journaled exactly once (by trade id)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from live.broker import Broker, BrokerUnavailableError, OrderState, Outcome
from live.events import (
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderRejected,
    OrderSubmitted,
    TradeExited,
)
from live.journal import Journal
from live.runner.crash import CrashPoints
from live.state import LiveState, OrderStatus, in_doubt_orders


class Executor:
    """Sends intents through one broker and folds everything it journals into ``state``."""

    def __init__(self, journal: Journal, broker: Broker, state: LiveState,
                 clock: Callable[[], datetime], crash: CrashPoints) -> None:
        self.journal, self.broker, self.state = journal, broker, state
        self.clock, self.crash = clock, crash
        self.intents: dict[str, OrderIntended] = {}  # by client key, rebuilt on recovery
        self.on_fill: Callable[[OrderFilled], None] | None = None  # told of every new fill

    def record(self, event: object) -> None:
        """Journal (durably) then fold: the journal is the source of truth."""
        self.journal.append(event)  # type: ignore[arg-type]
        self.state.apply(event)  # type: ignore[arg-type]

    def send(self, intent: OrderIntended) -> None:
        if intent.client_key in self.state.orders:
            return  # already intended (a bar re-processed after a restart): never twice
        self.crash.hit("before_intent")
        self.record(intent)
        self.intents[intent.client_key] = intent
        self.crash.hit("after_intent")
        result = self.broker.submit(intent.to_request())
        self.crash.hit("after_submit")
        self.record(OrderSubmitted(trace_id=intent.trace_id, ts_event=intent.ts_event,
                                   client_key=intent.client_key,
                                   broker_order_id=result.broker_order_id,
                                   outcome=result.outcome, reason=result.reason))
        self.crash.hit("after_ack")

    def settle_in_doubt(self, ts: datetime, fresh_after: dict[str, datetime] | None = None,
                        *, decided_before: datetime | None = None) -> list[str]:
        """Ask the broker about every in-doubt order; problems that must halt trading.

        An intent the broker has no order for was journaled but never sent. It is sent now,
        once, only if its decision bar is still the symbol's latest bar (``fresh_after``:
        the market has not moved on); otherwise it is closed as stale - never sent late.
        While running, pass ``decided_before`` (the current bar) and no ``fresh_after``: only
        orders of earlier bars are asked about - a broker's book may not show an order sent
        a moment ago - and none is ever sent again.
        """
        problems = []
        for order in in_doubt_orders(self.state):
            intent = self.intents.get(order.client_key)
            if decided_before is not None and intent is not None and \
                    intent.ts_event >= decided_before:
                continue
            try:
                report = self.broker.status(client_key=order.client_key)
            except BrokerUnavailableError as exc:
                problems.append(f"order {order.client_key}: status unknown ({exc})")
                continue
            if report is None:
                self._never_sent(order.client_key, ts, fresh_after or {})
                continue
            outcome = Outcome.REJECTED if report.state is OrderState.REJECTED \
                else Outcome.CONFIRMED
            self.record(OrderSubmitted(
                trace_id=order.trace_id, ts_event=ts, client_key=order.client_key,
                broker_order_id=report.broker_order_id, outcome=outcome,
                reason=f"settled by status query: {report.state}"))
        return problems

    def _never_sent(self, key: str, ts: datetime, fresh_after: dict[str, datetime]) -> None:
        intent = self.intents.get(key)
        latest = fresh_after.get(intent.symbol) if intent is not None else None
        if intent is not None and latest is not None and intent.ts_event >= latest:
            result = self.broker.submit(intent.to_request())
            self.record(OrderSubmitted(trace_id=intent.trace_id, ts_event=intent.ts_event,
                                       client_key=key, broker_order_id=result.broker_order_id,
                                       outcome=result.outcome,
                                       reason="sent after restart: the broker had no order"))
            return
        order = self.state.orders[key]
        self.record(OrderSubmitted(
            trace_id=order.trace_id, ts_event=ts, client_key=key, broker_order_id=None,
            outcome=Outcome.REJECTED,
            reason="stale: journaled but never reached the broker; not sent late"))

    def poll(self, ts: datetime) -> list[OrderFilled]:
        """Journal new fills (once per trade id) and broker-side order terminations."""
        new = []
        for fill in self.broker.fills():
            if fill.trade_id in self.state.trade_ids or fill.client_key is None:
                continue
            order = self.state.orders.get(fill.client_key)
            strategy = order.strategy if order is not None else None
            before = self._net(strategy, fill.symbol) if strategy else 0
            realised = self.state.stats_for(strategy).realised_pnl_inr if strategy else 0.0
            event = OrderFilled(
                trace_id=order.trace_id if order else fill.client_key, ts_event=fill.ts,
                client_key=fill.client_key, broker_order_id=fill.broker_order_id,
                trade_id=fill.trade_id, symbol=fill.symbol, side=fill.side, qty=fill.qty,
                price=fill.price)
            self.state.apply(event)  # fold first to derive the exit; journal both at once
            batch: list[object] = [event]
            if strategy and before != 0 and self._net(strategy, fill.symbol) == 0:
                pnl = self.state.stats_for(strategy).realised_pnl_inr - realised
                exited = TradeExited(trace_id=event.trace_id, ts_event=fill.ts,
                                     strategy=strategy, symbol=fill.symbol, reason="closed",
                                     pnl_inr=pnl)
                batch.append(exited)
            self.journal.append_many(batch)  # type: ignore[arg-type]
            for extra in batch[1:]:
                self.state.apply(extra)  # type: ignore[arg-type]
            if self.on_fill is not None:
                self.on_fill(event)
            self.crash.hit("after_fill")
            new.append(event)
        self._terminations(ts)
        return new

    def _terminations(self, ts: datetime) -> None:
        open_keys = {o.client_key: o for o in self.state.working.values()
                     if o.status is OrderStatus.OPEN}
        if not open_keys:
            return
        for report in self.broker.orders():
            order = open_keys.get(report.client_key or "")
            if order is None:
                continue
            if report.state is OrderState.REJECTED:
                self.record(OrderRejected(trace_id=order.trace_id, ts_event=ts,
                                          client_key=order.client_key, reason=report.reason))
            elif report.state is OrderState.CANCELLED:
                self.record(OrderCancelled(trace_id=order.trace_id, ts_event=ts,
                                           client_key=order.client_key,
                                           broker_order_id=report.broker_order_id,
                                           reason=report.reason or "cancelled at the broker"))

    def _net(self, strategy: str, symbol: str) -> int:
        found = self.state.positions.get((strategy, symbol))
        return found.net_qty if found is not None else 0
