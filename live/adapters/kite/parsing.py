"""Pure translation between Kite Connect v3 payloads and the broker interface's types.

Kite sends naive ``YYYY-MM-DD HH:MM:SS`` exchange-time strings; the official Python client
turns some of them (``order_timestamp``, ``exchange_timestamp``, ``fill_timestamp``) into
naive ``datetime`` objects and leaves others (``exchange_update_timestamp``) as strings, so
both are accepted and made tz-aware Asia/Kolkata. A missing or malformed field raises
:class:`KiteParseError` naming the field and the order: nothing is guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from live.broker import (
    TAG_MAX_CHARS,
    BrokerInputError,
    FillReport,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    PositionReport,
    Side,
)
from strategies.errors import StratopsError

KITE_TZ = ZoneInfo("Asia/Kolkata")
KITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S"
VARIETY = "regular"
# Kite's API refuses MARKET and SL-M orders without market protection (a percentage in
# (0, 100], or -1 for the system's automatic protection; 0 is refused): our configured
# percentage when the request carries one, else automatic - never an unprotected order.
MARKET_PROTECTED = (OrderType.MARKET, OrderType.SL_M)
AUTO_MARKET_PROTECTION = -1

_E = TypeVar("_E", Side, OrderType)

# Kite order statuses. Every interim status (the order is with the OMS, the RMS or the
# exchange) is OPEN; a status not listed here is also OPEN, never terminal (fail closed).
KITE_STATES: Mapping[str, OrderState] = {
    "COMPLETE": OrderState.FILLED,
    "REJECTED": OrderState.REJECTED,
    "CANCELLED": OrderState.CANCELLED,
    "OPEN": OrderState.OPEN,
    "OPEN PENDING": OrderState.OPEN,
    "TRIGGER PENDING": OrderState.OPEN,
    "PUT ORDER REQ RECEIVED": OrderState.OPEN,
    "VALIDATION PENDING": OrderState.OPEN,
    "MODIFY VALIDATION PENDING": OrderState.OPEN,
    "MODIFY PENDING": OrderState.OPEN,
    "MODIFIED": OrderState.OPEN,
    "CANCEL PENDING": OrderState.OPEN,
    "AMO REQ RECEIVED": OrderState.OPEN,
}


class KiteParseError(StratopsError, ValueError):
    """A Kite payload without a field we need, or with a value we cannot read."""


def kite_state(status: str) -> OrderState:
    """The :class:`OrderState` of a Kite status string; unknown statuses are OPEN."""
    return KITE_STATES.get(status.strip().upper(), OrderState.OPEN)


def parse_kite_ts(value: object, *, field: str, where: str) -> datetime:
    """A Kite timestamp (naive IST string or datetime, or an aware datetime) as aware IST."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.strptime(value.strip(), KITE_TS_FORMAT)
        except ValueError:
            raise KiteParseError(
                f"{where}: field {field!r} is not {KITE_TS_FORMAT!r}: {value!r}") from None
    else:
        raise KiteParseError(f"{where}: field {field!r} missing or not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=KITE_TZ)
    return parsed.astimezone(KITE_TZ)


def parse_order(payload: Mapping[str, Any]) -> OrderReport:
    """One entry of ``orders()`` (or of an order's history) as an :class:`OrderReport`."""
    where = f"Kite order {payload.get('order_id')!r}"
    status = _text(payload, "status", where)
    state = kite_state(status)
    order_type = _enum(OrderType, payload, "order_type", where)
    reason = str(payload.get("status_message") or payload.get("status_message_raw") or "")
    if status.strip().upper() not in KITE_STATES:
        reason = "; ".join(filter(None, [f"unmapped Kite status {status!r}, held OPEN", reason]))
    needs_limit = order_type in (OrderType.LIMIT, OrderType.SL)
    return OrderReport(
        broker_order_id=_text(payload, "order_id", where),
        client_key=parse_tag(payload),
        symbol=_text(payload, "tradingsymbol", where),
        side=_enum(Side, payload, "transaction_type", where),
        qty=_int(payload, "quantity", where),
        filled_qty=_int(payload, "filled_quantity", where),
        avg_fill_price=_float(payload, "average_price", where),
        state=state,
        order_type=order_type,
        limit_price=_float(payload, "price", where) if needs_limit else None,
        ts=_order_ts(payload, where),
        reason=reason,
        algo_id=str(payload["algo_id"]) if payload.get("algo_id") else None,
    )


def parse_tag(payload: Mapping[str, Any]) -> str | None:
    """The order's ``tag`` (our client key), or None for an untagged (e.g. manual) order.

    Only ``tag`` is read: the ``tags`` list may also hold tags Kite adds itself.
    """
    tag = payload.get("tag")
    return str(tag) if tag else None


def parse_fill(payload: Mapping[str, Any], *, client_key: str | None = None) -> FillReport:
    """One entry of ``trades()``. Kite trades carry no tag: pass the order's ``client_key``."""
    where = f"Kite trade {payload.get('trade_id')!r} of order {payload.get('order_id')!r}"
    return FillReport(
        trade_id=_text(payload, "trade_id", where),
        broker_order_id=_text(payload, "order_id", where),
        client_key=client_key,
        symbol=_text(payload, "tradingsymbol", where),
        side=_enum(Side, payload, "transaction_type", where),
        qty=_int(payload, "quantity", where),
        price=_float(payload, "average_price", where),
        ts=parse_kite_ts(payload.get("fill_timestamp"), field="fill_timestamp", where=where),
    )


def parse_positions(payload: Mapping[str, Any]) -> list[PositionReport]:
    """The ``net`` section of ``positions()``, one report per symbol, flat symbols left out.

    Rows of one symbol under different products (NRML, MIS) are summed; the average price
    is the quantity-weighted average of the rows on the side of the net position.
    """
    rows = payload.get("net")
    if not isinstance(rows, list):
        raise KiteParseError(f"Kite positions: field 'net' missing or not a list: {rows!r}")
    by_symbol: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            raise KiteParseError(f"Kite positions: a 'net' row is not an object: {row!r}")
        where = f"Kite position {row.get('tradingsymbol')!r} ({row.get('product')!r})"
        by_symbol.setdefault(_text(row, "tradingsymbol", where), []).append(
            (_int(row, "quantity", where), _float(row, "average_price", where)))
    reports = [_net_position(symbol, legs) for symbol, legs in by_symbol.items()]
    return [report for report in reports if report.net_qty != 0]


def _net_position(symbol: str, legs: Sequence[tuple[int, float]]) -> PositionReport:
    net_qty = sum(qty for qty, _ in legs)
    same_side = [(abs(qty), price) for qty, price in legs if qty * net_qty > 0]
    weight = sum(qty for qty, _ in same_side)
    avg = sum(qty * price for qty, price in same_side) / weight if weight else 0.0
    return PositionReport(symbol=symbol, net_qty=net_qty, avg_price=avg)


def place_order_kwargs(request: OrderRequest) -> dict[str, Any]:
    """Keyword arguments of ``KiteConnect.place_order`` for ``request`` (tag = client key).

    Re-checks the tag length: a request that would be cut or refused is never sent. Kite has
    no one-cancels-other orders, so a request with an ``oco_group`` is refused; its
    ``after_trade`` is ignored (Kite matches every order from when it arrives). MARKET and
    SL-M orders carry ``market_protection`` (:data:`MARKET_PROTECTED`). The exchange-issued
    algo id of the version (SEBI's algo framework) travels in Kite's own ``algo_id`` order
    parameter, so the ``tag`` stays the client key the order is found by after a crash.
    """
    if not request.client_key or len(request.client_key) > TAG_MAX_CHARS:
        raise BrokerInputError(
            f"client_key {request.client_key!r}: Kite tags hold 1..{TAG_MAX_CHARS} chars")
    if request.oco_group is not None:
        raise BrokerInputError(
            f"oco_group {request.oco_group!r}: Kite has no one-cancels-other orders "
            "(supports_oco is False)")
    priced = request.order_type in (OrderType.LIMIT, OrderType.SL)
    triggered = request.order_type in (OrderType.SL, OrderType.SL_M)
    kwargs = {
        "variety": VARIETY,
        "exchange": request.exchange,
        "tradingsymbol": request.tradingsymbol or request.symbol,  # the contract
        "transaction_type": str(request.side),
        "quantity": request.qty,
        "product": request.product,
        "order_type": str(request.order_type),
        "price": request.limit_price if priced else None,
        "trigger_price": request.trigger_price if triggered else None,
        "validity": request.validity,
        "tag": request.client_key,
    }
    if request.algo_id is not None:  # OrderRequest checked it: alphanumeric, <= 20
        kwargs["algo_id"] = request.algo_id
    if request.order_type in MARKET_PROTECTED:
        protection = request.market_protection_pct
        kwargs["market_protection"] = AUTO_MARKET_PROTECTION if protection is None \
            else protection
    return kwargs


def modify_order_kwargs(broker_order_id: str, *, qty: int | None = None,
                        limit_price: float | None = None,
                        trigger_price: float | None = None) -> dict[str, Any]:
    """Keyword arguments of ``KiteConnect.modify_order``; only the given fields change."""
    changes = {"quantity": qty, "price": limit_price, "trigger_price": trigger_price}
    given = {name: value for name, value in changes.items() if value is not None}
    if not broker_order_id:
        raise BrokerInputError(f"broker_order_id {broker_order_id!r}: must be given")
    if not given:
        raise BrokerInputError(f"modify of {broker_order_id!r}: nothing to change")
    bad = {name: value for name, value in given.items() if not value > 0}
    if bad:
        raise BrokerInputError(f"modify of {broker_order_id!r}: must be positive: {bad!r}")
    return {"variety": VARIETY, "order_id": broker_order_id, **given}


def _order_ts(payload: Mapping[str, Any], where: str) -> datetime:
    # The latest change we know of: order_timestamp is always there; exchange_* only once
    # the order reached the exchange (a rejection by the RMS never does).
    stamps = [parse_kite_ts(payload.get("order_timestamp"), field="order_timestamp",
                            where=where)]
    for field in ("exchange_timestamp", "exchange_update_timestamp"):
        if payload.get(field) is not None:
            stamps.append(parse_kite_ts(payload[field], field=field, where=where))
    return max(stamps)


def _text(payload: Mapping[str, Any], field: str, where: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise KiteParseError(f"{where}: field {field!r} missing or empty: {value!r}")
    return str(value)


def _int(payload: Mapping[str, Any], field: str, where: str) -> int:
    raw = payload.get(field)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    value = _float(payload, field, where)
    if not value.is_integer():
        raise KiteParseError(f"{where}: field {field!r} is not a whole number: {value!r}")
    return int(value)


def _float(payload: Mapping[str, Any], field: str, where: str) -> float:
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise KiteParseError(f"{where}: field {field!r} is not a finite number: {value!r}")
    return float(value)


def _enum(kind: type[_E], payload: Mapping[str, Any], field: str, where: str) -> _E:
    value = payload.get(field)
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise KiteParseError(f"{where}: field {field!r} has an unknown value: {value!r}") from None
