"""The broker adapter interface: what the execution layer may ask of any broker.

Every adapter (the paper exchange, Zerodha Kite) implements :class:`Broker`. Results of
state-changing calls are classified, never guessed: ``CONFIRMED`` (the broker has the
order / change), ``REJECTED`` (it refused; nothing happened) or ``UNKNOWN`` (timeout,
disconnect: it may or may not have happened). An unknown outcome is settled by
:meth:`Broker.status` or the order report, never by sending again. Brokers such as Kite take
no client order id, only a short ``tag``; the ``client_key`` travels in that tag and the
journal, not the broker, is the authority on duplicates.

Protective exits: an order placed right after a fill (a stop-loss or target after an entry)
names that fill in ``after_trade``; orders sharing an ``oco_group`` are one-cancels-other.
Only a broker whose :attr:`Broker.supports_oco` is True may be given an ``oco_group``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from strategies.errors import StratopsError

TAG_MAX_CHARS = 20  # Kite Connect's order tag limit; client keys must fit in it
OCO_GROUP_MAX_CHARS = 32
TRADE_ID_MAX_CHARS = 64
MAX_MARKET_PROTECTION_PCT = 100.0  # Kite's market_protection: a percentage up to 100
# An exchange-issued algo id (SEBI's algo framework) as Kite's ``algo_id`` takes it and
# compliance.yaml's ``algo.approvals`` records it: alphanumeric, 1..20 characters
ALGO_ID_PATTERN = re.compile(r"[A-Za-z0-9]{1,20}")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-limit
    SL_M = "SL-M"  # stop-market


class OrderState(StrEnum):
    OPEN = "OPEN"  # accepted, working (possibly partially filled)
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def terminal(self) -> bool:
        return self is not OrderState.OPEN


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class NotSent(StrEnum):
    """Why a REJECTED command certainly never reached the broker, so it may be sent again
    (:mod:`live.orders.retry`): a connection that was never opened, or a rate refusal."""

    TRANSIENT = "transient"  # connection refused / not established: the request never left
    THROTTLED = "throttled"  # HTTP 429 or our own rate limiter: refused for rate, not placed


class BrokerInputError(StratopsError, ValueError):
    """A request the adapter refuses before sending (bad qty, key too long, ...)."""


class BrokerUnavailableError(StratopsError, ConnectionError):
    """A report or status query that got no answer: the state is unknown, never "empty"."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRequest:
    """One order to place. ``client_key`` is the idempotency key (derived from the trace id;
    at most :data:`TAG_MAX_CHARS` characters, sent as the broker tag).

    ``after_trade`` (optional) is the broker trade id of the fill this order reacts to: it is
    placed right after that fill (a protective stop after an entry). Real brokers ignore it;
    the paper exchange uses it to match the order against the bar of that fill (see
    :mod:`live.adapters.paper.fill_model`). ``oco_group`` (optional, at most
    :data:`OCO_GROUP_MAX_CHARS` chars) makes the order one-cancels-other with every order of
    the same group and symbol: the first fill of any member cancels the other open members
    (only on a broker with :attr:`Broker.supports_oco`). ``market_protection_pct`` (MARKET
    and SL-M orders): the order may fill at most this many percent through its reference
    (the last price when placed; a stop's trigger) - Kite's ``market_protection``, which
    its API requires on market orders; the paper exchange applies the same cap.
    ``algo_id`` (SEBI's algo framework): the exchange-issued id of the approved algo version
    sending the order; a broker sends it with the order (Kite's ``algo_id`` order parameter;
    the tag stays the client key) and the paper exchange records it.
    """

    client_key: str
    symbol: str
    exchange: str
    side: Side
    qty: int
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    trigger_price: float | None = None
    product: str = "NRML"
    validity: str = "DAY"
    after_trade: str | None = None
    oco_group: str | None = None
    market_protection_pct: float | None = None
    tradingsymbol: str | None = None  # the contract (Kite's tradingsymbol); None: ``symbol``
    expiry: date | None = None
    venue: str | None = None  # the venue a smart order router sends it to (live.sor)
    # the exchange-issued algo id of the version (SEBI's algo framework); None: none
    algo_id: str | None = None

    def __post_init__(self) -> None:
        if not self.client_key or len(self.client_key) > TAG_MAX_CHARS:
            raise BrokerInputError(f"client_key {self.client_key!r}: 1..{TAG_MAX_CHARS} chars")
        if self.qty <= 0:
            raise BrokerInputError(f"qty {self.qty!r} must be positive")
        needs_limit = self.order_type in (OrderType.LIMIT, OrderType.SL)
        if needs_limit and (self.limit_price is None or self.limit_price <= 0):
            raise BrokerInputError(f"{self.order_type} order needs a positive limit_price")
        needs_trigger = self.order_type in (OrderType.SL, OrderType.SL_M)
        if needs_trigger and (self.trigger_price is None or self.trigger_price <= 0):
            raise BrokerInputError(f"{self.order_type} order needs a positive trigger_price")
        if self.after_trade is not None and not 0 < len(self.after_trade) <= TRADE_ID_MAX_CHARS:
            raise BrokerInputError(
                f"after_trade {self.after_trade!r}: 1..{TRADE_ID_MAX_CHARS} chars when set")
        if self.oco_group is not None and not 0 < len(self.oco_group) <= OCO_GROUP_MAX_CHARS:
            raise BrokerInputError(
                f"oco_group {self.oco_group!r}: 1..{OCO_GROUP_MAX_CHARS} chars when set")
        protection = self.market_protection_pct
        if protection is not None and not 0 < protection <= MAX_MARKET_PROTECTION_PCT:
            raise BrokerInputError(f"market_protection_pct {protection!r}: in (0, "
                                   f"{MAX_MARKET_PROTECTION_PCT:g}] when set")
        if self.algo_id is not None and not ALGO_ID_PATTERN.fullmatch(self.algo_id):
            raise BrokerInputError(f"algo_id {self.algo_id!r}: 1..20 alphanumeric characters "
                                   "(an exchange-issued algo id) when set")


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The classified result of submit / modify / cancel. ``not_sent`` (only with
    ``REJECTED``): the command certainly never reached the broker and may be retried."""

    outcome: Outcome
    broker_order_id: str | None = None
    reason: str = ""
    not_sent: NotSent | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderReport:
    """The broker's view of one order."""

    broker_order_id: str
    client_key: str | None
    symbol: str
    side: Side
    qty: int
    filled_qty: int
    avg_fill_price: float
    state: OrderState
    order_type: OrderType
    limit_price: float | None
    ts: datetime
    reason: str = ""
    # the exchange algo id the broker holds for the order (None: none, or not reported)
    algo_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FillReport:
    """One execution. ``trade_id`` is unique per broker: a fill seen twice is one fill."""

    trade_id: str
    broker_order_id: str
    client_key: str | None
    symbol: str
    side: Side
    qty: int
    price: float
    ts: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class PositionReport:
    """Net position per symbol (signed quantity: long > 0)."""

    symbol: str
    net_qty: int
    avg_price: float


@dataclass(frozen=True, kw_only=True, slots=True)
class PushedOrderUpdates:
    """Order updates a broker pushed (Kite's postbacks) since they were last drained, and
    the ones it could not read. Hints only: the runner then reads the books."""

    orders: tuple[OrderReport, ...] = ()
    problems: tuple[str, ...] = ()


@runtime_checkable
class PushesOrderUpdates(Protocol):
    """A broker that pushes order updates (Kite); the runner drains them at each bar/Idle."""

    def drain_order_updates(self) -> PushedOrderUpdates: ...


@runtime_checkable
class HasSession(Protocol):
    """A broker with a login session that can die (Kite's access token): once
    ``session_invalid`` it sends nothing and answers no query, and the runner holds."""

    @property
    def session_invalid(self) -> bool: ...


@runtime_checkable
class Broker(Protocol):
    """What every adapter provides. Calls never raise for a broker-side refusal (that is
    ``REJECTED``) or a lost answer (``UNKNOWN``); they raise only for bad input.

    ``supports_oco`` is True only for a broker that cancels the other open orders of an
    ``oco_group`` itself, atomically with the fill of one member. A broker without native OCO
    cannot be trusted to never fill two siblings of a group (the caller's cancel may arrive
    after the second fill), so it refuses requests with an ``oco_group``
    (:class:`BrokerInputError`) and the caller must manage the pair itself.
    """

    name: str
    supports_oco: bool

    def submit(self, request: OrderRequest) -> SubmitResult: ...

    def modify(self, broker_order_id: str, *, qty: int | None = None,
               limit_price: float | None = None,
               trigger_price: float | None = None) -> SubmitResult: ...

    def cancel(self, broker_order_id: str) -> SubmitResult: ...

    def status(self, *, broker_order_id: str | None = None,
               client_key: str | None = None) -> OrderReport | None:
        """The order by id or by client key (tag); None when the broker has no such order."""
        ...

    def orders(self) -> list[OrderReport]: ...

    def fills(self) -> list[FillReport]: ...

    def positions(self) -> list[PositionReport]: ...
