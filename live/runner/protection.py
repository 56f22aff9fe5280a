"""Protective exits: the stop-loss, trailing stop and target of each open position, resting at
the broker as orders and kept as the version's rules want them at every bar.

Right after the entry fill the runner places, under the entry's trace id, a stop-market order
(``SL-M``) at the stop level and a ``LIMIT`` order at the target - one *generation* - naming
the entry's trade (``after_trade``) and sharing one one-cancels-other group. The levels come
from the simulator's compiled functions (:func:`~live.runner.decisions.protective_levels`).

At every bar (:meth:`Protection.keep`), for every position:

* flat: nothing protective stays working;
* the current generation complete and sized to the position: only the trailing stop's
  trigger moves (``broker.modify``, journaled as ``OrderModified``, never loosened);
* a member still to place (a crash or a throttled order in between): it is placed, in the
  same generation, so a restart ends where an uninterrupted run does;
* a member gone (cancelled before an exit that did not happen, filled in part, sized to a
  partial entry) or the position's size changed: the generation is withdrawn and a new one
  placed with fresh keys and group;
* a member the broker rejected, or a position without a known entry fill: the position is
  unprotected - an alert and a kill-switch flatten of the strategy (fail closed).

A bar whose protective order filled ignores the strategy's signals, as the simulator does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from live.broker import OrderType, Outcome, Side
from live.events import (
    GovernanceDecided,
    OrderFilled,
    OrderIntended,
    OrderModified,
    RiskChecked,
    Severity,
    client_key,
)
from live.risk.engine import OrderProposal, RiskDecision, RiskEngine
from live.runner.crash import CrashPoints
from live.runner.decisions import protective_levels
from live.runner.deployments import Deployed
from live.runner.execution import Executor
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.state import LiveState, OrderRecord, OrderStatus

STOP_LEG, TARGET_LEG, GROUP_LEG, LEGS_PER_GENERATION = 2, 3, 4, 10
MAX_GENERATIONS = 1000  # replacements of one position's protection before it is flattened
WORKING = frozenset({OrderStatus.INTENDED, OrderStatus.UNKNOWN, OrderStatus.OPEN})
THROTTLED = "message_rate"  # a transient refusal: the order is tried again at the next bar


@dataclass(frozen=True, slots=True)
class EntryFill:
    """The fill that opened the current position of one strategy in one symbol: its
    protective orders carry its trace and react to its trade."""

    trace_id: str
    trade_id: str
    ts: datetime


def _key(trace_id: str, generation: int, leg: int) -> str:
    return client_key(trace_id, leg + LEGS_PER_GENERATION * generation)


def in_bar(ts: datetime, bar_ts: datetime, length: timedelta) -> bool:
    """Whether ``ts`` (a broker's fill time) falls inside the bar starting at ``bar_ts``."""
    return bar_ts <= ts < bar_ts + length


class ProtectedRunner(Protocol):
    """What protection uses of its runner (:class:`live.runner.engine.Runner`), so this
    module does not import the engine that imports it."""

    state: LiveState
    entry_traces: set[str]
    recovered_last: dict[str, datetime]
    executor: Executor
    risk: RiskEngine
    crash: CrashPoints
    broker: object
    exchange: str
    mode: Any
    summary: Any  # the run's counters (denials, intents)

    def net(self, strategy: str, symbol: str) -> int: ...

    def working_qty(self, strategy: str, symbol: str, side: Side, *,
                    exits_only: bool = False) -> int: ...

    def poll_fills(self, bar: FeedBar) -> None: ...

    def symbol_history(self, symbol: str) -> SymbolHistory: ...

    def cancel_order(self, order: OrderRecord, bar: FeedBar, reason: str) -> bool: ...

    def alert(self, ts: datetime, severity: Severity, code: str, message: str) -> None: ...

    def switch(self, bar: FeedBar, scope: str, mode: str, actor: str, reason: str, *,
               flatten_leg: int = ...) -> None: ...

    def risk_warning(self, bar: FeedBar, d: Deployed, verdict: RiskDecision,
                     what: str) -> None: ...


class Protection:
    """The protective orders of one runner (its state, executor, broker and risk engine)."""

    def __init__(self, runner: ProtectedRunner) -> None:
        self.runner = runner
        self.entry_fill: dict[tuple[str, str], EntryFill] = {}
        self.fill_ts: dict[tuple[str, str], datetime] = {}  # last protective fill

    # -- facts from fills (live and when the journal is folded on restart) -----------------

    def note_fill(self, fill: OrderFilled) -> None:
        order = self.runner.state.orders.get(fill.client_key)
        if order is None:
            return
        key = (order.strategy, order.symbol)
        if order.protective:
            self.fill_ts[key] = fill.ts_event
        elif order.trace_id in self.runner.entry_traces:
            found = self.entry_fill.get(key)
            if found is None or found.trace_id != order.trace_id:
                self.entry_fill[key] = EntryFill(order.trace_id, fill.trade_id, fill.ts_event)

    def stopped_out(self, d: Deployed, bar: FeedBar) -> bool:
        """Whether a protective order of ``d`` filled during ``bar``."""
        ts = self.fill_ts.get((d.strategy, bar.symbol))
        return ts is not None and in_bar(ts, bar.ts, d.rules.bar)

    # -- every bar ----------------------------------------------------------------------------

    def keep(self, d: Deployed, bar: FeedBar) -> None:
        """Bring the protective orders of ``d``'s position in ``bar.symbol`` in line."""
        runner, symbol = self.runner, bar.symbol
        net = runner.net(d.strategy, symbol)
        if net == 0:
            self.entry_fill.pop((d.strategy, symbol), None)
            self.withdraw(d.strategy, symbol, bar, "position flat")
            return
        entry = self.entry_fill.get((d.strategy, symbol))
        if entry is None:
            self.unprotected(d, bar, f"{d.strategy}/{symbol}: position {net:+d} has no "
                                     "journaled entry fill to protect")
            return
        side = Side.SELL if net > 0 else Side.BUY  # of the closing orders
        qty = abs(net) - runner.working_qty(d.strategy, symbol, side, exits_only=True)
        if qty <= 0:  # an exit for the whole position is on its way
            self.withdraw(d.strategy, symbol, bar, "an exit is working")
            return
        generation = self._generation(entry.trace_id)
        if generation is None:
            self.unprotected(d, bar, f"{d.strategy}/{symbol}: {MAX_GENERATIONS} generations "
                                     "of protective orders replaced; giving up")
            return
        members = self._members(d, entry.trace_id, generation)
        if any(o.status is OrderStatus.REJECTED for o in members.values()):
            self.unprotected(d, bar, f"{d.strategy}/{symbol}: the broker rejected protective "
                                     f"order(s) of generation {generation}")
            return
        missing = (d.rules.has_stop and STOP_LEG not in members) or (
            d.rules.has_target and TARGET_LEG not in members)
        partly_filled = any(o.filled_qty for o in members.values())
        if generation < 0 or not self._usable(members, side, qty) or (
                missing and partly_filled):
            if generation >= 0:
                if runner.recovered_last.get(symbol) == bar.ts:
                    return  # the bar re-processed after a restart: as before the crash,
                    # its close decides first (an exit withdrew them); replaced next bar
                if not self.withdraw(d.strategy, symbol, bar, "replaced"):
                    return  # in doubt: settled by the next poll, then tried again
            generation += 1
        self._place_missing(d, bar, entry, generation, qty)
        if d.rules.trailing and runner.net(d.strategy, symbol):
            stop = self.runner.state.orders.get(_key(entry.trace_id, generation, STOP_LEG))
            if stop is not None:
                self._trail(d, bar, entry, stop)

    def _generation(self, trace_id: str) -> int | None:
        """The newest generation of protective orders of ``trace_id`` (-1: none yet; None:
        the last one allowed is spent)."""
        orders = self.runner.state.orders
        for g in range(MAX_GENERATIONS):
            if _key(trace_id, g, STOP_LEG) not in orders and \
                    _key(trace_id, g, TARGET_LEG) not in orders:
                return g - 1
        return None

    def _members(self, d: Deployed, trace_id: str, generation: int) -> dict[int, OrderRecord]:
        orders = self.runner.state.orders
        found = {}
        for leg, wanted in ((STOP_LEG, d.rules.has_stop), (TARGET_LEG, d.rules.has_target)):
            order = orders.get(_key(trace_id, generation, leg)) if generation >= 0 else None
            if wanted and order is not None:
                found[leg] = order
        return found

    @staticmethod
    def _usable(members: dict[int, OrderRecord], side: Side, qty: int) -> bool:
        """Every placed member still working, on the closing side, for ``qty``."""
        return all(o.status in WORKING and o.side is side and o.qty - o.filled_qty == qty
                   for o in members.values())

    def _place_missing(self, d: Deployed, bar: FeedBar, entry: EntryFill, generation: int,
                       qty: int) -> None:
        """The members of ``generation`` not placed yet, each for ``qty`` units."""
        runner = self.runner
        pos = runner.state.positions[(d.strategy, bar.symbol)]
        side = 1 if pos.net_qty > 0 else -1
        stop, target = protective_levels(side, pos.avg_price, pos.avg_price, d.rules)
        both = stop is not None and target is not None
        group = _key(entry.trace_id, generation, GROUP_LEG) if both else None
        orders = runner.state.orders
        keys = [_key(entry.trace_id, generation, leg) for leg in (STOP_LEG, TARGET_LEG)]
        for key, order_type, price in ((keys[0], OrderType.SL_M, stop),
                                       (keys[1], OrderType.LIMIT, target)):
            if price is None or key in orders:
                continue
            if any(orders[k].filled_qty for k in keys if k in orders):
                return  # a member just filled (the entry bar): the group is done
            if self._place(d, bar, entry, key, order_type, price, -side, qty, group):
                runner.poll_fills(bar)

    def _place(self, d: Deployed, bar: FeedBar, entry: EntryFill, key: str,
               order_type: OrderType, price: float, side: int, qty: int,
               group: str | None) -> bool:
        """One protective order through governance and risk; True when it was sent. A
        halted strategy still protects what it holds: these orders only reduce."""
        runner = self.runner
        if key in runner.state.orders:
            return False
        ts, version = bar.ts, str(d.version)
        runner.executor.record(GovernanceDecided(
            trace_id=entry.trace_id, ts_event=ts, strategy=d.strategy, version=version,
            allowed=True, reason=f"{runner.mode} v{d.version}: protective {order_type}"))
        verdict = runner.risk.check(OrderProposal(
            strategy=d.strategy, symbol=bar.symbol, side=side, qty=qty,
            reference_price=bar.close, reduces_exposure=True, ts=ts, lot_size=d.lot_size,
            exchange=runner.exchange, reference_ts=ts, order_type=str(order_type),
            band_base_price=runner.symbol_history(bar.symbol).prev_session_close),
            runner.state)
        runner.executor.record(RiskChecked(
            trace_id=entry.trace_id, ts_event=ts, strategy=d.strategy, symbol=bar.symbol,
            passed=verdict.passed, check=verdict.check, reason=verdict.reason))
        runner.risk_warning(bar, d, verdict, f"protective {order_type}")
        if not verdict.passed:
            runner.summary.denials += 1
            why = f"{d.strategy}/{bar.symbol}: protective {order_type} refused by " \
                  f"{verdict.check}: {verdict.reason}"
            if verdict.check == THROTTLED:
                runner.alert(ts, Severity.WARNING, "protective_throttled",
                             why + "; placed again at the next bar")
            else:
                self.unprotected(d, bar, why)
            return False
        stop = order_type is OrderType.SL_M
        runner.executor.send(OrderIntended(
            trace_id=entry.trace_id, ts_event=ts, client_key=key, strategy=d.strategy,
            version=version, symbol=bar.symbol, exchange=runner.exchange,
            side=Side.BUY if side > 0 else Side.SELL, qty=qty, order_type=order_type,
            trigger_price=price if stop else None, limit_price=None if stop else price,
            mode=runner.mode, after_trade=entry.trade_id, oco_group=group))
        runner.summary.intents += 1
        return True

    def _trail(self, d: Deployed, bar: FeedBar, entry: EntryFill, order: OrderRecord) -> None:
        """Move the stop's trigger to the trailing level after this bar (never loosen it):
        the peak is the best high (long) / low (short) since the entry bar, this bar
        included - for the next bar, as the simulator updates it after its stop check."""
        runner = self.runner
        if order.status is not OrderStatus.OPEN or order.broker_order_id is None or \
                order.trigger_price is None:
            return
        side = 1 if order.side is Side.SELL else -1  # the position's side
        entry_px = runner.state.positions[(d.strategy, bar.symbol)].avg_price
        history = runner.symbol_history(bar.symbol).bars()
        since = history.ts > pd.Timestamp(entry.ts - d.rules.bar)  # the entry bar onwards
        if not since.any():
            return
        peak = float(history.high[since].max()) if side > 0 else float(history.low[since].min())
        peak = max(peak, entry_px) if side > 0 else min(peak, entry_px)
        level, _ = protective_levels(side, entry_px, peak, d.rules)
        if level is None or (level - order.trigger_price) * side <= 0:
            return
        result = runner.broker.modify(order.broker_order_id, trigger_price=level)  # type: ignore[attr-defined]
        runner.crash.hit("after_modify")
        if result.outcome is Outcome.CONFIRMED:
            runner.executor.record(OrderModified(
                trace_id=order.trace_id, ts_event=bar.ts, client_key=order.client_key,
                broker_order_id=order.broker_order_id, trigger_price=level))
            return
        runner.alert(bar.ts, Severity.WARNING, "trail_not_moved",
                     f"{order.client_key}: trigger {level:g} {result.outcome} "
                     f"({result.reason}); tried again at the next close")

    # -- withdrawing and failing closed ------------------------------------------------------

    def withdraw(self, strategy: str, symbol: str, bar: FeedBar, why: str) -> bool:
        """Cancel the working protective orders of ``strategy`` in ``symbol``; True when none
        is left working. An order the broker will not cancel (already filled) or whose
        state is in doubt keeps the caller from acting on a position that may have changed."""
        runner, clear = self.runner, True
        for order in [o for o in runner.state.working.values() if o.protective and
                      o.strategy == strategy and o.symbol == symbol and o.status in WORKING]:
            if order.status is OrderStatus.OPEN:
                clear = runner.cancel_order(order, bar, f"withdrawn: {why}") and clear
            else:
                runner.alert(bar.ts, Severity.CRITICAL, "protective_in_doubt",
                             f"{order.client_key}: protective order in doubt; nothing acts on "
                             f"{strategy}/{symbol} until the broker settles it")
                clear = False
        return clear

    def unprotected(self, d: Deployed, bar: FeedBar, reason: str) -> None:
        """A position its rules want protected and that is not: flatten it (fail closed)."""
        self.runner.alert(bar.ts, Severity.CRITICAL, "unprotected_position", reason)
        self.runner.switch(bar, d.strategy, "flatten", "risk_engine", f"unprotected: {reason}")
