"""The paper exchange: a simulated broker whose book lives in its own SQL store.

Orders, fills, positions and the exchange's event sequence are persisted, one transaction per
call, so they survive the crash of the process talking to the exchange: a runner killed after
sending finds its order on restart by ``status(client_key=...)``. Market data drives matching
(:meth:`PaperExchange.on_bar`); fills follow :mod:`live.adapters.paper.fill_model`. Same seed,
same bars and same calls give the same orders, ids and fills.

Protective exits (``OrderRequest.after_trade``): an order placed right after a market fill at
the symbol's last bar's open (``next_open``) is matched at once against that whole bar (when
``latency_bars`` is 0), then works from the next bar after ``latency_bars``; in every other
case it is an ordinary new order (see :mod:`live.adapters.paper.fill_model`). One-cancels-other
(``OrderRequest.oco_group``, per symbol): the first fill of a member cancels every other OPEN
member in the same transaction (reason ``"oco: <filled order id> filled"``, a ``cancelled``
event); within one bar orders match oldest first, so of two members touched by one bar only
the older fills; a request into a group that already has a fill is rejected
(``"oco group <g> already filled"``). Market protection
(``OrderRequest.market_protection_pct``) caps a MARKET or SL-M order's fill like Kite's
protected market order (see :mod:`live.adapters.paper.fill_model`); a protected market order
with no last price to cap it against is rejected.

Fill modes (``FillModel.mode``): ``parity`` (the simulator's rules) or ``realism`` (a seeded
intrabar path and an impact model, :mod:`live.adapters.paper.realism`; it needs each bar's
``volume``, and keeps its decaying permanent impact in memory).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from live.adapters.paper import store
from live.adapters.paper.faults import (
    BrokerUnavailableError,
    Faults,
    read_faults,
    set_faults,
    write_faults,
)
from live.adapters.paper.fill_model import (
    Bar,
    FillModel,
    Match,
    match,
    preload_fill_kernels,
    rejects_at_random,
)
from live.adapters.paper.positions import fold_fills
from live.adapters.paper.realism import (
    PermanentImpact,
    arrival_fraction,
    intrabar_path,
    realism_match,
)
from live.adapters.paper.sqlite_tx import RawWriter, prebuilt
from live.adapters.paper.store import OrderRow
from live.broker import (
    BrokerInputError,
    FillReport,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    Outcome,
    PositionReport,
    Side,
    SubmitResult,
)
from live.orders.prices import protection_price

_HAS_LIMIT = (OrderType.LIMIT, OrderType.SL)
_PROTECTED = (OrderType.MARKET, OrderType.SL_M)  # market protection applies to these
_HAS_TRIGGER = (OrderType.SL, OrderType.SL_M)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeEvent:
    """One entry of the exchange's own event sequence (``detail`` is JSON)."""

    seq: int
    kind: str  # accepted | rejected | modified | cancelled | triggered | filled
    broker_order_id: str
    ts: datetime
    detail: str


def _detail(**values: object) -> str:
    return json.dumps(values, sort_keys=True)


def _check_modify_input(qty: int | None, limit_price: float | None,
                        trigger_price: float | None) -> None:
    if qty is None and limit_price is None and trigger_price is None:
        raise BrokerInputError("modify needs at least one of qty, limit_price, trigger_price")
    if qty is not None and qty <= 0:
        raise BrokerInputError(f"qty {qty!r} must be positive")
    for name, price in (("limit_price", limit_price), ("trigger_price", trigger_price)):
        if price is not None and price <= 0:
            raise BrokerInputError(f"{name} {price!r} must be positive")


def _modify_refusal(order: OrderRow | None, qty: int | None, limit_price: float | None,
                    trigger_price: float | None, max_qty: int | None) -> str:
    """Why the exchange refuses a modification ("" when it accepts it)."""
    if order is None:
        return "unknown order"
    if order.state is not OrderState.OPEN:
        return f"not open: order {order.broker_order_id} is {order.state}"
    if qty is not None and qty <= order.filled_qty:
        return f"qty {qty} not above the filled {order.filled_qty}"
    if qty is not None and max_qty is not None and qty > max_qty:
        return f"qty {qty} above max_qty {max_qty}"
    if limit_price is not None and order.order_type not in _HAS_LIMIT:
        return f"a {order.order_type} order has no limit price"
    if trigger_price is not None and order.order_type not in _HAS_TRIGGER:
        return f"a {order.order_type} order has no trigger price"
    return ""


def _oco_refusal(conn: store.Conn, request: OrderRequest) -> str:
    """Why a request is refused by its OCO group ("" when it is not): a member has a fill."""
    group = request.oco_group
    if group is None:
        return ""
    if any(o.filled_qty > 0 for o in store.oco_members(conn, request.symbol, group)):
        return f"oco group {group} already filled"
    return ""


def _fault_refusal(conn: store.Conn) -> str:
    """The injected refusal of this submit ("" when none): ``Faults.reject_next``."""
    faults = read_faults(conn)
    if faults.reject_next <= 0:
        return ""
    write_faults(conn, replace(faults, reject_next=faults.reject_next - 1))
    return faults.reject_reason


def _target_last(order: OrderRow) -> bool:
    """Sort key (stable): a bracket's limit member after the rest, so its stop wins a bar
    that touches both (the simulator's rule)."""
    return order.oco_group is not None and order.order_type is OrderType.LIMIT


def _cancel_oco_siblings(conn: store.Conn, filled: OrderRow, ts: str) -> None:
    """Cancel the other OPEN orders of ``filled``'s OCO group (same symbol) at ``ts``."""
    if filled.oco_group is None:
        return
    reason = f"oco: {filled.broker_order_id} filled"
    for sibling in store.oco_members(conn, filled.symbol, filled.oco_group):
        if (sibling.broker_order_id == filled.broker_order_id
                or sibling.state is not OrderState.OPEN):
            continue
        store.update_order(conn, sibling.broker_order_id, state=OrderState.CANCELLED.value,
                           reason=reason, updated_ts=ts)
        store.append_event(conn, "cancelled", sibling.broker_order_id, ts,
                           _detail(filled_qty=sibling.filled_qty, reason=reason))


def _still_open(conn: store.Conn, order: OrderRow) -> bool:
    """Whether ``order`` is OPEN in the store now (an OCO sibling's fill may have cancelled
    it since it was read)."""
    current = store.find_order(conn, broker_order_id=order.broker_order_id)
    return current is not None and current.state is OrderState.OPEN


class PaperExchange:
    """A simulated exchange implementing :class:`live.broker.Broker`, persisted in ``engine``.

    Parameters
    ----------
    engine
        The exchange's own store (``live.db.make_engine(url)``); tables are created if missing.
    seed
        Seeds the random refusals (``fill_model.reject_prob``).
    fill_model
        Fill convention, slippage, latency, partial fills, refusals.
    symbols
        Instruments the exchange lists; orders for others are refused. None lists any symbol.

    Raises
    ------
    PaperConfigError
        When the store was created with another seed or fill model.
    """

    name = "paper"
    supports_oco = True  # siblings are cancelled in the transaction of the fill

    def __init__(self, engine: sa.Engine, *, seed: int, fill_model: FillModel,
                 symbols: Collection[str] | None = None) -> None:
        self._engine = engine
        self._seed = seed
        self._model = fill_model
        self._symbols = None if symbols is None else frozenset(symbols)
        store.create(engine)
        store.bind_config(engine, seed, fill_model)
        # SQLite: the transactions below run on a kept sqlite3 connection (same BEGIN
        # IMMEDIATE, same statements, same commit), without SQLAlchemy's per-statement cost
        self._raw = RawWriter(engine) if engine.dialect.name == "sqlite" else None
        preload_fill_kernels()  # loaded now, not by the first bar that fills an order
        self._volumes: dict[str, float] = {}  # last bar volume per symbol (realism mode)
        self._permanent: dict[str, PermanentImpact] = {}  # realism mode's price impact
        self._fills_read: list[FillReport] = []  # fills() so far, duplicates included
        self._fills_read_seq = 0  # the last fill row they include

    def _begin(self) -> AbstractContextManager[store.Conn]:
        """One write transaction on the exchange's store (committed on a normal exit)."""
        return self._engine.begin() if self._raw is None else self._raw.begin()

    # ---- market data -------------------------------------------------------------------

    def on_bar(self, symbol: str, ts: datetime, open: float, high: float, low: float,
               close: float, volume: float | None = None) -> list[FillReport]:
        """Match the working orders of ``symbol`` against one bar; returns the new fills.

        A bar at or before the last one seen for the symbol is ignored, so replaying a feed
        after a crash never matches a bar twice. Orders match oldest first, except that a
        limit member of an OCO group (a target) matches after every other order: when one bar
        touches both the stop and the target of a bracket, the stop fills, as in the
        simulator (which assumes the worse exit), whichever of the two was placed first. One
        cancelled by an OCO sibling's fill earlier on this bar is not matched. ``volume``
        (units traded in the bar) is used by the ``realism`` fill mode only.
        """
        bar = Bar(ts, open, high, low, close, volume)
        if volume is not None:
            self._volumes[symbol] = volume
        with self._begin() as conn:
            last = store.last_bar(conn, symbol)
            if last is not None and last.ts >= bar.ts:
                return []
            store.save_bar(conn, symbol, bar)
            produced: list[FillReport] = []
            for order in sorted(store.all_orders(conn, symbol=symbol, state=OrderState.OPEN),
                                key=_target_last):
                if order.oco_group is not None and not _still_open(conn, order):
                    continue
                if order.wait_bars > 0:
                    store.update_order(conn, order.broker_order_id,
                                       wait_bars=order.wait_bars - 1)
                    if order.wait_bars > 1:
                        continue
                fill = self._match(conn, order, bar)
                if fill is not None:
                    produced.append(fill)
            return produced

    def _match(self, conn: store.Conn, order: OrderRow, bar: Bar) -> FillReport | None:
        if self._model.mode == "realism":
            result = self._realism_match(order, bar)
        else:
            result = match(order.working(), bar, self._model)
        ts = store.to_text(bar.ts)
        if result.triggered and not order.triggered:
            store.update_order(conn, order.broker_order_id, triggered=True, updated_ts=ts)
            store.append_event(conn, "triggered", order.broker_order_id, ts,
                               _detail(trigger_price=order.trigger_price))
        if result.qty == 0:
            return None
        return self._record_fill(conn, order, result.qty, result.price, ts)

    def _realism_match(self, order: OrderRow, bar: Bar) -> Match:
        """Realism mode: the order on the bar's seeded path, with this exchange's impact."""
        if bar.volume is None:  # a flat bar built from the last one: its volume is known here
            bar = replace(bar, volume=self._volumes.get(order.symbol))
        params = self._model.realism_params
        path = intrabar_path(bar, params.path_steps, seed=self._seed, symbol=order.symbol)
        impact = self._permanent.setdefault(order.symbol, PermanentImpact())
        result, added = realism_match(
            order.working(), bar, self._model, path=path,
            arrival_u=arrival_fraction(self._seed, order.broker_order_id, bar),
            permanent_bps=impact.at(bar.ts, params.decay_minutes))
        if result.qty:
            impact.add(bar.ts, added, params.decay_minutes)
        return result

    def _record_fill(self, conn: store.Conn, order: OrderRow, qty: int, price: float,
                     ts: str) -> FillReport:
        faults = read_faults(conn)
        if faults.duplicate_fill_next:
            write_faults(conn, replace(faults, duplicate_fill_next=False))
        seq = store.next_seq(conn, "trade")
        trade_id = store.format_id("trade", seq)
        store.insert_fill(
            conn, seq=seq, trade_id=trade_id, broker_order_id=order.broker_order_id,
            client_key=order.client_key, symbol=order.symbol, side=order.side.value, qty=qty,
            price=price, ts=ts, copies=2 if faults.duplicate_fill_next else 1)
        filled = order.filled_qty + qty
        state = OrderState.FILLED if filled == order.qty else OrderState.OPEN
        store.update_order(conn, order.broker_order_id, filled_qty=filled,
                           filled_notional=order.filled_notional + price * qty,
                           state=state.value, updated_ts=ts)
        store.append_event(conn, "filled", order.broker_order_id, ts,
                           _detail(trade_id=trade_id, qty=qty, price=price))
        _cancel_oco_siblings(conn, order, ts)
        return FillReport(trade_id=trade_id, broker_order_id=order.broker_order_id,
                          client_key=order.client_key, symbol=order.symbol, side=order.side,
                          qty=qty, price=price, ts=store.from_text(ts))

    # ---- commands ----------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> SubmitResult:
        """Place an order; a client key seen before is refused as a duplicate tag."""
        key = request.client_key
        with self._begin() as conn:
            if read_faults(conn).unavailable:
                store.record_attempt(conn, key, "unavailable", None)
                return SubmitResult(Outcome.UNKNOWN, reason="paper exchange unavailable")
            existing = store.find_order(conn, client_key=key)
            if existing is not None:
                store.record_attempt(conn, key, "duplicate", None)
                return SubmitResult(Outcome.REJECTED, reason=(
                    f"duplicate tag {key!r}: order {existing.broker_order_id}"))
            order_id, reason = self._accept(conn, request)
            store.record_attempt(conn, key, "rejected" if reason else "accepted", order_id)
            faults = read_faults(conn)  # re-read: a fill above may have consumed a fault
            if faults.drop_ack_next > 0:
                write_faults(conn, replace(faults, drop_ack_next=faults.drop_ack_next - 1))
                return SubmitResult(Outcome.UNKNOWN, reason="acknowledgement lost (fault)")
        if reason:
            return SubmitResult(Outcome.REJECTED, order_id, reason)
        return SubmitResult(Outcome.CONFIRMED, order_id)

    def _refusal(self, request: OrderRequest) -> str:
        if self._symbols is not None and request.symbol not in self._symbols:
            return f"unknown symbol {request.symbol!r}"
        max_qty = self._model.max_qty
        if max_qty is not None and request.qty > max_qty:
            return f"qty {request.qty} above max_qty {max_qty}"
        if rejects_at_random(self._seed, request.client_key, self._model.reject_prob):
            return "rejected by the exchange (reject_prob)"
        return ""

    def _fill_bar(self, conn: store.Conn, request: OrderRequest) -> Bar | None:
        """The bar of the fill a protective order reacts to: the symbol's last bar when
        ``after_trade`` is a fill of a MARKET order at that bar's open (``next_open``); None
        when the order is an ordinary new order."""
        if request.after_trade is None or self._model.fill != "next_open":
            return None
        fill = store.find_fill(conn, request.after_trade)
        if fill is None or fill.symbol != request.symbol:
            return None
        last = store.last_bar(conn, request.symbol)
        if last is None or store.from_text(fill.ts) != last.ts:
            return None
        parent = store.find_order(conn, broker_order_id=fill.broker_order_id)
        if parent is None or parent.order_type is not OrderType.MARKET:
            return None
        return last

    def _protection_cap(self, conn: store.Conn, request: OrderRequest
                        ) -> tuple[float | None, str]:
        """(the protection cap of a protected MARKET / SL-M request or None, refusal)."""
        pct = request.market_protection_pct
        if pct is None or request.order_type not in _PROTECTED:
            return None, ""
        if request.order_type is OrderType.SL_M:
            reference = request.trigger_price
        else:
            last = store.last_bar(conn, request.symbol)
            reference = None if last is None else last.close
        if reference is None:
            return None, f"no last price of {request.symbol} to apply market protection to"
        side = 1 if request.side is Side.BUY else -1
        return protection_price(reference, side, pct, self._model.tick_size), ""

    def _accept(self, conn: store.Conn, request: OrderRequest) -> tuple[str, str]:
        """Store the order (OPEN or REJECTED) and match it at once if it may match on the last
        bar; (broker order id, refusal reason or "")."""
        cap, unprotected = self._protection_cap(conn, request)
        reason = self._refusal(request) or unprotected or _oco_refusal(conn, request) or \
            _fault_refusal(conn)
        seq = store.next_seq(conn, "order")
        order_id = store.format_id("order", seq)
        ts = store.market_time(conn)
        state = OrderState.REJECTED if reason else OrderState.OPEN
        fill_bar = None if reason else self._fill_bar(conn, request)
        wait_bars = self._model.wait_bars if fill_bar is None else self._model.latency_bars
        store.insert_order(
            conn, seq=seq, broker_order_id=order_id, client_key=request.client_key,
            symbol=request.symbol, exchange=request.exchange, side=request.side.value,
            order_type=request.order_type.value, qty=request.qty, filled_qty=0,
            filled_notional=0.0, limit_price=request.limit_price if cap is None else cap,
            trigger_price=request.trigger_price, triggered=False, wait_bars=wait_bars,
            state=state.value, reason=reason, updated_ts=ts, after_trade=request.after_trade,
            oco_group=request.oco_group, market_protection_pct=request.market_protection_pct,
            algo_id=request.algo_id)
        store.append_event(conn, "rejected" if reason else "accepted", order_id, ts,
                           _detail(client_key=request.client_key, reason=reason))
        if reason or wait_bars > 0:
            return order_id, reason
        if fill_bar is None:  # an ordinary order matched at once: at the signal bar's close
            last = store.last_bar(conn, request.symbol)
            fill_bar = None if last is None else Bar.flat(last.ts, last.close)
        order = store.find_order(conn, broker_order_id=order_id)
        if fill_bar is not None and order is not None:  # order: just inserted above
            self._match(conn, order, fill_bar)
        return order_id, ""

    def modify(self, broker_order_id: str, *, qty: int | None = None,
               limit_price: float | None = None,
               trigger_price: float | None = None) -> SubmitResult:
        """Change qty / limit / trigger of an OPEN order; takes effect from the next bar."""
        _check_modify_input(qty, limit_price, trigger_price)
        with self._begin() as conn:
            if read_faults(conn).unavailable:
                return SubmitResult(Outcome.UNKNOWN, reason="paper exchange unavailable")
            order = store.find_order(conn, broker_order_id=broker_order_id)
            reason = _modify_refusal(order, qty, limit_price, trigger_price,
                                     self._model.max_qty)
            if reason:
                return SubmitResult(Outcome.REJECTED, broker_order_id, reason)
            changes = {name: value for name, value in (
                ("qty", qty), ("limit_price", limit_price), ("trigger_price", trigger_price))
                if value is not None}
            assert order is not None  # refused above otherwise
            if trigger_price is not None and order.order_type is OrderType.SL_M and \
                    order.market_protection_pct is not None:  # the cap moves with the stop
                changes["limit_price"] = protection_price(
                    trigger_price, 1 if order.side is Side.BUY else -1,
                    order.market_protection_pct, self._model.tick_size)
            ts = store.market_time(conn)
            store.update_order(conn, broker_order_id, updated_ts=ts, **changes)
            store.append_event(conn, "modified", broker_order_id, ts, _detail(**changes))
        return SubmitResult(Outcome.CONFIRMED, broker_order_id)

    def cancel(self, broker_order_id: str) -> SubmitResult:
        """OPEN -> CANCELLED; any other state is refused ("not open") and emits no event."""
        with self._begin() as conn:
            if read_faults(conn).unavailable:
                return SubmitResult(Outcome.UNKNOWN, reason="paper exchange unavailable")
            order = store.find_order(conn, broker_order_id=broker_order_id)
            if order is None:
                return SubmitResult(Outcome.REJECTED, broker_order_id, "unknown order")
            if order.state is not OrderState.OPEN:
                return SubmitResult(Outcome.REJECTED, broker_order_id,
                                    f"not open: order {broker_order_id} is {order.state}")
            ts = store.market_time(conn)
            store.update_order(conn, broker_order_id, state=OrderState.CANCELLED.value,
                               updated_ts=ts)
            store.append_event(conn, "cancelled", broker_order_id, ts,
                               _detail(filled_qty=order.filled_qty))
        return SubmitResult(Outcome.CONFIRMED, broker_order_id)

    # ---- reports -----------------------------------------------------------------------

    @contextmanager
    def _reporting(self) -> Iterator[store.Conn]:
        with self._begin() as conn:
            if read_faults(conn).unavailable:
                raise BrokerUnavailableError("paper exchange unavailable (fault)")
            yield conn

    def status(self, *, broker_order_id: str | None = None,
               client_key: str | None = None) -> OrderReport | None:
        """The order by id or by client key; None when the exchange has no such order."""
        if broker_order_id is None and client_key is None:
            raise BrokerInputError("status needs broker_order_id or client_key")
        with self._reporting() as conn:
            order = store.find_order(conn, broker_order_id=broker_order_id,
                                     client_key=client_key)
        return None if order is None else order.report()

    def orders(self) -> list[OrderReport]:
        with self._reporting() as conn:
            return [order.report() for order in store.all_orders(conn)]

    def fills(self) -> list[FillReport]:
        """Executions in order; a fill hit by the duplicate fault is listed twice.

        Fills are only ever inserted, in seq order, by write transactions (serialised), so
        the reports read before are kept and only the rows after the last seq read are
        fetched (every bar polls this: reading the whole table grew with the session)."""
        with self._reporting() as conn:
            for row in conn.execute(_FILLS_AFTER, {"after": self._fills_read_seq}):
                self._fills_read.extend([_fill_report(row)] * row.copies)
                self._fills_read_seq = row.seq
        return list(self._fills_read)

    def positions(self) -> list[PositionReport]:
        """Non-flat net positions, by symbol."""
        with self._reporting() as conn:
            books = fold_fills(self._fill_reports(conn))
        return [PositionReport(symbol=symbol, net_qty=book.net_qty, avg_price=book.avg_price)
                for symbol, book in sorted(books.items()) if book.net_qty != 0]

    @staticmethod
    def _fill_reports(conn: store.Conn) -> list[FillReport]:
        reports: list[FillReport] = []
        for row in conn.execute(_ALL_FILLS):
            reports.extend([_fill_report(row)] * row.copies)
        return reports

    # ---- inspection for tests and operators (these see through faults) ------------------

    def realised_pnl(self, symbol: str | None = None) -> float:
        """Realised P&L in price points x qty, before costs: one symbol, or all."""
        with self._begin() as conn:
            books = fold_fills(self._fill_reports(conn))
        return sum(book.realised_pnl for name, book in books.items()
                   if symbol is None or name == symbol)

    def events(self, after_seq: int = 0) -> list[ExchangeEvent]:
        """The exchange's event sequence after ``after_seq``."""
        with self._begin() as conn:
            return [ExchangeEvent(seq=row.seq, kind=row.kind,
                                  broker_order_id=row.broker_order_id,
                                  ts=store.from_text(row.ts), detail=row.detail)
                    for row in conn.execute(_EVENTS_AFTER, {"after": after_seq})]

    @property
    def faults(self) -> Faults:
        with self._begin() as conn:
            return read_faults(conn)

    def set_faults(self, *, drop_ack_next: int | None = None,
                   duplicate_fill_next: bool | None = None,
                   unavailable: bool | None = None, reject_next: int | None = None,
                   reject_reason: str | None = None) -> Faults:
        """Switch faults on or off (None keeps a setting); see :class:`Faults`."""
        return set_faults(self._engine, drop_ack_next=drop_ack_next,
                          duplicate_fill_next=duplicate_fill_next, unavailable=unavailable,
                          reject_next=reject_next, reject_reason=reject_reason)


_ALL_FILLS = prebuilt(sa.select(store.fills).order_by(store.fills.c.seq))
_EVENTS_AFTER = prebuilt(sa.select(store.events).where(
    store.events.c.seq > sa.bindparam("after")).order_by(store.events.c.seq))
_FILLS_AFTER = prebuilt(sa.select(store.fills).where(
    store.fills.c.seq > sa.bindparam("after")).order_by(store.fills.c.seq))


def _fill_report(row: Any) -> FillReport:
    return FillReport(trade_id=row.trade_id, broker_order_id=row.broker_order_id,
                      client_key=row.client_key, symbol=row.symbol, side=Side(row.side),
                      qty=row.qty, price=row.price, ts=store.from_text(row.ts))
