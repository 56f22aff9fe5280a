"""Typed live messages: events (what happened, past tense) and commands (what to do).

Every message is immutable, keyword-only and carries ``trace_id`` (one id from bar to fill),
``ts_event`` (when it happened, exchange time, tz-aware; kept with its fixed UTC offset) and
``ts_init`` (when we built it; defaults to ``ts_event``). :func:`to_record` and
:func:`from_record` give each message one exact JSON-ready form (floats exact, NaN refused)
with its ``kind`` and ``schema_version``: what the journal stores and replays. Ids are
derived, never random, so replay reproduces them.
"""

from __future__ import annotations

import base64
import hashlib
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timezone
from enum import Enum, StrEnum
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

from live.broker import TAG_MAX_CHARS, OrderRequest, OrderType, Outcome, Side
from live.canonical import digest
from strategies.errors import StratopsError

CLIENT_KEY_PREFIX = "so"


class EventValueError(StratopsError, ValueError):
    """A message field with a value it cannot hold (naive time, NaN, wrong type, ...)."""


class EventEncodeError(StratopsError, ValueError):
    """A message that has no exact record form (e.g. a NaN smuggled past validation)."""


class EventDecodeError(StratopsError, ValueError):
    """A record that is not a known message: unknown kind or schema version, bad fields."""


class SignalSide(StrEnum):
    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class TradingMode(StrEnum):
    """How far a strategy version is trusted: journal-only, small size, full size."""

    SHADOW = "shadow"
    CANARY = "canary"
    LIVE = "live"


class KillMode(StrEnum):
    """Kill-switch modes, least to most severe (see :data:`KILL_SEVERITY`)."""

    OFF = "off"
    REDUCE = "reduce"  # only orders that reduce a position
    HALT = "halt"  # no new entries (risk-reducing orders - exits, stops - still flow)
    FLATTEN = "flatten"  # close every position, then halt


KILL_SEVERITY: Mapping[KillMode, int] = {m: i for i, m in enumerate(KillMode)}


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


# --- field codecs: one per annotated type, built once per class ---------------------------

class _Bad(StratopsError):
    """Internal: a converter refused a value (the message says why)."""


@dataclass(frozen=True, slots=True)
class _Codec:
    convert: Callable[[Any], Any]  # constructor input -> stored value (raises _Bad)
    encode: Callable[[Any], Any]  # stored value -> JSON value
    decode: Callable[[Any], Any]  # JSON value -> constructor input


def _same(value: Any) -> Any:
    return value


def _conv_str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected str, got {type(value).__name__}")
    return value


def _conv_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"expected int, got {type(value).__name__}")
    return value


def _conv_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"expected bool, got {type(value).__name__}")
    return value


def _conv_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"expected float, got {type(value).__name__}")
    if not math.isfinite(value):
        raise _Bad("not finite (NaN and infinity cannot be journaled)")
    return float(value)


def _enc_float(value: float) -> float:
    if not math.isfinite(value):
        raise _Bad("not finite (NaN and infinity cannot be journaled)")
    return value


def _conv_datetime(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise _Bad(f"expected datetime, got {type(value).__name__}")
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset is None:
        raise _Bad("naive datetime (timestamps must be timezone-aware)")
    if type(value.tzinfo) is not timezone:
        # Pin the offset: the message then equals its journaled form, even at a DST fold.
        return value.replace(tzinfo=timezone(offset))
    return value


def _dec_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Bad(f"expected ISO timestamp string, got {type(value).__name__}")
    return datetime.fromisoformat(value)


def _conv_str_tuple(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _Bad(f"expected a sequence of str, got {type(value).__name__}")
    return tuple(_conv_str(item) for item in value)


def _conv_opt_float_tuple(value: Any) -> tuple[float | None, ...]:
    if not isinstance(value, list | tuple):
        raise _Bad(f"expected a sequence of float or None, got {type(value).__name__}")
    return tuple(None if item is None else _conv_float(item) for item in value)


def _enc_opt_float_tuple(value: tuple[float | None, ...]) -> list[float | None]:
    return [None if item is None else _enc_float(item) for item in value]


def _conv_date(value: Any) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _Bad(f"expected date, got {type(value).__name__}")
    return value


def _dec_date(value: Any) -> date:
    if not isinstance(value, str):
        raise _Bad(f"expected ISO date string, got {type(value).__name__}")
    return date.fromisoformat(value)


def _enum_codec(enum_type: type[Enum]) -> _Codec:
    def convert(value: Any) -> Enum:
        try:
            return enum_type(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in enum_type)
            raise _Bad(f"not one of {allowed}") from None
    return _Codec(convert, lambda member: member.value, _same)


def _optional(inner: _Codec) -> _Codec:
    return _Codec(
        lambda v: None if v is None else inner.convert(v),
        lambda v: None if v is None else inner.encode(v),
        lambda v: None if v is None else inner.decode(v),
    )


_SIMPLE: Mapping[Any, _Codec] = {
    str: _Codec(_conv_str, _same, _same),
    int: _Codec(_conv_int, _same, _same),
    bool: _Codec(_conv_bool, _same, _same),
    float: _Codec(_conv_float, _enc_float, _same),
    datetime: _Codec(_conv_datetime, lambda dt: dt.isoformat(), _dec_datetime),
    date: _Codec(_conv_date, lambda d: d.isoformat(), _dec_date),
    tuple[str, ...]: _Codec(_conv_str_tuple, list, _same),
    tuple[float | None, ...]: _Codec(_conv_opt_float_tuple, _enc_opt_float_tuple, _same),
}


def _codec_for(hint: Any) -> _Codec:
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return _optional(_codec_for(args[0]))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum_codec(hint)
    try:
        return _SIMPLE[hint]
    except KeyError:
        raise TypeError(f"no codec for field type {hint!r}") from None


_SPECS: dict[type, tuple[tuple[str, _Codec], ...]] = {}


def _spec(cls: type) -> tuple[tuple[str, _Codec], ...]:
    spec = _SPECS.get(cls)
    if spec is None:
        hints = get_type_hints(cls)
        spec = tuple((f.name, _codec_for(hints[f.name])) for f in fields(cls))
        _SPECS[cls] = spec
    return spec


# --- the message base ---------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    """Common header. ``trace_id`` may be "" only where ``TRACE_REQUIRED`` is False."""

    KIND: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1
    TRACE_REQUIRED: ClassVar[bool] = True

    trace_id: str
    ts_event: datetime
    ts_init: datetime | None = None

    def __post_init__(self) -> None:
        for name, codec in _spec(type(self)):
            value = getattr(self, name)
            try:
                converted = codec.convert(value)
            except _Bad as exc:
                raise EventValueError(f"{self.KIND}.{name}={value!r:.80}: {exc}") from None
            if converted is not value:
                object.__setattr__(self, name, converted)
        if self.ts_init is None:
            object.__setattr__(self, "ts_init", self.ts_event)
        self._check_domain()

    def _check_domain(self) -> None:
        if self.TRACE_REQUIRED and not self.trace_id:
            raise EventValueError(f"{self.KIND}.trace_id is empty (trade messages need one)")
        key = getattr(self, "client_key", None)
        if key is not None and not 0 < len(key) <= TAG_MAX_CHARS:
            raise EventValueError(f"{self.KIND}.client_key={key!r}: 1..{TAG_MAX_CHARS} chars")
        qty = getattr(self, "qty", None)
        if qty is not None and qty <= 0:
            raise EventValueError(f"{self.KIND}.qty={qty!r} must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class Event(Message):
    """Something that happened (past tense)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Command(Message):
    """Something to do (imperative); carries the idempotency key of what it acts on."""


# --- events -------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class BarClosed(Event):
    """``warm``: a warm-up bar from before the feed's live edge or a replay's first traded
    bar (the Kite catch-up, a replay's stored sessions): history only, never traded on."""

    KIND: ClassVar[str] = "BarClosed"
    TRACE_REQUIRED: ClassVar[bool] = False
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    warm: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalRaised(Event):
    KIND: ClassVar[str] = "SignalRaised"
    strategy: str
    version: str
    symbol: str
    side: SignalSide
    reason: str  # "entry", "exit", "cutoff", "stop", ...


@dataclass(frozen=True, kw_only=True, slots=True)
class GovernanceDecided(Event):
    """``regime`` and ``regime_probability``: the version's classifier at the decided bar
    (None: the version carries no classifier; ``"unknown"`` with None: not classifiable).
    ``confidence``: an entry's calibrated probability of being profitable (None: an exit,
    a version without a calibrator, or one that could not be read - the reason says).

    Provenance of a governed decision: ``features`` and ``feature_values`` - the regime
    features at that bar, as the classifier read them (None: NaN, not known yet) -,
    ``drift``, the strategy's drift and kill-switch state then, and ``ensemble``, the
    approved ensemble version a member decided under (``strategy``/``version`` name the
    member)."""

    KIND: ClassVar[str] = "GovernanceDecided"
    strategy: str
    version: str
    allowed: bool
    reason: str
    regime: str | None = None
    regime_probability: float | None = None
    confidence: float | None = None  # an entry's calibrated P(profitable); None: none
    features: tuple[str, ...] = ()
    feature_values: tuple[float | None, ...] = ()
    drift: str | None = None
    # the approved ensemble version the decision was made under ("ensemble_nifty v1");
    # None: the strategy's own approval
    ensemble: str | None = None

    def _check_domain(self) -> None:
        Event._check_domain(self)
        if len(self.features) != len(self.feature_values):
            raise EventValueError(f"GovernanceDecided: {len(self.features)} features named, "
                                  f"{len(self.feature_values)} values")


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskChecked(Event):
    """The risk engine's answer: a denial is this event with ``passed=False``, not a raise."""

    KIND: ClassVar[str] = "RiskChecked"
    strategy: str
    symbol: str
    passed: bool
    check: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderIntended(Event):
    """The decision to send one order, journaled *before* anything is sent."""

    KIND: ClassVar[str] = "OrderIntended"
    client_key: str
    strategy: str
    version: str
    symbol: str
    exchange: str
    side: Side
    qty: int
    order_type: OrderType
    limit_price: float | None = None
    trigger_price: float | None = None
    product: str = "NRML"
    validity: str = "DAY"
    mode: TradingMode
    # a protective exit (stop-loss / trailing stop / target) of the position opened by this
    # broker trade, placed right after it; its stop and target share one OCO group
    after_trade: str | None = None
    oco_group: str | None = None
    # market (and stop-market) orders: a limit at most this many percent through the
    # reference (Kite's market_protection; the paper exchange applies the same cap)
    market_protection_pct: float | None = None
    # an order above the freeze quantity is sent as slices: this is slice ``slice_index`` of
    # ``slice_count``, of an order of ``parent_qty`` units (see live.orders.slicing)
    slice_index: int = 0
    slice_count: int = 1
    parent_qty: int | None = None
    # the futures contract the order trades (from the instrument master; None when the
    # runner has no master, e.g. a non-NSE venue): the broker sends ``tradingsymbol``
    tradingsymbol: str | None = None
    expiry: date | None = None
    # the venue the smart order router sends it to (live.sor); None: the only broker
    venue: str | None = None
    # the exchange-issued algo id of the approved version (SEBI's algo framework; the Kite
    # adapter sends it as the order's ``algo_id``, the paper exchange records it); None:
    # a version without one
    algo_id: str | None = None

    @property
    def protective(self) -> bool:
        return self.after_trade is not None

    def to_request(self) -> OrderRequest:
        """The broker request this intent stands for (same key, same fields)."""
        return OrderRequest(client_key=self.client_key, symbol=self.symbol,
                            exchange=self.exchange, side=self.side, qty=self.qty,
                            order_type=self.order_type, limit_price=self.limit_price,
                            trigger_price=self.trigger_price, product=self.product,
                            validity=self.validity, after_trade=self.after_trade,
                            oco_group=self.oco_group,
                            market_protection_pct=self.market_protection_pct,
                            tradingsymbol=self.tradingsymbol, expiry=self.expiry,
                            venue=self.venue, algo_id=self.algo_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderSubmitted(Event):
    """The classified answer to a submit: confirmed, rejected or unknown (in doubt)."""

    KIND: ClassVar[str] = "OrderSubmitted"
    client_key: str
    broker_order_id: str | None
    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderAcknowledged(Event):
    KIND: ClassVar[str] = "OrderAcknowledged"
    client_key: str
    broker_order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRejected(Event):
    KIND: ClassVar[str] = "OrderRejected"
    client_key: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderCancelled(Event):
    KIND: ClassVar[str] = "OrderCancelled"
    client_key: str
    broker_order_id: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderModified(Event):
    """The broker confirmed a change to a working order (e.g. a trailing stop's trigger
    moved); ``None`` fields were not changed."""

    KIND: ClassVar[str] = "OrderModified"
    client_key: str
    broker_order_id: str
    qty: int | None = None
    limit_price: float | None = None
    trigger_price: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRetried(Event):
    """A command the broker certainly did not receive (``error_class`` transient or
    throttled), sent again after ``delay_ms``; ``attempt`` 2 is the first retry
    (:mod:`live.orders.retry`). Folds to nothing: the outcome that follows is what counts."""

    KIND: ClassVar[str] = "OrderRetried"
    client_key: str
    command: str  # submit | cancel | modify
    attempt: int
    error_class: str
    delay_ms: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderFilled(Event):
    """One execution; ``trade_id`` is the broker's, so a fill seen twice counts once."""

    KIND: ClassVar[str] = "OrderFilled"
    client_key: str
    broker_order_id: str
    trade_id: str
    symbol: str
    side: Side
    qty: int
    price: float


@dataclass(frozen=True, kw_only=True, slots=True)
class InternalCrossStarted(Event):
    """The marker of an internal cross (``compliance.yaml`` ``self_trade: net``), journaled
    before the resting order is touched at the broker: ``strategy``'s market order
    ``cross_id`` (its client key; ``order_qty`` units, never sent for the crossed part) of
    ``side`` is to trade up to ``qty`` units against our resting limit order
    ``resting_key`` (another strategy's working entry, ``resting_qty`` units in total at
    the broker when the cross started) at its limit ``price``. The resting order is
    reduced (modified, or cancelled when all of its open quantity is crossed) through the
    normal command path; :class:`InternalCrossed` closes the cross with what was really
    withdrawn. Started and not finished (a crash in between): the broker's order book
    decides on restart (:mod:`live.runner.crossing`)."""

    KIND: ClassVar[str] = "InternalCrossStarted"
    cross_id: str
    strategy: str
    version: str
    symbol: str
    side: Side
    qty: int
    order_qty: int  # the whole market order's quantity (its remainder goes to market)
    price: float
    resting_key: str
    resting_strategy: str
    resting_qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class InternalCrossed(Event):
    """The end of an internal cross: ``crossed_qty`` units (0: aborted - nothing was
    withdrawn at the broker) booked to both strategies at the resting order's ``price``
    without a broker fill; ``trade_id`` (``X`` + the cross id) names it where a fill's
    trade id would (protective orders placed after it). ``reason`` says how the quantity
    was established (the broker's confirmed reduction, or its book's final quantities)."""

    KIND: ClassVar[str] = "InternalCrossed"
    cross_id: str
    trade_id: str
    crossed_qty: int
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PositionChanged(Event):
    KIND: ClassVar[str] = "PositionChanged"
    strategy: str
    symbol: str
    net_qty: int
    avg_price: float
    realised_pnl_inr: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TradeExited(Event):
    KIND: ClassVar[str] = "TradeExited"
    strategy: str
    symbol: str
    reason: str
    pnl_inr: float


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthObserved(Event):
    """One closed trade of ``strategy`` seen by the health monitor (under the exit's trace):
    its P&L against the version's expectation and both CUSUM statistics after it
    (:mod:`strategies.health`; zero again after an alarm). ``breach`` names what alarmed
    ("" while healthy); ``proposal`` what became of the rollback request it filed."""

    KIND: ClassVar[str] = "HealthObserved"
    strategy: str
    symbol: str
    version: int
    trades: int  # trades in the statistics (since the start or the last alarm)
    pnl_inr: float
    z: float
    cusum_pnl: float
    cusum_hit: float
    breach: str = ""
    proposal: str = ""
    # the slippage CUSUM after the fills folded in at this observation (``fills_observed``
    # of them; ``fills`` in the statistics): zero in a journal written before it
    cusum_slip: float = 0.0
    fills: int = 0
    fills_observed: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertRaised(Event):
    KIND: ClassVar[str] = "AlertRaised"
    TRACE_REQUIRED: ClassVar[bool] = False
    severity: Severity
    code: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybookActed(Event):
    """What a playbook did about an alert, under the alert's trace: ``outcome`` is
    ``applied`` (an auto action carried out), ``proposed`` (a confirm-first action waiting
    for ``stratops playbook confirm <proposal>``), ``confirmed`` (its signed kill command
    applied), ``rate_limited`` or ``refused`` (``detail`` says why)."""

    KIND: ClassVar[str] = "PlaybookActed"
    playbook: str
    alert_code: str
    action: str  # pause | reduce | flatten | reroute | page
    scope: str  # "all", a strategy, or (reroute) the venue left
    outcome: str
    proposal: str = ""  # the id a confirm-first action is confirmed by
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModeChanged(Event):
    KIND: ClassVar[str] = "ModeChanged"
    TRACE_REQUIRED: ClassVar[bool] = False
    strategy: str
    mode: TradingMode
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class KillSwitchChanged(Event):
    """``scope`` is :data:`KILL_SCOPE_ALL` or one strategy's name."""

    KIND: ClassVar[str] = "KillSwitchChanged"
    TRACE_REQUIRED: ClassVar[bool] = False
    scope: str
    mode: KillMode
    actor: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReconciliationCompleted(Event):
    KIND: ClassVar[str] = "ReconciliationCompleted"
    TRACE_REQUIRED: ClassVar[bool] = False
    clean: bool
    issues: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ParentOrderStarted(Event):
    """An entry worked as a parent order by an execution algo (:mod:`live.algos`): its spec
    (``algo``, canonical JSON), arrival price, deadline and planned children, each
    ``"<qty>@<not-before ISO time>"``; its children are intents on the same trace."""

    KIND: ClassVar[str] = "ParentOrderStarted"
    strategy: str
    version: str
    symbol: str
    side: Side
    qty: int
    lot_size: int
    algo: str
    arrival_price: float
    deadline: datetime
    schedule: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ParentOrderFinished(Event):
    """A parent order done: what filled, the remainder left at its end and what became of
    it (``outcome``: ``complete``, ``market`` - sent at market at the deadline - ``cancel``
    or ``stopped`` - by an exit or the kill switch)."""

    KIND: ClassVar[str] = "ParentOrderFinished"
    strategy: str
    symbol: str
    filled_qty: int
    remainder_qty: int
    outcome: str


# --- commands -----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class SubmitOrder(Command):
    KIND: ClassVar[str] = "SubmitOrder"
    client_key: str
    symbol: str
    exchange: str
    side: Side
    qty: int
    order_type: OrderType
    limit_price: float | None = None
    trigger_price: float | None = None
    product: str = "NRML"
    validity: str = "DAY"
    after_trade: str | None = None
    oco_group: str | None = None
    market_protection_pct: float | None = None
    # the futures contract the order trades (from the instrument master; None when the
    # runner has no master, e.g. a non-NSE venue): the broker sends ``tradingsymbol``
    tradingsymbol: str | None = None
    expiry: date | None = None
    venue: str | None = None
    algo_id: str | None = None  # the version's exchange-issued algo id (SEBI; None: none)

    def to_request(self) -> OrderRequest:
        return OrderRequest(client_key=self.client_key, symbol=self.symbol,
                            exchange=self.exchange, side=self.side, qty=self.qty,
                            order_type=self.order_type, limit_price=self.limit_price,
                            trigger_price=self.trigger_price, product=self.product,
                            validity=self.validity, after_trade=self.after_trade,
                            oco_group=self.oco_group,
                            market_protection_pct=self.market_protection_pct,
                            tradingsymbol=self.tradingsymbol, expiry=self.expiry,
                            venue=self.venue, algo_id=self.algo_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelOrder(Command):
    KIND: ClassVar[str] = "CancelOrder"
    client_key: str
    broker_order_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModifyOrder(Command):
    """Move a working stop's trigger (a trailing stop tightening) or lower a working order's
    total quantity (``qty``: an internal cross withdrawing part of a resting order);
    execution journals the ``OrderModified`` the broker confirmed. Idempotent: an order
    whose confirmed trigger / quantity is already the one asked, or that is no longer open,
    is left alone."""

    KIND: ClassVar[str] = "ModifyOrder"
    client_key: str
    broker_order_id: str
    trigger_price: float | None = None
    qty: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckRisk(Command):
    """Ask the pre-trade risk engine about one order before it is intended (the fields of
    :class:`~live.risk.interface.OrderProposal`; its ``ts`` is ``ts_event``); answered by a
    ``RiskChecked`` event. ``check_id``: this check's idempotency key (the order's client
    key and the sender's check count) - a redelivery carries the same one and is answered
    once; the same order checked again (a later bar, a second try) has a new one."""

    KIND: ClassVar[str] = "CheckRisk"
    check_id: str
    strategy: str
    symbol: str
    side: int  # +1 buy, -1 sell
    qty: int
    reference_price: float
    reduces_exposure: bool
    lot_size: int = 1
    exchange: str = "NFO"
    product: str = "NRML"
    instrument_type: str = "index_future"
    expiry: date | None = None
    reference_ts: datetime | None = None
    order_type: str = "MARKET"
    band_base_price: float | None = None
    slice_index: int = 0  # of an order sliced at the freeze quantity (0: unsliced/first)
    limit_price: float | None = None  # a limit order's price (self-trade prevention)
    algo_id: str | None = None  # the version's exchange-issued algo id (None: unregistered)
    nets: bool = False  # the sender crosses a nettable resting order internally (net mode)


@dataclass(frozen=True, kw_only=True, slots=True)
class BarSignals(Command):
    """The signal service's reading of one closed bar for one strategy
    (``stratops svc signal``, :mod:`live.svc.signal`): the strategy's raw signals at that bar
    (``le``, ``lx``, ``se``, ``sx``; ``warming``: its kernel cannot read the history yet, so
    nothing is decided on the bar) and its regime classifier's reading (None: the version
    carries none; ``"unknown"``: not classifiable) with what identifies the classifier -
    ``classifier_digest`` (its manifest's SHA-256) and ``features_digest`` (the regime
    feature definitions it read) - and the feature row it read (``feature_values``, None:
    NaN). The execution service decides on it (``svc execution --signals remote``) after
    cross-checking that reading against its own (:mod:`live.runner.remote_signal_room`);
    message id ``BarSignals:<strategy>:<symbol>:<ts>``, ``trace_id`` the bar's entry trace
    (the one its decision would journal)."""

    KIND: ClassVar[str] = "BarSignals"
    strategy: str
    version: str
    symbol: str
    le: bool
    lx: bool
    se: bool
    sx: bool
    warming: bool = False
    regime: str | None = None
    regime_probability: float | None = None
    classifier_digest: str | None = None
    features_digest: str | None = None
    feature_values: tuple[float | None, ...] = ()


KILL_SCOPE_ALL = "all"

EVENT_TYPES: tuple[type[Event], ...] = (
    BarClosed, SignalRaised, GovernanceDecided, RiskChecked, OrderIntended, OrderSubmitted,
    OrderAcknowledged, OrderRejected, OrderCancelled, OrderModified, OrderFilled,
    PositionChanged, TradeExited, AlertRaised, ModeChanged, KillSwitchChanged,
    ReconciliationCompleted, ParentOrderStarted, ParentOrderFinished,
    OrderRetried, PlaybookActed, InternalCrossStarted, InternalCrossed, HealthObserved,
)
COMMAND_TYPES: tuple[type[Command], ...] = (SubmitOrder, CancelOrder, ModifyOrder, CheckRisk,
                                            BarSignals)
MESSAGE_TYPES: Mapping[str, type[Message]] = {c.KIND: c for c in EVENT_TYPES + COMMAND_TYPES}


def prepare_codecs() -> int:
    """Build every message type's codec now (each is built on its type's first use
    otherwise: ``typing.get_type_hints``, ~0.4 ms a type, on a live bar's path); returns
    how many types."""
    for cls in MESSAGE_TYPES.values():
        _spec(cls)
    return len(MESSAGE_TYPES)


# --- records ------------------------------------------------------------------------------

def to_record(message: Message) -> dict[str, Any]:
    """``{"kind", "schema_version", "fields"}`` with times ISO, enums as values, floats exact.

    Raises
    ------
    EventEncodeError
        If a field cannot be represented exactly (NaN, infinity, wrong type).
    """
    cls = type(message)
    if MESSAGE_TYPES.get(getattr(cls, "KIND", "")) is not cls:
        raise EventEncodeError(f"{message!r:.80} is not a journal message type")
    out: dict[str, Any] = {}
    for name, codec in _spec(cls):
        value = getattr(message, name)
        try:
            out[name] = codec.encode(value)
        except (_Bad, AttributeError, TypeError) as exc:
            raise EventEncodeError(f"{cls.KIND}.{name}={value!r:.80}: {exc}") from None
    return {"kind": cls.KIND, "schema_version": cls.SCHEMA_VERSION, "fields": out}


def from_record(record: Mapping[str, Any]) -> Message:
    """The message a :func:`to_record` dict (or its JSON round trip) stands for.

    Raises
    ------
    EventDecodeError
        Unknown ``kind`` or ``schema_version``, missing / extra / invalid fields.
    """
    if not isinstance(record, Mapping):
        raise EventDecodeError(f"record must be a mapping, got {type(record).__name__}")
    kind, version = record.get("kind"), record.get("schema_version")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventDecodeError(f"unknown message kind {kind!r}")
    if version != cls.SCHEMA_VERSION:
        raise EventDecodeError(f"{kind}: unsupported schema_version {version!r} "
                               f"(this code reads {cls.SCHEMA_VERSION})")
    raw = record.get("fields")
    if not isinstance(raw, Mapping):
        raise EventDecodeError(f"{kind}: 'fields' must be a mapping, got {raw!r:.80}")
    spec = dict(_spec(cls))
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise EventDecodeError(f"{kind}: unknown fields {unknown}")
    try:
        kwargs = {name: spec[name].decode(value) for name, value in raw.items()}
        return cls(**kwargs)
    except (_Bad, EventValueError, TypeError, ValueError) as exc:
        raise EventDecodeError(f"{kind}: {exc}") from None


_FAST: dict[type, tuple[tuple[str, Any], ...]] = {}


def _fast_decoder(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        inner = _fast_decoder(next(a for a in get_args(hint) if a is not type(None)))
        return lambda v: None if v is None else inner(v)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    return {float: float, datetime: datetime.fromisoformat, tuple[str, ...]: tuple,
            tuple[float | None, ...]: tuple, date: date.fromisoformat}.get(hint, _same)


def from_record_trusted(record: Mapping[str, Any]) -> Message:
    """:func:`from_record` for records of a journal whose chain was just verified: the same
    message, built without re-validating every field (replay speed). Anything unexpected
    falls back to the validating decoder."""
    kind = record.get("kind")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    raw = record.get("fields")
    if cls is None or record.get("schema_version") != cls.SCHEMA_VERSION or \
            not isinstance(raw, dict):
        return from_record(record)
    decoders = _FAST.get(cls)
    if decoders is None:
        hints = get_type_hints(cls)
        decoders = _FAST[cls] = tuple((f.name, _fast_decoder(hints[f.name]))
                                      for f in fields(cls))
    if len(raw) != len(decoders):
        return from_record(record)
    message = object.__new__(cls)
    try:
        for name, decode in decoders:
            object.__setattr__(message, name, decode(raw[name]))
    except (KeyError, TypeError, ValueError):
        return from_record(record)
    if message.ts_init is None:
        object.__setattr__(message, "ts_init", message.ts_event)
    return message


# --- deterministic ids --------------------------------------------------------------------

def new_trace_id(strategy: str, symbol: str, ts_event: datetime, seq: int) -> str:
    """A trace id from what started the trace; the same inputs (in replay) give the same id.

    ``seq`` tells apart traces of one strategy and symbol at one instant.
    """
    if ts_event.tzinfo is None or ts_event.utcoffset() is None:
        raise EventValueError(f"ts_event={ts_event!r} is naive (timestamps must be tz-aware)")
    key = {"strategy": strategy, "symbol": symbol, "seq": seq,
           "ts_event": ts_event.astimezone(UTC).isoformat()}
    return "tr" + digest(key)[:30]


def alert_trace_id(ts_event: datetime, code: str, message: str) -> str:
    """The trace of an alert raised with none: the same alert (in replay) gives the same id,
    and what is done about it (:class:`PlaybookActed`) is journaled under it."""
    if ts_event.tzinfo is None or ts_event.utcoffset() is None:
        raise EventValueError(f"ts_event={ts_event!r} is naive (timestamps must be tz-aware)")
    return "al" + digest({"code": code, "message": message,
                          "ts_event": ts_event.astimezone(UTC).isoformat()})[:30]


def cross_trade_id(cross_id: str) -> str:
    """The trade id an internal cross is booked under (never a broker's: ``X`` + its id)."""
    return "X" + cross_id


def client_key(trace_id: str, leg: int = 0) -> str:
    """The idempotency key (broker tag) of order ``leg`` of a trace: ``so`` + 16 base32 chars.

    Deterministic, so a retry or a replay produces the same key and a duplicate is visible.
    """
    if not trace_id:
        raise EventValueError("client_key needs a non-empty trace_id")
    if leg < 0:
        raise EventValueError(f"leg={leg!r} must be >= 0")
    raw = hashlib.sha256(f"{trace_id}:{leg}".encode()).digest()
    return CLIENT_KEY_PREFIX + base64.b32encode(raw).decode("ascii")[:16]


def submit_order_for(intent: OrderIntended, *, ts_event: datetime) -> SubmitOrder:
    """The command that sends ``intent`` (same trace and client key)."""
    return SubmitOrder(trace_id=intent.trace_id, ts_event=ts_event, client_key=intent.client_key,
                       symbol=intent.symbol, exchange=intent.exchange, side=intent.side,
                       qty=intent.qty, order_type=intent.order_type,
                       limit_price=intent.limit_price, trigger_price=intent.trigger_price,
                       product=intent.product, validity=intent.validity,
                       after_trade=intent.after_trade, oco_group=intent.oco_group,
                       market_protection_pct=intent.market_protection_pct,
                       tradingsymbol=intent.tradingsymbol, expiry=intent.expiry,
                       venue=intent.venue, algo_id=intent.algo_id)
