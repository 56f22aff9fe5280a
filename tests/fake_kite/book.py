"""The fake Kite's day: order book, matching on ticks, trade book and net/day positions.

Orders are Kite v3 order dicts. Matching happens only on a tick (never at placement). Between
two ticks inside a bar the price is taken to move continuously; a bar's open is a gap:
a MARKET order fills at the next tick (plus ``slippage_points`` against the trader); a
resting LIMIT fills at its own price when a tick inside a bar crosses it, at the open when the
bar opens through it, and a limit marketable when placed at the next tick's price; a stop
(SL / SL-M) triggers at its trigger price (at the open on a gap), SL-M then fills there minus
slippage and SL works as a limit. ``fill_qty_per_tick`` caps each fill (partial fills); an
injected RMS rejection books the order as REJECTED with a ``status_message``. Every state
change appends a snapshot to the order's history and to :attr:`OrderBook.updates` (the
ticker sends them as postbacks). Positions use the average-cost method.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tests.fake_kite.exchange_rules import (
    ExchangeRules,
    market_closed,
    past_mis_square_off,
    protection_price,
    refusal,
)
from tests.fake_kite.fields import choice, finite, input_error, whole
from tests.fake_kite.market import IST
from tests.fake_kite.positions import Position

ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("MIS", "NRML", "CNC")
OPEN_STATES = ("OPEN", "TRIGGER PENDING")
TS_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class BookSettings:
    """Matching knobs: slippage on MARKET / SL-M fills, and the per-tick fill cap."""

    slippage_points: float = 0.0
    fill_qty_per_tick: int | None = None
    user_id: str = "FK0001"
    rules: ExchangeRules = field(default_factory=ExchangeRules)


@dataclass
class OrderBook:
    """The day's orders, trades and positions of the one fake account."""

    instruments: Mapping[str, Mapping[str, Any]]  # by tradingsymbol
    settings: BookSettings = field(default_factory=BookSettings)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    last_price: dict[str, float] = field(default_factory=dict)
    reference_price: dict[str, float] = field(default_factory=dict)  # the band's centre
    day: date | None = None
    _squared_off: date | None = None
    _order_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _trade_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(10_000_001))

    # --- commands ---------------------------------------------------------------------------

    def place(self, params: Mapping[str, Any], now: datetime,
              rms_reject: str | None = None) -> str:
        """Book a new order; returns its id. Bad input raises :class:`KiteApiError`."""
        closed = market_closed(self.settings.rules, now)
        if closed is not None:
            raise input_error(closed)
        order = self._new_order(params, now)
        symbol = order["tradingsymbol"]
        rms_reject = rms_reject or refusal(self.settings.rules, order, self.instrument(symbol),
                                           self.reference_price.get(symbol), now)
        return self._accept(order, now, rms_reject)

    def square_off_mis(self, now: datetime) -> None:
        """At the MIS square-off time (once a day): cancel open MIS orders and close every
        MIS position with a MARKET order, as Kite's RMS does."""
        if not past_mis_square_off(self.settings.rules, now) or self._squared_off == now.date():
            return
        self._squared_off = now.date()
        for order in list(self.orders.values()):
            if order["product"] == "MIS" and order["status"] in OPEN_STATES:
                self._set(order, now, status="CANCELLED", pending_quantity=0,
                          cancelled_quantity=order["pending_quantity"],
                          status_message="Cancelled by RMS: intraday square-off",
                          exchange_update_timestamp=_ts(now))
        for (symbol, product), position in list(self.positions.items()):
            if product == "MIS" and position.qty:
                row = self.instrument(symbol)
                self._accept(self._new_order({
                    "tradingsymbol": symbol, "exchange": row["exchange"], "product": "MIS",
                    "transaction_type": "SELL" if position.qty > 0 else "BUY",
                    "quantity": abs(position.qty), "order_type": "MARKET",
                    "market_protection": -1}, now), now, None)

    def _accept(self, order: dict[str, Any], now: datetime, rms_reject: str | None) -> str:
        order_id = str(order["order_id"])
        self.orders[order_id] = order
        self.history[order_id] = []
        for status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING"):
            self._set(order, now, status=status)
        if rms_reject is not None:
            self._set(order, now, status="REJECTED", status_message=rms_reject,
                      status_message_raw=rms_reject, pending_quantity=0)
            return order_id
        self._set(order, now, status="OPEN PENDING")
        triggered = order["order_type"] in ("SL", "SL-M")
        self._set(order, now, status="TRIGGER PENDING" if triggered else "OPEN",
                  exchange_order_id=f"1{order_id[-15:]}", exchange_timestamp=_ts(now))
        return order_id

    def modify(self, order_id: str, params: Mapping[str, Any], now: datetime) -> str:
        order = self._open_order(order_id, "modified")
        changes: dict[str, Any] = {}
        if params.get("quantity") not in (None, ""):
            qty = whole(params["quantity"], "quantity")
            self._check_qty(order["tradingsymbol"], qty)
            if qty < order["filled_quantity"]:
                raise input_error(f"Quantity {qty} is below the filled quantity "
                                  f"{order['filled_quantity']}.")
            changes.update(quantity=qty, pending_quantity=qty - order["filled_quantity"])
        for name in ("price", "trigger_price"):
            if params.get(name) not in (None, ""):
                changes[name] = self._check_price(order["tradingsymbol"],
                                                  finite(params[name], name))
        if params.get("order_type") not in (None, ""):
            changes["order_type"] = choice(params["order_type"], ORDER_TYPES, "order_type")
        last = self.last_price.get(order["tradingsymbol"])
        if "price" in changes and order["order_type"] == "LIMIT":
            buy = order["transaction_type"] == "BUY"
            order["_aggressive"] = last is None or (
                changes["price"] >= last if buy else changes["price"] <= last)
        self._set(order, now, status="MODIFY VALIDATION PENDING")
        self._set(order, now, status="MODIFY PENDING")
        self._set(order, now, **changes, modified=True, status=order["_open_status"],
                  exchange_update_timestamp=_ts(now))
        if order["pending_quantity"] == 0:
            self._set(order, now, status="COMPLETE")
        return order_id

    def cancel(self, order_id: str, now: datetime) -> str:
        order = self._open_order(order_id, "cancelled")
        self._set(order, now, status="CANCEL PENDING")
        self._set(order, now, status="CANCELLED", cancelled_quantity=order["pending_quantity"],
                  pending_quantity=0, exchange_update_timestamp=_ts(now))
        return order_id

    def on_tick(self, tradingsymbol: str, price: float, now: datetime, *,
                reference: float | None = None, gap: bool = False) -> None:
        """Match every working order of ``tradingsymbol`` against one trade at ``price``;
        ``reference`` (the previous close) centres the price band; ``gap`` marks a bar's
        open (a resting order is then filled at this price, not at its own)."""
        self.last_price[tradingsymbol] = price
        if reference is not None:
            self.reference_price[tradingsymbol] = reference
        for position in self.positions.values():
            if position.instrument["tradingsymbol"] == tradingsymbol:
                position.last_price = price
        for order in list(self.orders.values()):
            if order["tradingsymbol"] == tradingsymbol and order["status"] in OPEN_STATES:
                self._match(order, price, now, gap)

    def roll_day(self, today: date, now: datetime) -> None:
        """A new session date: expire the open orders, clear the books, carry net positions."""
        if self.day == today:
            return
        if self.day is not None:
            for order in self.orders.values():
                if order["status"] in OPEN_STATES:
                    self._set(order, now, status="CANCELLED",
                              cancelled_quantity=order["pending_quantity"], pending_quantity=0,
                              status_message="Order expired at the end of the day")
            self.orders.clear()
            self.history.clear()
            self.trades.clear()
            for position in self.positions.values():
                position.overnight_qty = position.qty
                position.day_buy_qty = position.day_sell_qty = 0
                position.day_buy_value = position.day_sell_value = 0.0
        self.day = today

    # --- reports ----------------------------------------------------------------------------

    def order_list(self) -> list[dict[str, Any]]:
        return [_public(o) for o in self.orders.values()]

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        if order_id not in self.history:
            raise input_error("Couldn't find that `order_id`.")
        return [dict(h) for h in self.history[order_id]]

    def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        if order_id not in self.orders:
            raise input_error("Couldn't find that `order_id`.")
        return [dict(t) for t in self.trades if t["order_id"] == order_id]

    def position_rows(self) -> dict[str, list[dict[str, Any]]]:
        rows = list(self.positions.values())
        return {"net": [p.row(day=False) for p in rows],
                "day": [p.row(day=True) for p in rows if p.day_buy_qty or p.day_sell_qty]}

    # --- internals --------------------------------------------------------------------------

    def instrument(self, tradingsymbol: object) -> Mapping[str, Any]:
        row = self.instruments.get(str(tradingsymbol))
        if row is None:
            raise input_error(f"Invalid `tradingsymbol`: {tradingsymbol!r} is not in the "
                              "instruments")
        return row

    def _new_order(self, params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        unmodelled = sorted(k for k in ("autoslice", "iceberg_legs", "iceberg_quantity")
                            if params.get(k) not in (None, "", "false"))
        if unmodelled:
            raise input_error(f"the fake Kite does not model {unmodelled}: refused rather "
                              "than ignored")
        row = self.instrument(params.get("tradingsymbol"))
        if str(params.get("exchange")) != row["exchange"]:
            raise input_error(f"Invalid `exchange` {params.get('exchange')!r} for "
                              f"{row['tradingsymbol']} (traded on {row['exchange']})")
        expiry = _expiry(row)
        if expiry is not None and expiry < now.date():
            raise input_error(f"Invalid `tradingsymbol` {row['tradingsymbol']}: the contract "
                              f"expired on {expiry.isoformat()}")
        protection = finite(params.get("market_protection") or 0, "market_protection")
        if protection != -1 and not 0 <= protection <= 100:
            raise input_error(f"Invalid `market_protection` {protection!r}: -1 (automatic) or "
                              "0..100 percent")
        order_type = choice(params.get("order_type"), ORDER_TYPES, "order_type")
        qty = whole(params.get("quantity"), "quantity")
        self._check_qty(row["tradingsymbol"], qty)
        price = trigger = 0.0
        if order_type in ("LIMIT", "SL"):
            price = self._check_price(row["tradingsymbol"], finite(params.get("price"), "price"))
        if order_type in ("SL", "SL-M"):
            trigger = self._check_price(row["tradingsymbol"],
                                        finite(params.get("trigger_price"), "trigger_price"))
        side = choice(params.get("transaction_type"), ("BUY", "SELL"), "transaction_type")
        last = self.last_price.get(str(row["tradingsymbol"]))
        if order_type in ("SL", "SL-M") and last is not None and (
                trigger <= last if side == "BUY" else trigger >= last):
            raise input_error(f"Trigger price {trigger} for stoploss {side.lower()} orders should "
                              f"be {'higher' if side == 'BUY' else 'lower'} than the last "
                              f"traded price {last}.")
        if order_type in ("MARKET", "SL-M"):
            price = self._protection(row, order_type, protection, trigger, params)
        # a limit that can trade at once meets the next tick at that tick's price
        aggressive = last is None or (price >= last if side == "BUY" else price <= last)
        tag = params.get("tag") or None
        if tag is not None and len(str(tag)) > 20:
            raise input_error(f"Invalid `tag` {tag!r}: at most 20 characters")
        algo_id = params.get("algo_id") or None
        if algo_id is not None and not (str(algo_id).isascii() and str(algo_id).isalnum()
                                        and len(str(algo_id)) <= 20):
            raise input_error(f"Invalid `algo_id` {algo_id!r}: alphanumeric, at most 20 "
                              "characters")
        order_id = f"{now:%y%m%d}{next(self._order_seq):09d}"
        return {
            "account_id": self.settings.user_id, "placed_by": self.settings.user_id,
            "order_id": order_id, "exchange_order_id": None, "parent_order_id": None,
            "status": "PUT ORDER REQ RECEIVED", "status_message": None,
            "status_message_raw": None, "order_timestamp": _ts(now),
            "exchange_update_timestamp": None, "exchange_timestamp": None,
            "variety": "regular", "modified": False, "exchange": row["exchange"],
            "tradingsymbol": row["tradingsymbol"],
            "instrument_token": row["instrument_token"], "order_type": order_type,
            "transaction_type": side,
            "validity": str(params.get("validity") or "DAY"), "validity_ttl": 0,
            "product": choice(params.get("product"), PRODUCTS, "product"),
            "quantity": qty, "disclosed_quantity": 0, "price": price,
            "trigger_price": trigger, "average_price": 0.0, "filled_quantity": 0,
            "pending_quantity": qty, "cancelled_quantity": 0,
            "market_protection": protection,
            "meta": {}, "tag": tag, "tags": [tag] if tag else None, "guid": order_id,
            "algo_id": algo_id,
            "_open_status": "TRIGGER PENDING" if order_type in ("SL", "SL-M")
            else "OPEN", "_aggressive": order_type == "LIMIT" and aggressive,
        }

    def _protection(self, row: Mapping[str, Any], order_type: str, protection: float,
                    trigger: float, params: Mapping[str, Any]) -> float:
        if protection == 0 and self.settings.rules.require_market_protection:
            raise input_error(f"{order_type} orders need `market_protection` (-1 for automatic, "
                              "or a percentage up to 100)")
        return protection_price(
            self.settings.rules, protection_pct=protection,
            buy=params.get("transaction_type") == "BUY",
            reference=trigger or self.last_price.get(str(row["tradingsymbol"])),
            tick=float(row["tick_size"]))

    def _check_qty(self, tradingsymbol: str, qty: int) -> None:
        lot = int(self.instruments[tradingsymbol]["lot_size"])
        if qty <= 0 or qty % lot:
            raise input_error(f"Quantity {qty} should be a positive multiple of the lot size "
                              f"{lot} of {tradingsymbol}.")

    def _check_price(self, tradingsymbol: str, price: float) -> float:
        tick = float(self.instruments[tradingsymbol]["tick_size"])
        if price <= 0 or abs(price / tick - round(price / tick)) > 1e-6:
            raise input_error(f"Tick size for this script is {tick}. Kindly enter price "
                              f"{price} in the multiple of tick size for this script.")
        return price

    def _open_order(self, order_id: str, verb: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise input_error("Couldn't find that `order_id`.")
        if order["status"] not in OPEN_STATES:
            raise input_error(f"Order cannot be {verb} as it is being processed or is already "
                              "completed/cancelled/rejected.")
        return order

    def _match(self, order: dict[str, Any], price: float, now: datetime, gap: bool) -> None:
        buy = order["transaction_type"] == "BUY"
        # The path from the previous tick to this one is continuous (the order is touched at
        # its own price) unless this tick opens a bar (a gap) or meets a marketable order.
        jump = gap or (order.pop("_aggressive", False))
        touched, triggered_now = price, False
        if order["status"] == "TRIGGER PENDING":
            trigger = order["trigger_price"]
            if not (price >= trigger if buy else price <= trigger):
                return
            order["_open_status"] = "OPEN"
            self._set(order, now, status="OPEN")
            touched, triggered_now = (price if gap else trigger), True
        if order["order_type"] in ("MARKET", "SL-M"):
            fill_price = self._market_fill(order, touched, buy)
        elif touched <= order["price"] if buy else touched >= order["price"]:
            fill_price = touched if jump or triggered_now else order["price"]
        else:
            return
        if fill_price is None:
            return
        cap = self.settings.fill_qty_per_tick
        qty = order["pending_quantity"] if cap is None else min(cap, order["pending_quantity"])
        self._fill(order, qty, fill_price, now)

    def _market_fill(self, order: Mapping[str, Any], touched: float, buy: bool) -> float | None:
        """``touched`` plus slippage against the trader, bounded by the market protection
        (None: beyond it, the order rests as a limit at the protection price)."""
        slip = self.settings.slippage_points
        fill_price = self._round_tick(order, touched + slip if buy else touched - slip)
        worst = float(order["price"])  # the market-protection price, 0.0 when unprotected
        if not worst:
            return fill_price
        if touched > worst if buy else touched < worst:
            return None
        return min(fill_price, worst) if buy else max(fill_price, worst)

    def _fill(self, order: dict[str, Any], qty: int, price: float, now: datetime) -> None:
        filled = order["filled_quantity"] + qty
        average = (order["average_price"] * order["filled_quantity"] + price * qty) / filled
        self.trades.append({
            "trade_id": str(next(self._trade_seq)), "order_id": order["order_id"],
            "exchange": order["exchange"], "tradingsymbol": order["tradingsymbol"],
            "instrument_token": order["instrument_token"], "product": order["product"],
            "average_price": price, "quantity": qty,
            "exchange_order_id": order["exchange_order_id"],
            "transaction_type": order["transaction_type"], "fill_timestamp": _ts(now),
            "order_timestamp": now.astimezone(IST).strftime("%H:%M:%S"),
            "exchange_timestamp": _ts(now)})
        key = (order["tradingsymbol"], order["product"])
        position = self.positions.setdefault(
            key, Position(self.instrument(order["tradingsymbol"]), order["product"]))
        position.last_price = self.last_price.get(order["tradingsymbol"], price)
        position.fill(qty if order["transaction_type"] == "BUY" else -qty, price)
        pending = order["quantity"] - filled
        self._set(order, now, filled_quantity=filled, pending_quantity=pending,
                  average_price=average, exchange_update_timestamp=_ts(now),
                  status="COMPLETE" if pending == 0 else "OPEN")

    def _round_tick(self, order: Mapping[str, Any], price: float) -> float:
        tick = float(self.instruments[order["tradingsymbol"]]["tick_size"])
        return round(round(price / tick) * tick, 2)

    def _set(self, order: dict[str, Any], now: datetime, **changes: Any) -> None:
        order.update(changes)
        snapshot = _public(order)
        snapshot["order_timestamp"] = _ts(now)
        self.history[order["order_id"]].append(snapshot)
        self.updates.append(_public(order))


def _public(order: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if not k.startswith("_")}


def _expiry(row: Mapping[str, Any]) -> date | None:
    expiry = row.get("expiry")
    if isinstance(expiry, date):
        return expiry
    if isinstance(expiry, str) and len(expiry) == 10:
        return date.fromisoformat(expiry)
    return None


def _ts(now: datetime) -> str:
    return now.astimezone(IST).strftime(TS_FORMAT)
