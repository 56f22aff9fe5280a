"""Live state as a fold over the journal: ``state = replay(journal)``, nothing else.

:class:`LiveState` holds positions, orders (every client key ever intended, so a key is never
sent twice), seen trade ids, per-strategy stats, modes, kill switches and the last bar per
symbol (and the one before it: the last price known before the bar being traded, which the
pre-trade price collar compares with). :func:`apply` is deterministic (no clock, no
randomness, no I/O): two replays of one journal give byte-identical :func:`state_hash`
values. What the fold cannot reconcile (a fill for an unknown key, a second intent for one
key, a position claim that disagrees with the fills) goes to ``discrepancies`` for the
runner to fail closed on; it never raises.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from live.broker import OrderType, Outcome, Side
from live.canonical import digest
from live.events import (
    KILL_SCOPE_ALL,
    KILL_SEVERITY,
    BarClosed,
    GovernanceDecided,
    InternalCrossed,
    InternalCrossStarted,
    KillMode,
    KillSwitchChanged,
    Message,
    ModeChanged,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderModified,
    OrderRejected,
    OrderSubmitted,
    ParentOrderFinished,
    ParentOrderStarted,
    PositionChanged,
    ReconciliationCompleted,
    RiskChecked,
    SignalRaised,
    TradeExited,
    TradingMode,
    to_record,
)
from live.journal import Journal
from live.order_flow import FlowCount, FlowKey, count_order_flow

UNATTRIBUTED = "(unattributed)"  # strategy of a fill whose client key was never intended
PRICE_TOLERANCE = 1e-9  # relative; position claims are compared to the fold within it


class OrderStatus(StrEnum):
    INTENDED = "INTENDED"  # journaled, no submit outcome yet: in doubt
    UNKNOWN = "UNKNOWN"  # submitted, the broker's answer was lost: in doubt
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


_IN_DOUBT = frozenset({OrderStatus.INTENDED, OrderStatus.UNKNOWN})
_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


@dataclass(slots=True)
class Position:
    """Signed net quantity (long > 0), average entry price, realised P&L in INR, and the
    futures contract it is held in (``tradingsymbol``, ``expiry``: from the fills' intents;
    None when the orders carried no contract)."""

    net_qty: int = 0
    avg_price: float = 0.0
    realised_pnl_inr: float = 0.0
    tradingsymbol: str | None = None
    expiry: date | None = None


@dataclass(slots=True)
class OrderRecord:
    """One order as the journal knows it, by client key."""

    client_key: str
    trace_id: str
    strategy: str
    symbol: str
    side: Side
    qty: int
    status: OrderStatus = OrderStatus.INTENDED
    filled_qty: int = 0
    broker_order_id: str | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    trigger_price: float | None = None  # the latest confirmed (a trailing stop moves it)
    after_trade: str | None = None  # set on a protective exit: the entry trade it protects
    oco_group: str | None = None
    tradingsymbol: str | None = None  # the contract the order trades (None: no master)
    expiry: date | None = None

    @property
    def protective(self) -> bool:
        return self.after_trade is not None


@dataclass(slots=True)
class CrossRecord:
    """One internal cross (``self_trade: net``): its journaled start, and once finished the
    quantity booked to both strategies (0: aborted; None: not finished - the broker's book
    decides, :mod:`live.orders.crossing`)."""

    started: InternalCrossStarted
    crossed_qty: int | None = None
    trade_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.crossed_qty is not None


@dataclass(slots=True)
class StrategyStats:
    signals: int = 0
    denials: int = 0  # governance or risk said no
    orders: int = 0
    fills: int = 0
    trades: int = 0
    realised_pnl_inr: float = 0.0


@dataclass(slots=True)
class LiveState:
    """Everything the runner knows; build it only with :func:`apply` / :func:`replay`."""

    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    # the orders not yet FILLED, CANCELLED or REJECTED, by client key: an index over
    # ``orders`` kept by the fold, so per-bar questions do not scan every order ever sent
    working: dict[str, OrderRecord] = field(default_factory=dict)
    trade_ids: set[str] = field(default_factory=set)
    stats: dict[str, StrategyStats] = field(default_factory=dict)
    modes: dict[str, TradingMode] = field(default_factory=dict)
    kill_switches: dict[str, KillMode] = field(default_factory=dict)
    last_bars: dict[str, BarClosed] = field(default_factory=dict)
    prior_bars: dict[str, BarClosed] = field(default_factory=dict)  # the bar before the last
    last_reconciliation: ReconciliationCompleted | None = None
    discrepancies: list[str] = field(default_factory=list)
    events_applied: int = 0
    # parent orders of the execution algos (live.algos), by trace: every one started, and
    # the outcome of each finished (an active parent is started and not finished)
    parents: dict[str, ParentOrderStarted] = field(default_factory=dict)
    parent_outcomes: dict[str, ParentOrderFinished] = field(default_factory=dict)
    # order messages and trades per strategy, symbol and exchange day: the order-to-trade
    # ratio (live.order_flow); derived from the order events above, so it is
    # left out of state_dict (the state hash)
    order_flow: dict[FlowKey, FlowCount] = field(default_factory=dict)
    # internal crosses between two of our strategies (self_trade: net), by cross id (the
    # crossing slice's client key)
    crosses: dict[str, CrossRecord] = field(default_factory=dict)

    def apply(self, message: Message) -> None:
        """Fold one message in (commands and alerts change nothing)."""
        handler = _HANDLERS.get(type(message))
        if handler is not None:
            if type(message) in _FLOW_KINDS:  # before the handler: repeats count once
                count_order_flow(self.order_flow, self.orders, self.trade_ids, message)
            handler(self, message)
        self.events_applied += 1

    def stats_for(self, strategy: str) -> StrategyStats:
        found = self.stats.get(strategy)
        if found is None:
            found = self.stats[strategy] = StrategyStats()
        return found

    def position(self, strategy: str, symbol: str) -> Position:
        found = self.positions.get((strategy, symbol))
        if found is None:
            found = self.positions[(strategy, symbol)] = Position()
        return found


def apply(state: LiveState, message: Message) -> LiveState:
    """``state`` with ``message`` folded in (in place; returned for ``functools.reduce``)."""
    state.apply(message)
    return state


def fold(messages: Iterable[Message], state: LiveState | None = None) -> LiveState:
    """Fold ``messages`` into ``state`` (a new empty state by default)."""
    result = LiveState() if state is None else state
    for message in messages:
        result.apply(message)
    return result


def replay(journal: Journal, from_seq: int = 1, *, verified: bool = False) -> LiveState:
    """The state the journal stands for (run :meth:`Journal.verify` first to fail closed;
    then pass ``verified=True`` for the fast decoder)."""
    collecting = gc.isenabled()
    gc.disable()  # a fold creates millions of small objects and no cycles: skip the scans
    try:
        return fold(message for _, message in journal.read(from_seq, verified=verified))
    finally:
        if collecting:
            gc.enable()


def in_doubt_orders(state: LiveState) -> list[OrderRecord]:
    """Orders intended but without a known broker outcome, in intent order: settle each
    with the broker (status by client key) before sending anything new."""
    return [o for o in state.working.values() if o.status in _IN_DOUBT]


def unfinished_crosses(state: LiveState) -> list[CrossRecord]:
    """Internal crosses started and not finished (a crash or an unanswered broker between
    the marker and the outcome): nothing crosses or sends for them until each is settled
    from the broker's book."""
    return [c for c in state.crosses.values() if not c.finished]


def crossed_into(state: LiveState, resting_keys: set[str]) -> int:
    """Units crossed internally against the resting orders ``resting_keys`` (their fills
    that are not the broker's: a parent order counts them as filled)."""
    return sum(c.crossed_qty or 0 for c in state.crosses.values()
               if c.started.resting_key in resting_keys)


def open_orders(state: LiveState) -> list[OrderRecord]:
    """Orders the broker has confirmed and that are not finished."""
    return [o for o in state.working.values() if o.status is OrderStatus.OPEN]


def kill_mode_for(state: LiveState, strategy: str) -> KillMode:
    """The stricter of the global and the strategy's kill switch (off when never set)."""
    modes = (state.kill_switches.get(KILL_SCOPE_ALL, KillMode.OFF),
             state.kill_switches.get(strategy, KillMode.OFF))
    return max(modes, key=KILL_SEVERITY.__getitem__)


# --- handlers: one per event kind ---------------------------------------------------------

def _on_signal(state: LiveState, event: SignalRaised) -> None:
    state.stats_for(event.strategy).signals += 1


def _on_governance(state: LiveState, event: GovernanceDecided) -> None:
    if not event.allowed:
        state.stats_for(event.strategy).denials += 1


def _on_risk(state: LiveState, event: RiskChecked) -> None:
    if not event.passed:
        state.stats_for(event.strategy).denials += 1


def _on_intended(state: LiveState, event: OrderIntended) -> None:
    if event.client_key in state.orders:
        state.discrepancies.append(f"duplicate intent for client_key {event.client_key} "
                                   f"(trace {event.trace_id}); the first one stands")
        return
    state.orders[event.client_key] = OrderRecord(
        client_key=event.client_key, trace_id=event.trace_id, strategy=event.strategy,
        symbol=event.symbol, side=event.side, qty=event.qty, order_type=event.order_type,
        limit_price=event.limit_price, trigger_price=event.trigger_price,
        after_trade=event.after_trade, oco_group=event.oco_group,
        tradingsymbol=event.tradingsymbol, expiry=event.expiry)
    state.working[event.client_key] = state.orders[event.client_key]
    state.stats_for(event.strategy).orders += 1


def _set_status(state: LiveState, order: OrderRecord, status: OrderStatus) -> None:
    order.status = status
    if status in _TERMINAL:
        state.working.pop(order.client_key, None)


def _order(state: LiveState, kind: str, client_key: str) -> OrderRecord | None:
    order = state.orders.get(client_key)
    if order is None:
        state.discrepancies.append(f"{kind} for unknown client_key {client_key}")
    return order


def _on_submitted(state: LiveState, event: OrderSubmitted) -> None:
    order = _order(state, event.KIND, event.client_key)
    if order is None or order.status not in _IN_DOUBT:
        return  # a later report (ack, fill) already settled it
    if event.broker_order_id is not None:
        order.broker_order_id = event.broker_order_id
    _set_status(state, order, {Outcome.CONFIRMED: OrderStatus.OPEN,
                               Outcome.REJECTED: OrderStatus.REJECTED,
                               Outcome.UNKNOWN: OrderStatus.UNKNOWN}[event.outcome])


def _on_acknowledged(state: LiveState, event: OrderAcknowledged) -> None:
    order = _order(state, event.KIND, event.client_key)
    if order is None:
        return
    order.broker_order_id = event.broker_order_id
    if order.status in _IN_DOUBT:
        _set_status(state, order, OrderStatus.OPEN)


def _on_rejected(state: LiveState, event: OrderRejected) -> None:
    order = _order(state, event.KIND, event.client_key)
    if order is not None and order.status not in _TERMINAL:
        _set_status(state, order, OrderStatus.REJECTED)


def _on_cancelled(state: LiveState, event: OrderCancelled) -> None:
    order = _order(state, event.KIND, event.client_key)
    if order is not None and order.status not in _TERMINAL:
        _set_status(state, order, OrderStatus.CANCELLED)
        order.broker_order_id = event.broker_order_id


def _on_modified(state: LiveState, event: OrderModified) -> None:
    order = _order(state, event.KIND, event.client_key)
    if order is None or order.status in _TERMINAL:
        return
    if event.qty is not None:
        order.qty = event.qty
    if event.limit_price is not None:
        order.limit_price = event.limit_price
    if event.trigger_price is not None:
        order.trigger_price = event.trigger_price


def _on_filled(state: LiveState, event: OrderFilled) -> None:
    if event.trade_id in state.trade_ids:
        return  # the same execution reported twice is one execution
    state.trade_ids.add(event.trade_id)
    order = _order(state, event.KIND, event.client_key)
    strategy = UNATTRIBUTED
    if order is not None:
        strategy = order.strategy
        order.filled_qty += event.qty
        order.broker_order_id = event.broker_order_id
        if order.filled_qty >= order.qty:
            _set_status(state, order, OrderStatus.FILLED)
        elif order.status in _IN_DOUBT:
            _set_status(state, order, OrderStatus.OPEN)
    signed_qty = event.qty if event.side is Side.BUY else -event.qty
    pos = state.position(strategy, event.symbol)
    if order is not None:
        _hold_contract(state, pos, order, event)
    realised = _fill_position(pos, signed_qty, event.price)
    stats = state.stats_for(strategy)
    stats.fills += 1
    stats.realised_pnl_inr += realised


def _on_cross_started(state: LiveState, event: InternalCrossStarted) -> None:
    if event.cross_id in state.crosses:
        state.discrepancies.append(f"second InternalCrossStarted for cross {event.cross_id}; "
                                   "the first one stands")
        return
    state.crosses[event.cross_id] = CrossRecord(event)


def _on_crossed(state: LiveState, event: InternalCrossed) -> None:
    cross = state.crosses.get(event.cross_id)
    if cross is None:
        state.discrepancies.append(f"InternalCrossed for unknown cross {event.cross_id}")
        return
    if cross.finished:
        return  # the outcome journaled twice is one outcome
    started = cross.started
    if not 0 <= event.crossed_qty <= started.qty:
        state.discrepancies.append(
            f"InternalCrossed {event.cross_id}: crossed_qty {event.crossed_qty} outside "
            f"0..{started.qty}; not booked")
        return
    cross.crossed_qty, cross.trade_id = event.crossed_qty, event.trade_id
    if event.crossed_qty == 0:
        return
    resting = state.orders.get(started.resting_key)
    signed = event.crossed_qty if started.side is Side.BUY else -event.crossed_qty
    for strategy, qty in ((started.strategy, signed), (started.resting_strategy, -signed)):
        pos = state.position(strategy, started.symbol)
        if resting is not None and resting.tradingsymbol is not None:
            pos.tradingsymbol, pos.expiry = resting.tradingsymbol, resting.expiry
        realised = _fill_position(pos, qty, started.price)
        stats = state.stats_for(strategy)
        stats.fills += 1
        stats.realised_pnl_inr += realised


def _hold_contract(state: LiveState, pos: Position, order: OrderRecord,
                   event: OrderFilled) -> None:
    """The position takes the contract of the order that fills into it; a fill in another
    contract while the position is open is a discrepancy (a position spans one contract)."""
    if order.tradingsymbol is None:
        return
    if pos.net_qty != 0 and pos.tradingsymbol not in (None, order.tradingsymbol):
        state.discrepancies.append(
            f"fill {event.trade_id} of {order.strategy}/{event.symbol} is in "
            f"{order.tradingsymbol} but the open position is in {pos.tradingsymbol}")
        return
    pos.tradingsymbol, pos.expiry = order.tradingsymbol, order.expiry


def _fill_position(pos: Position, signed_qty: int, price: float) -> float:
    """Apply one fill to ``pos``; returns the P&L it realised (price points x qty)."""
    if pos.net_qty == 0 or (pos.net_qty > 0) == (signed_qty > 0):
        total = abs(pos.net_qty) + abs(signed_qty)
        pos.avg_price = (abs(pos.net_qty) * pos.avg_price + abs(signed_qty) * price) / total
        pos.net_qty += signed_qty
        return 0.0
    closing = min(abs(signed_qty), abs(pos.net_qty))
    direction = 1 if pos.net_qty > 0 else -1
    realised = closing * (price - pos.avg_price) * direction
    pos.realised_pnl_inr += realised
    pos.net_qty += signed_qty
    if pos.net_qty == 0:
        pos.avg_price = 0.0
    elif abs(signed_qty) > closing:  # flipped: the rest opens at this fill's price
        pos.avg_price = price
    return realised


def preview_fill(pos: Position, signed_qty: int, price: float) -> tuple[int, float]:
    """(net quantity, realised P&L) that one fill would leave ``pos`` with, untouched."""
    scratch = Position(pos.net_qty, pos.avg_price, pos.realised_pnl_inr, pos.tradingsymbol,
                       pos.expiry)
    realised = _fill_position(scratch, signed_qty, price)
    return scratch.net_qty, realised


def _on_position(state: LiveState, event: PositionChanged) -> None:
    pos = state.positions.get((event.strategy, event.symbol), Position())
    agrees = (pos.net_qty == event.net_qty
              and _close(pos.avg_price, event.avg_price)
              and _close(pos.realised_pnl_inr, event.realised_pnl_inr))
    if not agrees:
        state.discrepancies.append(
            f"PositionChanged {event.strategy}/{event.symbol} claims net {event.net_qty} @ "
            f"{event.avg_price!r} pnl {event.realised_pnl_inr!r}; fills give net "
            f"{pos.net_qty} @ {pos.avg_price!r} pnl {pos.realised_pnl_inr!r}")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= PRICE_TOLERANCE * max(1.0, abs(a), abs(b))


def _on_trade_exited(state: LiveState, event: TradeExited) -> None:
    state.stats_for(event.strategy).trades += 1


def _on_mode(state: LiveState, event: ModeChanged) -> None:
    state.modes[event.strategy] = event.mode


def _on_kill(state: LiveState, event: KillSwitchChanged) -> None:
    state.kill_switches[event.scope] = event.mode


def _on_bar(state: LiveState, event: BarClosed) -> None:
    last = state.last_bars.get(event.symbol)
    if last is not None and last.ts_event < event.ts_event:
        state.prior_bars[event.symbol] = last
    state.last_bars[event.symbol] = event


def _on_reconciliation(state: LiveState, event: ReconciliationCompleted) -> None:
    state.last_reconciliation = event


def _on_parent_started(state: LiveState, event: ParentOrderStarted) -> None:
    state.parents[event.trace_id] = event


def _on_parent_finished(state: LiveState, event: ParentOrderFinished) -> None:
    state.parent_outcomes[event.trace_id] = event


def active_parents(state: LiveState) -> list[ParentOrderStarted]:
    """The parent orders started and not finished, oldest first."""
    return [p for t, p in state.parents.items() if t not in state.parent_outcomes]


_HANDLERS: dict[type, Callable[[LiveState, Any], None]] = {
    SignalRaised: _on_signal, GovernanceDecided: _on_governance, RiskChecked: _on_risk,
    OrderIntended: _on_intended, OrderSubmitted: _on_submitted,
    OrderAcknowledged: _on_acknowledged, OrderRejected: _on_rejected,
    OrderCancelled: _on_cancelled, OrderModified: _on_modified, OrderFilled: _on_filled,
    PositionChanged: _on_position,
    TradeExited: _on_trade_exited, ModeChanged: _on_mode, KillSwitchChanged: _on_kill,
    BarClosed: _on_bar, ReconciliationCompleted: _on_reconciliation,
    ParentOrderStarted: _on_parent_started, ParentOrderFinished: _on_parent_finished,
    InternalCrossStarted: _on_cross_started, InternalCrossed: _on_crossed,
}

_FLOW_KINDS = frozenset({OrderIntended, OrderModified, OrderCancelled, OrderFilled})


# --- canonical form -----------------------------------------------------------------------

_CONTRACT_FIELDS = ("tradingsymbol", "expiry")


def _plain(record: Position | OrderRecord) -> dict[str, Any]:
    """``asdict(record)`` with the contract fields left out while unset (so the hash of a
    history without contracts is what it was before positions carried them)."""
    out = asdict(record)
    for name in _CONTRACT_FIELDS:
        value = out.pop(name)
        if value is not None:
            out[name] = value.isoformat() if isinstance(value, date) else value
    return out


def state_dict(state: LiveState) -> dict[str, Any]:
    """A JSON-ready, order-independent form of ``state`` (keys sorted when encoded)."""
    positions: dict[str, dict[str, Any]] = {}
    for (strategy, symbol), pos in state.positions.items():
        positions.setdefault(strategy, {})[symbol] = _plain(pos)
    last_reco = state.last_reconciliation
    return {
        "positions": positions,
        "orders": {key: _plain(order) for key, order in state.orders.items()},
        "trade_ids": sorted(state.trade_ids),
        "stats": {name: asdict(stats) for name, stats in state.stats.items()},
        "modes": {name: str(mode) for name, mode in state.modes.items()},
        "kill_switches": {scope: str(mode) for scope, mode in state.kill_switches.items()},
        "last_bars": {sym: to_record(bar)["fields"] for sym, bar in state.last_bars.items()},
        "prior_bars": {sym: to_record(bar)["fields"] for sym, bar in state.prior_bars.items()},
        "last_reconciliation": None if last_reco is None else to_record(last_reco)["fields"],
        "discrepancies": list(state.discrepancies),
        "events_applied": state.events_applied,
        # only when there are any: a history without parents hashes as it always did
        **({"parents": {t: to_record(p)["fields"] for t, p in state.parents.items()},
            "parent_outcomes": {t: to_record(p)["fields"]
                                for t, p in state.parent_outcomes.items()}}
           if state.parents else {}),
        **({"crosses": _crosses(state)} if state.crosses else {}),
    }


def _crosses(state: LiveState) -> dict[str, Any]:
    return {cid: {"started": to_record(c.started)["fields"], "crossed_qty": c.crossed_qty,
                  "trade_id": c.trade_id} for cid, c in state.crosses.items()}


def state_hash(state: LiveState) -> str:
    """SHA-256 of the canonical JSON of :func:`state_dict`: equal states, equal hashes."""
    return digest(state_dict(state))


def trading_state_dict(state: LiveState) -> dict[str, Any]:
    """What was traded: positions, orders (status, quantities, broker ids), executions,
    per-strategy fills/trades/P&L and the kill switches - without bookkeeping that a crash
    and restart change (alerts, reconciliations, mode records, re-journaled signals, event
    counts)."""
    positions = {f"{s}|{sym}": _plain(p) for (s, sym), p in state.positions.items()
                 if p.net_qty != 0 or p.realised_pnl_inr != 0}
    orders = {k: {"strategy": o.strategy, "symbol": o.symbol, "side": str(o.side),
                  "qty": o.qty, "status": str(o.status), "filled_qty": o.filled_qty,
                  "broker_order_id": o.broker_order_id, "trigger_price": o.trigger_price}
              for k, o in state.orders.items()}
    stats = {n: {"orders": s.orders, "fills": s.fills, "trades": s.trades,
                 "realised_pnl_inr": s.realised_pnl_inr} for n, s in state.stats.items()
             if s.orders or s.fills}
    crosses = {cid: {"resting_key": c.started.resting_key, "qty": c.started.qty,
                     "price": c.started.price, "crossed_qty": c.crossed_qty}
               for cid, c in state.crosses.items()}
    return {"positions": positions, "orders": orders, "trade_ids": sorted(state.trade_ids),
            "stats": stats, "kill_switches": {scope: str(mode) for scope, mode
                                              in state.kill_switches.items()},
            **({"crosses": crosses} if crosses else {})}


def trading_state_hash(state: LiveState) -> str:
    """SHA-256 of :func:`trading_state_dict`: a crashed-and-recovered run and an
    uninterrupted one over the same feed must agree on it."""
    return digest(trading_state_dict(state))
