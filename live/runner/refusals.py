"""What the runner does when the broker refuses, or the clock runs out on, an order: a
broker rejection (its risk checks - RMS - or the exchange's) is journaled with the broker's
reason (``OrderSubmitted`` rejected, or ``OrderRejected`` from the order book) and alerted -
an entry as an error (``entry_rejected``), an exit as critical (``exit_rejected``) and
retried at the next close under that bar's trace: a fresh client key, and only because the
rejection is confirmed (an unanswered submit is in doubt, settled by a status query, never
resent). At the cutoff (or under a flatten switch) the unfilled remainder of a working
entry is cancelled, so only its filled part is flattened.
"""

from __future__ import annotations

from live.broker import Outcome
from live.events import Message, OrderIntended, OrderRejected, OrderSubmitted, Severity
from live.runner.core import RunnerCore
from live.runner.decisions import Decision
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.state import OrderRecord, OrderStatus

LEG_RETRY = 0  # a retried exit is the bar's exit leg (pipeline.LEG_EXIT): one exit per bar


class BrokerRefusals(RunnerCore):
    """Alerts on broker rejections, retries rejected exits, cancels entry remainders."""

    retry_exits: set[tuple[str, str]]  # (strategy, symbol) whose last exit was rejected
    _refusals_heard: set[tuple[str, str]]  # (kind, client key): a redelivery is heard once

    def _is_entry(self, order: OrderRecord) -> bool:
        return order.trace_id in self.entry_traces and not order.protective

    def on_refusal(self, event: OrderSubmitted | OrderRejected) -> None:
        """A submit answered REJECTED, or an order the broker rejected later: alert (once
        per event) and mark a rejected exit for retry."""
        if isinstance(event, OrderSubmitted) and event.outcome is not Outcome.REJECTED:
            return
        heard = (event.KIND, event.client_key)
        order = self.state.orders.get(event.client_key)
        if order is None or heard in self._refusals_heard:
            return  # unknown, or the same refusal delivered again (an at-least-once bus)
        self._refusals_heard.add(heard)
        what = f"{order.strategy}/{order.symbol} {order.side} {order.qty} ({order.client_key})"
        if self._is_entry(order):
            self.alert(event.ts_event, Severity.ERROR, "entry_rejected",
                       f"{what}: entry rejected: {event.reason}")
            return
        retry = "" if order.protective else "; retried at every close until it goes through, " \
            "each time with a fresh key"
        self.alert(event.ts_event, Severity.CRITICAL, "exit_rejected",
                   f"{what}: exit rejected: {event.reason}{retry}")
        self.note_refusal(event)

    def note_refusal(self, message: Message) -> None:
        """Keep which positions have a rejected exit to retry (also folded on restart: a
        later exit intent of the position clears it)."""
        if isinstance(message, OrderIntended):
            if not message.protective and message.trace_id not in self.entry_traces:
                self.retry_exits.discard((message.strategy, message.symbol))
            return
        if not isinstance(message, OrderSubmitted | OrderRejected) or (
                isinstance(message, OrderSubmitted) and message.outcome is not
                Outcome.REJECTED):
            return
        order = self.state.orders.get(message.client_key)
        if order is not None and not order.protective and not self._is_entry(order):
            self.retry_exits.add((order.strategy, order.symbol))

    def retry_exit(self, d: Deployed, bar: FeedBar, history: SymbolHistory) -> None:
        """Send again, at this close, the exit of a position whose last exit the broker
        rejected (nothing when flat or an exit is already working)."""
        pair = (d.strategy, bar.symbol)
        if pair not in self.retry_exits:
            return
        net = self.net(d.strategy, bar.symbol)
        retry = Decision("exit", -1 if net > 0 else 1, "retry")
        if not net or self._act(d, bar, LEG_RETRY, retry, abs(net),
                                history.session_day(bar.ts)):
            self.retry_exits.discard(pair)

    def working_entries(self, d: Deployed, symbol: str) -> list[OrderRecord]:
        """``d``'s entries in ``symbol`` working at the broker (OPEN: cancellable)."""
        return [o for o in self.state.working.values()
                if o.status is OrderStatus.OPEN and o.strategy == d.strategy
                and o.symbol == symbol and self._is_entry(o)]

    def cancel_entry_remainders(self, d: Deployed, bar: FeedBar, why: str) -> None:
        """Cancel the unfilled remainder of ``d``'s working entries in ``bar.symbol`` (a
        partly filled entry at the cutoff: only its filled part is then flattened)."""
        for order in self.working_entries(d, bar.symbol):
            self.cancel_order(order, bar, f"{why}: entry remainder "
                                          f"{order.qty - order.filled_qty} cancelled")
