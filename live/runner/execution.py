"""Journal-first order execution: an intent is durably journaled before it is sent, every
outcome is journaled, an unknown outcome is settled by asking the broker - never by sending
again - and every fill is journaled exactly once (by trade id).

Execution talks through the bus: what it journals is published (the journal subscribes),
then folded into the state; it handles the ``SubmitOrder`` and ``CancelOrder`` commands,
idempotently - a command delivered again (an at-least-once transport) finds its order no
longer intended by this process, or no longer open, and does nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from live.broker import Broker, BrokerUnavailableError, OrderState, Outcome, Side
from live.bus import MessageBus
from live.events import (
    CancelOrder,
    Event,
    ModifyOrder,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderModified,
    OrderRejected,
    OrderRetried,
    OrderSubmitted,
    SubmitOrder,
    TradeExited,
    submit_order_for,
)
from live.orders.retry import NEVER_RETRY, Retrier, Retry
from live.runner.intent_book import IntentBook
from live.state import LiveState, OrderRecord, OrderStatus, in_doubt_orders, preview_fill
from strategies.errors import StratopsError

CrashHook = Callable[[str], None]  # a test's crash injection: called at each named point


class IntentNotJournaledError(StratopsError, RuntimeError):
    """A ``SubmitOrder`` arrived before its intent was journaled (a transport delivering
    out of order): refused unacked, so the transport delivers it again later."""


def journal_symbol(order: OrderRecord | None, reported: str) -> str:
    """The symbol a fill is journaled under: the order's own (the feed's, e.g. ``NIFTY``)
    when the broker reports the fill under the order's contract (Kite: ``NIFTY25MARFUT``),
    so positions stay keyed like the orders; otherwise what the broker reported."""
    if order is not None and order.tradingsymbol is not None and \
            reported == order.tradingsymbol:
        return order.symbol
    return reported


def no_crash(point: str) -> None:
    """The production crash hook: nothing happens at any point."""


class Executor:
    """Sends intents through one broker and folds everything it journals into ``state``."""

    def __init__(self, bus: MessageBus, broker: Broker, state: LiveState,
                 clock: Callable[[], datetime], crash_hook: CrashHook = no_crash,
                 retrier: Retrier = NEVER_RETRY) -> None:
        self.bus, self.broker, self.state = bus, broker, state
        self.clock, self.crash = clock, crash_hook
        self.retrier = retrier  # transient / throttled commands: live.orders.retry
        self.intents = IntentBook()  # by client key, rebuilt on recovery
        self._mine: set[str] = set()  # keys intended by this process and not yet submitted
        # the bus hands a topic's handler only that topic's command (register is untyped in it)
        bus.register(SubmitOrder.KIND, self._on_submit)  # type: ignore[arg-type]  # see above
        bus.register(CancelOrder.KIND, self._on_cancel)  # type: ignore[arg-type]  # see above
        bus.register(ModifyOrder.KIND, self._on_modify)  # type: ignore[arg-type]  # see above
        self.modify_refusals: dict[str, str] = {}  # client key -> the broker's last refusal

    def record(self, event: Event) -> None:
        """Publish: the journal appends it durably, then the state folds it (the bus's
        first two subscribers), then its topic's listeners hear of it."""
        self.bus.publish(event)

    def send(self, intent: OrderIntended) -> None:
        """Journal the intent, then command its submission."""
        if intent.client_key in self.state.orders or intent.client_key in self._mine:
            return  # already intended (a bar re-processed after a restart): never twice
        self.crash("before_intent")
        self.record(intent)
        self.intents[intent.client_key] = intent
        self._mine.add(intent.client_key)
        self.crash("after_intent")
        self.bus.send(submit_order_for(intent, ts_event=intent.ts_event))

    def _on_submit(self, command: SubmitOrder) -> None:
        """Submit an order this process intended, once: a key intended before a restart is
        the startup reconciliation's (status query), never resubmitted here."""
        if command.client_key not in self._mine:
            return
        if command.client_key not in self.state.orders:  # its intent is not journaled yet
            raise IntentNotJournaledError(f"{command.client_key}: submit before its intent "
                                          "is journaled; not acked, delivered again later")
        self._mine.discard(command.client_key)
        request = command.to_request()
        self.bus.durable()  # nothing deferred is acted on by the broker before it is durable
        result = self.retrier.run(command.client_key, lambda: self.broker.submit(request),
                                  self._retried(command, "submit"))
        self.crash("after_submit")
        self.record(OrderSubmitted(trace_id=command.trace_id, ts_event=command.ts_event,
                                   client_key=command.client_key,
                                   broker_order_id=result.broker_order_id,
                                   outcome=result.outcome, reason=result.reason))
        self.crash("after_ack")

    def _on_cancel(self, command: CancelOrder) -> None:
        """Cancel an open order; journal the cancel the broker confirmed (an order no longer
        open - cancelled by an earlier delivery - is left alone)."""
        order = self.state.orders.get(command.client_key)
        if order is None or order.status is not OrderStatus.OPEN:
            return
        self.bus.durable()
        result = self.retrier.run(command.client_key,
                                  lambda: self.broker.cancel(command.broker_order_id),
                                  self._retried(command, "cancel"))
        if result.outcome is Outcome.CONFIRMED:
            self.record(OrderCancelled(
                trace_id=command.trace_id, ts_event=command.ts_event,
                client_key=command.client_key, broker_order_id=command.broker_order_id,
                reason=command.reason))

    def _on_modify(self, command: ModifyOrder) -> None:
        """Move an open order's trigger, or lower its total quantity; journal the change the
        broker confirmed. Delivered again (an at-least-once bus), an order already at that
        trigger / quantity is left alone."""
        order = self.state.orders.get(command.client_key)
        if order is None or order.status is not OrderStatus.OPEN or (
                command.trigger_price in (None, order.trigger_price) and
                command.qty in (None, order.qty)):
            return
        self.bus.durable()
        result = self.retrier.run(
            command.client_key, lambda: self.broker.modify(
                command.broker_order_id, qty=command.qty,
                trigger_price=command.trigger_price),
            self._retried(command, "modify"))
        self.crash("after_modify")
        if result.outcome is Outcome.CONFIRMED:
            self.modify_refusals.pop(command.client_key, None)
            self.record(OrderModified(
                trace_id=command.trace_id, ts_event=command.ts_event,
                client_key=command.client_key, broker_order_id=command.broker_order_id,
                qty=command.qty, trigger_price=command.trigger_price))
        else:
            self.modify_refusals[command.client_key] = f"{result.outcome} ({result.reason})"

    def _retried(self, command: SubmitOrder | CancelOrder | ModifyOrder,
                 what: str) -> Callable[[Retry], None]:
        """Journal each retry of ``command`` before its backoff sleep."""
        def journal(retry: Retry) -> None:
            self.record(OrderRetried(
                trace_id=command.trace_id, ts_event=command.ts_event,
                ts_init=self.clock(), client_key=command.client_key, command=what,
                attempt=retry.attempt, error_class=retry.error_class.value,
                delay_ms=retry.delay_ms, reason=retry.reason))
        return journal

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
            self.bus.durable()
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
            event = OrderFilled(
                trace_id=order.trace_id if order else fill.client_key, ts_event=fill.ts,
                client_key=fill.client_key, broker_order_id=fill.broker_order_id,
                trade_id=fill.trade_id, symbol=journal_symbol(order, fill.symbol),
                side=fill.side, qty=fill.qty, price=fill.price)
            batch: list[Event] = [event]
            if strategy:  # a fill that closes the position: its exit in the same commit
                exited = self._exit_of(strategy, event)
                if exited is not None:
                    batch.append(exited)
            self.bus.publish(*batch)  # journaled in one commit, folded, then its listeners
            self.crash("after_fill")
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

    def _exit_of(self, strategy: str, fill: OrderFilled) -> TradeExited | None:
        """The ``TradeExited`` a fill of ``strategy`` stands for when it closes the
        position (its P&L as the fold will book it), else None."""
        found = self.state.positions.get((strategy, fill.symbol))
        if found is None or found.net_qty == 0:
            return None
        signed = fill.qty if fill.side is Side.BUY else -fill.qty
        net, realised = preview_fill(found, signed, fill.price)
        if net != 0:
            return None
        before = self.state.stats_for(strategy).realised_pnl_inr
        return TradeExited(trace_id=fill.trace_id, ts_event=fill.ts_event, strategy=strategy,
                           symbol=fill.symbol, reason="closed",
                           pnl_inr=(before + realised) - before)
