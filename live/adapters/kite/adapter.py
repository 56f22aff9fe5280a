"""The Zerodha Kite Connect broker: :class:`~live.broker.Broker` over a ``KiteConnect`` client.

Every command is sent exactly once; its failure is classified by
:func:`~live.adapters.kite.errors.classify_kite_error` and never retried here. Kite takes no
client order id, so the client key travels as the order ``tag`` and an order whose submit
outcome is ``UNKNOWN`` is found again with ``status(client_key=...)``. Reports come from the
day's order book, trade book and net positions, so a restart reads the same state as a
running session. After a ``TokenException`` the adapter sends nothing more: the runner must
halt, log in again and build a new adapter. Kite has no native one-cancels-other orders
(``supports_oco`` is False): a request with an ``oco_group`` is refused before sending, and
``OrderRequest.after_trade`` is ignored. Order updates pushed over the ticker's WebSocket
reach :meth:`KiteBroker.on_order_update` (the callback the live feed registers) and wait in
a queue until the runner drains them (:meth:`KiteBroker.drain_order_updates`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from live.adapters.kite.errors import (
    KITE_CALL_ERRORS,
    KiteQueryError,
    KiteSessionError,
    classify_kite_error,
)
from live.adapters.kite.order_updates import OrderUpdateQueue
from live.adapters.kite.parsing import (
    VARIETY,
    KiteParseError,
    modify_order_kwargs,
    parse_fill,
    parse_order,
    parse_positions,
    parse_tag,
    place_order_kwargs,
)
from live.broker import (
    BrokerInputError,
    FillReport,
    OrderReport,
    OrderRequest,
    Outcome,
    PositionReport,
    PushedOrderUpdates,
    SubmitResult,
)
from strategies.errors import StratopsError

_SESSION_DEAD = "Kite session invalid (TokenException earlier): not sent; log in and restart"


class KiteClient(Protocol):
    """The part of ``kiteconnect.KiteConnect`` the adapter uses (tests pass a fake)."""

    def place_order(self, **kwargs: Any) -> Any: ...

    def modify_order(self, **kwargs: Any) -> Any: ...

    def cancel_order(self, **kwargs: Any) -> Any: ...

    def orders(self) -> Any: ...

    def trades(self) -> Any: ...

    def positions(self) -> Any: ...


class KiteAmbiguousTagError(StratopsError, LookupError):
    """Several orders of the day carry one client key: a duplicate the journal must resolve."""


class KiteBroker:
    """The Kite Connect adapter. ``client`` is a logged-in ``kiteconnect.KiteConnect``."""

    name = "kite"
    reports_contracts = True  # positions and fills come by tradingsymbol (the contract)
    supports_oco = False  # no native OCO: two siblings could both fill before a cancel lands

    def __init__(self, client: KiteClient, *, api_secret: str | None = None) -> None:
        self.client = client
        self._session_invalid = False
        self._updates = OrderUpdateQueue(api_secret=api_secret)

    def on_order_update(self, payload: Mapping[str, Any]) -> None:
        """Queue one order update pushed over the ticker's WebSocket (any thread; never
        raises: an unreadable update is queued as a problem)."""
        self._updates.put(payload)

    def drain_order_updates(self) -> PushedOrderUpdates:
        """The order updates queued since the last drain (the runner's thread)."""
        return self._updates.drain()

    @property
    def session_invalid(self) -> bool:
        """True once Kite answered ``TokenException``: nothing is sent any more."""
        return self._session_invalid

    def submit(self, request: OrderRequest) -> SubmitResult:
        kwargs = place_order_kwargs(request)
        return self._command(lambda: self.client.place_order(**kwargs), order_id=None)

    def modify(self, broker_order_id: str, *, qty: int | None = None,
               limit_price: float | None = None,
               trigger_price: float | None = None) -> SubmitResult:
        kwargs = modify_order_kwargs(broker_order_id, qty=qty, limit_price=limit_price,
                                     trigger_price=trigger_price)
        return self._command(lambda: self.client.modify_order(**kwargs),
                             order_id=broker_order_id)

    def cancel(self, broker_order_id: str) -> SubmitResult:
        if not broker_order_id:
            raise BrokerInputError(f"broker_order_id {broker_order_id!r}: must be given")
        return self._command(
            lambda: self.client.cancel_order(variety=VARIETY, order_id=broker_order_id),
            order_id=broker_order_id)

    def status(self, *, broker_order_id: str | None = None,
               client_key: str | None = None) -> OrderReport | None:
        """The order by id and/or client key (its tag) from the day's order book; None when
        no order matches every key given."""
        if broker_order_id is None and client_key is None:
            raise BrokerInputError("status needs broker_order_id or client_key")
        found = [o for o in self.orders()
                 if broker_order_id in (None, o.broker_order_id)
                 and client_key in (None, o.client_key)]
        if len(found) > 1:
            ids = [o.broker_order_id for o in found]
            raise KiteAmbiguousTagError(f"client_key {client_key!r} tags orders {ids!r}")
        return found[0] if found else None

    def orders(self) -> list[OrderReport]:
        return [parse_order(o) for o in self._list(self.client.orders, "orders")]

    def fills(self) -> list[FillReport]:
        # Trades first: every trade's order is then in the later order book snapshot.
        trades = self._list(self.client.trades, "trades")
        tags = {str(o.get("order_id")): parse_tag(o)
                for o in self._list(self.client.orders, "orders")}
        return [parse_fill(t, client_key=tags.get(str(t.get("order_id")))) for t in trades]

    def positions(self) -> list[PositionReport]:
        payload = self._query(self.client.positions)
        if not isinstance(payload, Mapping):
            raise KiteParseError(f"Kite positions: expected an object, got {payload!r:.200}")
        return parse_positions(payload)

    def _command(self, call: Callable[[], Any], *, order_id: str | None) -> SubmitResult:
        if self._session_invalid:
            return SubmitResult(Outcome.REJECTED, order_id, _SESSION_DEAD)
        try:
            answer = call()
        except KITE_CALL_ERRORS as exc:
            failure = classify_kite_error(exc)
            self._session_invalid |= failure.session_invalid
            return SubmitResult(failure.outcome, order_id, failure.reason,
                                not_sent=failure.not_sent)
        if not answer:
            return SubmitResult(Outcome.UNKNOWN, order_id, f"Kite answered no order_id: {answer!r}")
        return SubmitResult(Outcome.CONFIRMED, str(answer))

    def _query(self, call: Callable[[], Any]) -> Any:
        if self._session_invalid:
            raise KiteSessionError(_SESSION_DEAD)
        try:
            return call()
        except KITE_CALL_ERRORS as exc:
            failure = classify_kite_error(exc)
            if failure.session_invalid:
                self._session_invalid = True
                raise KiteSessionError(failure.reason) from exc
            raise KiteQueryError(failure.reason) from exc

    def _list(self, call: Callable[[], Any], what: str) -> list[Mapping[str, Any]]:
        payload = self._query(call)
        if not isinstance(payload, list) or not all(isinstance(p, Mapping) for p in payload):
            raise KiteParseError(f"Kite {what}: expected a list of objects, got {payload!r:.200}")
        return payload
