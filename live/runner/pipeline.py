"""The order pipeline of the runner: an order from a decision (or a protective want) through
sizing, the governance gate (kill switch, policy window, lockouts), the pre-trade risk
engine (a ``CheckRisk`` command over the bus: :mod:`~live.runner.risk_gate`) and order
building to execution (sliced at the freeze quantity, with the version's product and market
protection: :mod:`~live.runner.slicing`) - every step journaled through the bus - plus
fills and cancels.
Risk-reducing orders are never held by a halt.
"""

from __future__ import annotations

from live.broker import OrderType, Side
from live.events import (
    CancelOrder,
    GovernanceDecided,
    KillMode,
    ModifyOrder,
    OrderFilled,
    OrderIntended,
    Severity,
    SignalRaised,
    SignalSide,
    client_key,
    new_trace_id,
)
from live.risk.interface import RiskDecision
from live.runner.decisions import Decision
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.local_time import to_local
from live.runner.parent_orders import ParentOrders
from live.runner.protection import (
    THROTTLED,
    WORKING,
    MoveTrigger,
    PlaceProtective,
    Wants,
    Withdraw,
)
from live.runner.risk_gate import contract_field
from live.state import (
    OrderRecord,
    OrderStatus,
    in_doubt_orders,
    unfinished_crosses,
)

LEG_EXIT, LEG_ENTER, LEG_FLATTEN = 0, 1, 7  # trace-id legs of the orders of one bar
LEG_KILL = 1_000  # + the command id: the leg of a flatten sent between bars for a command


class OrderPipeline(ParentOrders):
    """Sizing, governance, risk, order building, submission, fills and cancels."""

    entries: dict[tuple[str, str, object], int]  # entries per (strategy, symbol, day)
    _fills_heard: set[str]  # trade ids the fill listener handled

    def _act(self, d: Deployed, bar: FeedBar, leg: int, decision: Decision, held: int,
             day: object | None) -> bool:
        """Decide, check and send one order (sliced at the freeze quantity: each slice
        risk-checked and intended on its own); True when all of it is intended (now or
        before - a restart between slices sends only the missing ones)."""
        trace = new_trace_id(d.strategy, bar.symbol, bar.ts, leg)
        key = client_key(trace)
        if self.broker_held(bar.ts):
            return False  # dead session / unread books: nothing intended or sent, exits too
        if key in self.state.orders or key in self.state.crosses or \
                trace in self.state.parents:  # before a restart
            return self.resume_slices(d, bar, trace)  # (a parent's children: each bar)
        # a new decision supersedes a parent still working (exits: the urgent path)
        self.stop_parents(d.strategy, bar, f"{decision.reason} {decision.action} decided")
        if decision.action == "exit":
            qty = held - self.working_qty(d.strategy, bar.symbol,
                                          Side.BUY if decision.side > 0 else Side.SELL)
            if qty <= 0:
                return True  # an exit for the whole position is already working
        else:
            qty = self._entry_qty(d, bar, decision.side)
        side = SignalSide.FLAT if decision.action == "exit" else (
            SignalSide.LONG if decision.side > 0 else SignalSide.SHORT)
        ts, version = bar.ts, str(d.version)
        if decision.action == "enter":
            self.entry_traces.add(trace)
        signal = SignalRaised(trace_id=trace, ts_event=ts, strategy=d.strategy,
                              version=version, symbol=bar.symbol, side=side,
                              reason=decision.reason)
        allowed, why = self._governance(d, bar, decision)  # reads no effect of the signal
        regime = self.regime_at(d, bar)
        features, values, drift = self.provenance(d, bar, regime)
        probability = None if regime is None or regime.problem is not None \
            else regime.probability
        confidence = None if decision.action != "enter" else \
            self.confidence_at(d, bar, decision.side)
        # the signal and its governance decision in one commit (one fsync, not two), in
        # that order; nothing leaves the process before it (the broker is called after the
        # intent's own commit)
        self.bus.publish(signal, GovernanceDecided(
            trace_id=trace, ts_event=ts, strategy=d.strategy, version=version,
            allowed=allowed, reason=why, regime=None if regime is None else regime.regime,
            regime_probability=probability, features=features, feature_values=values,
            drift=drift,
            confidence=None if confidence is None or confidence.problem is not None
            else confidence.probability,
            ensemble=None if d.ensemble is None else d.ensemble.label))
        if not allowed:
            self.summary.denials += 1
            return False
        contract = self.order_contract(trace, d, bar, reduces=decision.action == "exit")
        if isinstance(contract, RiskDecision):  # no contract to trade: denied, journaled
            self.summary.denials += 1
            if decision.action == "exit":
                self.alert(ts, Severity.ERROR, "exit_denied",
                           f"{d.strategy}/{bar.symbol}: {decision.reason} exit denied by "
                           f"{contract.check}: {contract.reason}")
            return False
        if decision.action == "enter" and not d.execution.is_market:  # worked by its algo
            return self.start_parent(d, bar, trace, side=decision.side, qty=qty, day=day)
        plan = self.plan_slices(d, bar, qty)
        if plan is None:
            self.summary.denials += 1
            return False
        done = self.send_slices(d, bar, trace, side=decision.side, plan=plan,
                                reduces=decision.action == "exit", reason=decision.reason,
                                contract=contract)
        if decision.action == "enter" and day is not None and (
                key in self.state.orders or key in self.state.crosses):
            self.entries[(d.strategy, bar.symbol, day)] += 1
        return done

    def _governance(self, d: Deployed, bar: FeedBar, decision: Decision) -> tuple[bool, str]:
        """Kill switch and policy: exits always flow - a halt stops new risk, never a
        risk-reducing order; entries need no switch on and the policy's trading window."""
        kill = self.kill_mode(d)
        if decision.action == "exit" and kill is KillMode.HALT:
            return True, f"{self.mode} v{d.version}: exits flow under kill switch halt"
        if decision.action == "enter":
            if kill is not KillMode.OFF:
                return False, f"kill switch: {kill}"
            held = self.feed_holds.get(bar.symbol)
            if held is not None:
                return False, f"feed: {held}"
            signal_hold = self.signal_hold(d, bar)  # the signal service's: missing, mismatch
            if signal_hold is not None:
                return False, signal_hold
            nxt = to_local(bar.ts + d.rules.bar, d.rules.tz).time()
            if self.policy is not None and not self.policy.entry_allowed(
                    d.venue, nxt):
                return False, f"policy: {nxt} outside the trading window"
            if self.guardrails is not None and self.guardrails.in_lockout(nxt):
                return False, f"risk: {nxt} inside a lockout window"
            regime_hold = self.regime_hold(d, bar)
            if regime_hold is not None:
                return False, regime_hold
            ensemble_hold = self.ensemble_hold(d, bar)
            if ensemble_hold is not None:
                return False, ensemble_hold
            lots, no_size = self.confidence_lots(d, bar, decision.side)
            if no_size is not None:
                return False, no_size
            if d.confidence is not None:
                return True, f"{self.mode} v{d.version}: {lots} of " \
                             f"{d.rules.qty // d.lot_size} lot(s) by confidence"
        return True, f"{self.mode} v{d.version}" + (
            "" if d.ensemble is None else f" under {d.ensemble.label}")

    def _entry_qty(self, d: Deployed, bar: FeedBar, side: int) -> int:
        """The version's quantity in ``bar.symbol`` (its lots in that symbol's lot size)
        scaled by the entry's confidence (a calibrated version: :meth:`confidence_lots`; 0
        lots is held by governance before it is used), then down in a soft drawdown (whole
        lots, at least one)."""
        scale = self.guardrails.entry_scale(d.strategy) if self.guardrails else 1.0
        qty, lot = d.rules_for(bar.symbol).qty, d.lot_for(bar.symbol)
        if d.confidence is None:
            if scale >= 1.0:
                return qty
            return max(1, int(qty // lot * scale)) * lot
        lots, _ = self.confidence_lots(d, bar, side)
        if scale >= 1.0 or lots <= 0:
            return lots * lot
        return max(1, int(lots * scale)) * lot

    def poll_fills(self, bar: FeedBar) -> None:
        """Journal the broker's new fills (the executor tells the protection of each) and
        ask the broker about orders left in doubt by an earlier bar."""
        self.read_books(bar.ts)
        if self.broker_held(bar.ts):
            return  # nothing can be asked now: settled at the next good read
        if unfinished_crosses(self.state):  # an unanswered broker: its book settles them
            self.settle_crosses(bar.ts)
        if in_doubt_orders(self.state):  # a lost answer: ask a bar later, never resend
            last = self.symbol_history(bar.symbol).last_ts  # between bars: the last bar's
            before = bar.ts if last is None else min(bar.ts, last)
            for problem in self.executor.settle_in_doubt(bar.ts, decided_before=before):
                self.alert(bar.ts, Severity.CRITICAL, "order_in_doubt", problem)

    def cancel_order(self, order: OrderRecord, bar: FeedBar, reason: str) -> bool:
        """Cancel one OPEN order (a ``CancelOrder`` command; execution journals the confirmed
        cancel); True when it is done."""
        if order.broker_order_id is None:
            return False
        self.bus.send(CancelOrder(trace_id=order.trace_id, ts_event=bar.ts,
                                  client_key=order.client_key,
                                  broker_order_id=order.broker_order_id, reason=reason))
        if self.state.orders[order.client_key].status is OrderStatus.CANCELLED:
            return True
        self.poll_fills(bar)  # refused (filled meanwhile?) or unanswered: learn what happened
        return self.state.orders[order.client_key].status in (OrderStatus.CANCELLED,
                                                              OrderStatus.REJECTED)

    def _on_fill(self, fill: OrderFilled) -> None:
        """A fill just journaled: the protection learns of it; a price far from the order's
        reference raises ``insane_fill``."""
        if fill.trade_id in self._fills_heard:
            return  # the same fill delivered again (an at-least-once bus)
        self._fills_heard.add(fill.trade_id)
        self.protection.note_fill(fill)
        order = self.state.orders.get(fill.client_key)
        if self.guardrails is not None and order is not None:
            self.guardrails.note_fill(order.strategy, fill)  # its charges: P&L net of costs
        self.note_fill_slippage(fill)  # the health monitor's slippage CUSUM
        reference = self._fill_reference(fill)
        if reference is None:
            return
        off_pct = abs(fill.price - reference) / reference * 100.0
        if off_pct > self.insane_fill_pct:
            self.alert(fill.ts_event, Severity.CRITICAL, "insane_fill",
                       f"{fill.symbol} fill {fill.trade_id} ({fill.client_key}) at "
                       f"{fill.price:g} is {off_pct:.3g}% from its order's reference "
                       f"{reference:g}; insane_fill_pct={self.insane_fill_pct:g}")

    def _fill_reference(self, fill: OrderFilled) -> float | None:
        """The price the filled order was meant near: its limit or trigger, else the close
        of the bar it was decided at (else the symbol's last close)."""
        intent = self.executor.intents.get(fill.client_key)
        if intent is not None:
            for price in (intent.limit_price, intent.trigger_price,
                          self.symbol_history(intent.symbol).close_at(intent.ts_event)):
                if price is not None and price > 0:
                    return price
        last = self.state.last_bars.get(fill.symbol)
        return last.close if last is not None else None

    # -- protective orders: carrying out what the protection wants --------------------------

    def _protect(self, bar: FeedBar) -> None:
        if self.broker_held(bar.ts):
            return  # dead session / unread books: protected once the books are read
        for d in self.deployed:
            if bar.symbol in d.symbols and (d.rules.has_stop or d.rules.has_target):
                self._carry_out(d, bar, self.protection.keep(d, bar))

    def _carry_out(self, d: Deployed, bar: FeedBar, wants: Wants) -> None:
        """Do each want of the protection in turn, answering it with the outcome."""
        outcome: bool | None = None
        while not self.broker_held(bar.ts):
            try:
                want = wants.send(outcome)
            except StopIteration:
                return
            if isinstance(want, Withdraw):
                outcome = self.withdraw_protection(want.strategy, want.symbol, bar, want.why)
            elif isinstance(want, PlaceProtective):
                outcome = self._place_protective(d, bar, want)
                if outcome:
                    self.poll_fills(bar)
            elif isinstance(want, MoveTrigger):
                outcome = self._move_trigger(d, bar, want)
            else:
                self._unprotected(d, bar, want.reason)
                outcome = None

    def _place_protective(self, d: Deployed, bar: FeedBar, want: PlaceProtective) -> bool:
        """One protective order through governance and risk; True when it was sent. A
        halted strategy still protects what it holds: these orders only reduce."""
        if want.key in self.state.orders:
            return False
        entry, order_type, ts, version = want.entry, want.order_type, bar.ts, str(d.version)
        self.executor.record(GovernanceDecided(
            trace_id=entry.trace_id, ts_event=ts, strategy=d.strategy, version=version,
            allowed=True, reason=f"{self.mode} v{d.version}: protective {order_type}",
            ensemble=None if d.ensemble is None else d.ensemble.label))
        contract = self.order_contract(entry.trace_id, d, bar, reduces=True)
        verdict = contract if isinstance(contract, RiskDecision) else self.ask_risk(
            entry.trace_id, want.key, d, bar, side=want.side, qty=want.qty,
            reduces_exposure=True, order_type=str(order_type), contract=contract)
        self.risk_warning(bar, d, verdict, f"protective {order_type}")
        if not verdict.passed:
            self.summary.denials += 1
            why = f"{d.strategy}/{bar.symbol}: protective {order_type} refused by " \
                  f"{verdict.check}: {verdict.reason}"
            if verdict.check == THROTTLED:
                self.alert(ts, Severity.WARNING, "protective_throttled",
                           why + "; placed again at the next bar")
            else:
                self._unprotected(d, bar, why)
            return False
        stop = order_type is OrderType.SL_M
        price = self.fit_exit_price(d, bar, want.price, f"protective {order_type}").price
        assert price is not None  # an exit's price is clamped, never refused
        self.executor.send(OrderIntended(
            trace_id=entry.trace_id, ts_event=ts, client_key=want.key, strategy=d.strategy,
            version=version, symbol=bar.symbol, exchange=self.exchange,
            side=Side.BUY if want.side > 0 else Side.SELL, qty=want.qty,
            order_type=order_type, trigger_price=price if stop else None,
            limit_price=None if stop else price, mode=self.mode,
            after_trade=entry.trade_id, oco_group=want.group, product=d.product,
            market_protection_pct=self.order_rules.market_protection_pct if stop else None,
            tradingsymbol=contract_field(contract, "tradingsymbol"),
            expiry=contract_field(contract, "expiry"), algo_id=d.algo_id))
        self.summary.intents += 1
        return True

    def _move_trigger(self, d: Deployed, bar: FeedBar, want: MoveTrigger) -> bool:
        """Tighten a trailing stop at the broker (inside the band); journaled when
        confirmed, else alerted (tried again at the next close)."""
        order = want.order
        level = self.fit_exit_price(d, bar, want.level, "trailing stop trigger").price
        assert level is not None  # an exit's price is clamped, never refused
        broker_order_id = order.broker_order_id
        if broker_order_id is None:  # not acknowledged: nothing to move (protection never asks)
            return False
        self.bus.send(ModifyOrder(trace_id=order.trace_id, ts_event=bar.ts,
                                  client_key=order.client_key,
                                  broker_order_id=broker_order_id, trigger_price=level))
        if self.state.orders[order.client_key].trigger_price == level:
            return True
        refused = self.executor.modify_refusals.pop(order.client_key, "unanswered")
        self.alert(bar.ts, Severity.WARNING, "trail_not_moved",
                   f"{order.client_key}: trigger {level:g} {refused}; tried again at the "
                   "next close")
        return False

    def withdraw_protection(self, strategy: str, symbol: str, bar: FeedBar, why: str) -> bool:
        """Cancel the working protective orders of ``strategy`` in ``symbol``; True when none
        is left working. An order the broker will not cancel (already filled) or whose
        state is in doubt keeps the caller from acting on a position that may have changed."""
        clear = True
        for order in [o for o in self.state.working.values() if o.protective and
                      o.strategy == strategy and o.symbol == symbol and o.status in WORKING]:
            if order.status is OrderStatus.OPEN:
                clear = self.cancel_order(order, bar, f"withdrawn: {why}") and clear
            else:
                self.alert(bar.ts, Severity.CRITICAL, "protective_in_doubt",
                           f"{order.client_key}: protective order in doubt; nothing acts on "
                           f"{strategy}/{symbol} until the broker settles it")
                clear = False
        return clear

    def _unprotected(self, d: Deployed, bar: FeedBar, reason: str) -> None:
        """A position its rules want protected and that is not: flatten it (fail closed)."""
        self.alert(bar.ts, Severity.CRITICAL, "unprotected_position", reason)
        self.switch(bar, d.strategy, "flatten", "risk_engine",
                    f"unprotected: {reason}")
