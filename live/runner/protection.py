"""Protective exits: the stop-loss, trailing stop and target of each open position, resting at
the broker as orders and kept as the version's rules want them at every bar.

Right after the entry fill the runner places, under the entry's trace id, a stop-market order
(``SL-M``) at the stop level and a ``LIMIT`` order at the target - one *generation* - naming
the entry's trade (``after_trade``) and sharing one one-cancels-other group. The levels come
from the simulator's compiled functions (:func:`~live.runner.decisions.protective_levels`).

At every bar (:meth:`Protection.keep`), for every position:

* flat: nothing protective stays working;
* the current generation complete and sized to the position: only the trailing stop's
  trigger moves (a ``ModifyOrder`` command, journaled as ``OrderModified``, never loosened);
* a member still to place (a crash or a throttled order in between): it is placed, in the
  same generation, so a restart ends where an uninterrupted run does;
* a member gone (cancelled before an exit that did not happen, filled in part, sized to a
  partial entry) or the position's size changed: the generation is withdrawn and a new one
  placed with fresh keys and group;
* a member the broker rejected, or a position without a known entry fill: the position is
  unprotected - an alert and a kill-switch flatten of the strategy (fail closed).

A bar whose protective order filled ignores the strategy's signals, as the simulator does.

:class:`Protection` decides and never acts: :meth:`Protection.keep` yields what it wants
done - :class:`Withdraw`, :class:`PlaceProtective`, :class:`MoveTrigger`,
:class:`FlattenUnprotected` - and the runner's order pipeline carries each out (governance,
risk, execution, all through the bus) and sends back the outcome before the next is asked
for, so the decisions see every consequence of the previous one (a stop filled at once).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from live.broker import OrderType, Side
from live.events import OrderFilled, client_key
from live.runner.decisions import protective_levels
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.state import CrossRecord, LiveState, OrderRecord, OrderStatus

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


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Cancel the working protective orders of a position; answered True when none is
    left working (False: one would not cancel or is in doubt)."""

    strategy: str
    symbol: str
    why: str


@dataclass(frozen=True, slots=True)
class PlaceProtective:
    """One protective order (``side``: +1 buy, -1 sell) through governance, risk and
    execution; answered True when it was sent."""

    entry: EntryFill
    key: str
    order_type: OrderType
    price: float
    side: int
    qty: int
    group: str | None


@dataclass(frozen=True, slots=True)
class MoveTrigger:
    """Tighten a working stop's trigger to ``level`` at the broker."""

    order: OrderRecord
    level: float


@dataclass(frozen=True, slots=True)
class FlattenUnprotected:
    """A position its rules want protected and that is not: alert and flatten (fail
    closed)."""

    reason: str


Want = Withdraw | PlaceProtective | MoveTrigger | FlattenUnprotected
Wants = Generator[Want, bool | None, None]  # yields wants; is sent each one's outcome
WorkingQty = Callable[..., int]  # (strategy, symbol, side, *, exits_only) -> unfilled qty


def _key(trace_id: str, generation: int, leg: int) -> str:
    return client_key(trace_id, leg + LEGS_PER_GENERATION * generation)


def in_bar(ts: datetime, bar_ts: datetime, length: timedelta) -> bool:
    """Whether ``ts`` (a broker's fill time) falls inside the bar starting at ``bar_ts``."""
    return bar_ts <= ts < bar_ts + length


class Protection:
    """The protective orders of one runner's positions: facts from fills, and at every bar
    what should be done about them (read-only over the state; the pipeline acts)."""

    def __init__(self, state: LiveState, entry_traces: set[str],
                 history: Callable[[str], SymbolHistory], working_qty: WorkingQty,
                 recovered_last: dict[str, datetime]) -> None:
        self.state, self.entry_traces, self.history = state, entry_traces, history
        self.working_qty, self.recovered_last = working_qty, recovered_last
        self.entry_fill: dict[tuple[str, str], EntryFill] = {}
        self.fill_ts: dict[tuple[str, str], datetime] = {}  # last protective fill

    # -- facts from fills (live and when the journal is folded on restart) -----------------

    def note_fill(self, fill: OrderFilled) -> None:
        order = self.state.orders.get(fill.client_key)
        if order is None:
            return
        key = (order.strategy, order.symbol)
        if order.protective:
            self.fill_ts[key] = fill.ts_event
        elif order.trace_id in self.entry_traces:
            found = self.entry_fill.get(key)
            if found is None or found.trace_id != order.trace_id:
                self.entry_fill[key] = EntryFill(order.trace_id, fill.trade_id, fill.ts_event)

    def note_cross(self, cross: CrossRecord, ts: datetime) -> None:
        """An internal cross booked (``self_trade: net``): for each side that is an entry,
        it is the entry fill its protective orders name (``after_trade``: its trade id)."""
        started = cross.started
        if not cross.crossed_qty or cross.trade_id is None:
            return
        resting = self.state.orders.get(started.resting_key)
        sides = [(started.strategy, started.trace_id)]
        if resting is not None:
            sides.append((resting.strategy, resting.trace_id))
        for strategy, trace in sides:
            key = (strategy, started.symbol)
            found = self.entry_fill.get(key)
            if trace in self.entry_traces and (found is None or found.trace_id != trace):
                self.entry_fill[key] = EntryFill(trace, cross.trade_id, ts)

    def stopped_out(self, d: Deployed, bar: FeedBar) -> bool:
        """Whether a protective order of ``d`` filled during ``bar``."""
        ts = self.fill_ts.get((d.strategy, bar.symbol))
        return ts is not None and in_bar(ts, bar.ts, d.rules.bar)

    def _net(self, strategy: str, symbol: str) -> int:
        pos = self.state.positions.get((strategy, symbol))
        return pos.net_qty if pos is not None else 0

    # -- every bar ----------------------------------------------------------------------------

    def keep(self, d: Deployed, bar: FeedBar) -> Wants:
        """What brings the protective orders of ``d``'s position in ``bar.symbol`` in line,
        one want at a time (each answered with its outcome)."""
        symbol = bar.symbol
        net = self._net(d.strategy, symbol)
        if net == 0:
            self.entry_fill.pop((d.strategy, symbol), None)
            yield Withdraw(d.strategy, symbol, "position flat")
            return
        entry = self.entry_fill.get((d.strategy, symbol))
        if entry is None:
            yield FlattenUnprotected(f"{d.strategy}/{symbol}: position {net:+d} has no "
                                     "journaled entry fill to protect")
            return
        side = Side.SELL if net > 0 else Side.BUY  # of the closing orders
        qty = abs(net) - self.working_qty(d.strategy, symbol, side, exits_only=True)
        if qty <= 0:  # an exit for the whole position is on its way
            yield Withdraw(d.strategy, symbol, "an exit is working")
            return
        generation = self._generation(entry.trace_id)
        if generation is None:
            yield FlattenUnprotected(f"{d.strategy}/{symbol}: {MAX_GENERATIONS} generations "
                                     "of protective orders replaced; giving up")
            return
        members = self._members(d, entry.trace_id, generation)
        if any(o.status is OrderStatus.REJECTED for o in members.values()):
            yield FlattenUnprotected(f"{d.strategy}/{symbol}: the broker rejected protective "
                                     f"order(s) of generation {generation}")
            return
        missing = (d.rules.has_stop and STOP_LEG not in members) or (
            d.rules.has_target and TARGET_LEG not in members)
        partly_filled = any(o.filled_qty for o in members.values())
        if generation < 0 or not self._usable(members, side, qty) or (
                missing and partly_filled):
            if generation >= 0:
                if self.recovered_last.get(symbol) == bar.ts:
                    return  # the bar re-processed after a restart: as before the crash,
                    # its close decides first (an exit withdrew them); replaced next bar
                if not (yield Withdraw(d.strategy, symbol, "replaced")):
                    return  # in doubt: settled by the next poll, then tried again
            generation += 1
        yield from self._place_missing(d, bar, entry, generation, qty)
        if d.rules.trailing and self._net(d.strategy, symbol):
            stop = self.state.orders.get(_key(entry.trace_id, generation, STOP_LEG))
            if stop is not None:
                yield from self._trail(d, bar, entry, stop)

    def _generation(self, trace_id: str) -> int | None:
        """The newest generation of protective orders of ``trace_id`` (-1: none yet; None:
        the last one allowed is spent)."""
        orders = self.state.orders
        for g in range(MAX_GENERATIONS):
            if _key(trace_id, g, STOP_LEG) not in orders and \
                    _key(trace_id, g, TARGET_LEG) not in orders:
                return g - 1
        return None

    def _members(self, d: Deployed, trace_id: str, generation: int) -> dict[int, OrderRecord]:
        orders = self.state.orders
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
                       qty: int) -> Wants:
        """The members of ``generation`` not placed yet, each for ``qty`` units."""
        pos = self.state.positions[(d.strategy, bar.symbol)]
        side = 1 if pos.net_qty > 0 else -1
        stop, target = protective_levels(side, pos.avg_price, pos.avg_price,
                                         d.rules_for(bar.symbol))
        both = stop is not None and target is not None
        group = _key(entry.trace_id, generation, GROUP_LEG) if both else None
        orders = self.state.orders
        keys = [_key(entry.trace_id, generation, leg) for leg in (STOP_LEG, TARGET_LEG)]
        for key, order_type, price in ((keys[0], OrderType.SL_M, stop),
                                       (keys[1], OrderType.LIMIT, target)):
            if price is None or key in orders:
                continue
            if any(orders[k].filled_qty for k in keys if k in orders):
                return  # a member just filled (the entry bar): the group is done
            yield PlaceProtective(entry, key, order_type, price, -side, qty, group)

    def _trail(self, d: Deployed, bar: FeedBar, entry: EntryFill, order: OrderRecord
               ) -> Wants:
        """Move the stop's trigger to the trailing level after this bar (never loosen it):
        the peak is the best high (long) / low (short) since the entry bar, this bar
        included - for the next bar, as the simulator updates it after its stop check."""
        if order.status is not OrderStatus.OPEN or order.broker_order_id is None or \
                order.trigger_price is None:
            return
        side = 1 if order.side is Side.SELL else -1  # the position's side
        entry_px = self.state.positions[(d.strategy, bar.symbol)].avg_price
        history = self.history(bar.symbol).bars()
        since = history.ts > pd.Timestamp(entry.ts - d.rules.bar)  # the entry bar onwards
        if not since.any():
            return
        peak = float(history.high[since].max()) if side > 0 else float(history.low[since].min())
        peak = max(peak, entry_px) if side > 0 else min(peak, entry_px)
        level, _ = protective_levels(side, entry_px, peak, d.rules_for(bar.symbol))
        if level is None or (level - order.trigger_price) * side <= 0:
            return
        yield MoveTrigger(order, level)
