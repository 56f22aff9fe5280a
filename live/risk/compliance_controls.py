"""The compliance controls the pre-trade engine runs on every order proposal
(:class:`~live.risk.pretrade.PreTradeRiskEngine` with ``compliance=``):

- ``order_to_trade_ratio``: an entry that would take its strategy/symbol/day's ratio (order
  messages over trades, :mod:`live.order_flow`) - or the whole desk's that day, the
  exchange's per-member view - above the ``throttle_ratio`` in force that day is denied; at
  ``alert_fraction`` of it the decision carries a near-breach notice the runner journals as
  an ``otr_near_breach`` alert (once per scope, day and run). No thresholds in force on the
  day: entries are denied (fail closed).
- ``self_trade``: an order that would cross a working order of ours (any strategy, any
  account the runner trades) on the same instrument - a market order against any resting
  opposite order, a limit against an opposite limit at or through its price - is refused;
  the denial names both client keys. A risk-reducing order is never refused: it passes with
  the cross as its warning (the runner alerts). With ``self_trade: net``, a cross the runner
  can net (:func:`nettable`: a market order against another strategy's open limit entry in
  the same contract) passes: the runner crosses it internally (:mod:`live.orders.crossing`).
- ``algo_id``: with ``algo.require_algo_id``, in a run that sends orders (canary, live), an
  order that carries no exchange algo id, or one that is not an approval record's id of its
  strategy in ``algo.approvals``, is denied (an exit: warned) - behind the start-time
  refusal of a version without a record, so no order reaches the broker without its id.
- ``algo_rate``: an order of a version without an exchange algo id (an unregistered algo)
  that would reach the exchange's unregistered-algo orders-per-second threshold in force
  that day (``algo.unregistered_orders_per_second``) is denied (an exit: warned).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from live.broker import OrderType, Side
from live.compliance_rules.config import ComplianceConfig
from live.order_flow import FlowCount, exchange_day
from live.risk.interface import OrderProposal, RiskDecision
from live.state import LiveState, OrderRecord, OrderStatus

OTR = "order_to_trade_ratio"
SELF_TRADE = "self_trade"
ALGO_ID = "algo_id"
ALGO_RATE = "algo_rate"
NEAR_BREACH = "otr_near_breach"  # the alert code of a near-breach notice
DESK = "desk (all strategies and symbols)"  # the exchange's per-member view of the ratio
_WORKING = frozenset({OrderStatus.INTENDED, OrderStatus.UNKNOWN, OrderStatus.OPEN})
_TRIGGERED = frozenset({OrderType.SL, OrderType.SL_M})  # not in the book until triggered
_SIDE = {Side.BUY: 1, Side.SELL: -1}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the compliance controls say about one proposal: a denial (or None), a warning
    for a risk-reducing order that passes, and a near-breach notice."""

    denial: RiskDecision | None = None
    warning: str = ""
    notice: str = ""


def crossing_order(p: OrderProposal, state: LiveState) -> OrderRecord | None:
    """The first working order of ours that ``p`` would trade against, else None."""
    for order in state.working.values():
        if order.status not in _WORKING or order.symbol != p.symbol or \
                _SIDE[order.side] == p.side or order.order_type in _TRIGGERED:
            continue
        if p.expiry is not None and order.expiry is not None and p.expiry != order.expiry:
            continue  # another contract of the same underlying
        if _crosses(p, order):
            return order
    return None


def nettable(p: OrderProposal, resting: OrderRecord, state: LiveState) -> bool:
    """Whether the runner may cross ``p`` internally against ``resting`` (``self_trade:
    net``): ``p`` a market order whose sender nets (``nets``: the runner's market slices -
    entries, exits, flattens), ``resting`` an
    OPEN, acknowledged limit entry (never a protective stop or target: their OCO siblings
    and entry links stay the broker's) of another strategy in the same contract, with open
    quantity and no cross of its own in progress."""
    if not p.nets or p.order_type != OrderType.MARKET.value or \
            resting.strategy == p.strategy:
        return False
    if resting.status is not OrderStatus.OPEN or resting.broker_order_id is None or \
            resting.order_type is not OrderType.LIMIT or resting.limit_price is None or \
            resting.protective or resting.qty - resting.filled_qty <= 0:
        return False
    if p.expiry != resting.expiry:
        return False
    return not any(not c.finished and c.started.resting_key == resting.client_key
                   for c in state.crosses.values())


def _crosses(p: OrderProposal, resting: OrderRecord) -> bool:
    if p.limit_price is None or resting.limit_price is None:
        return True  # a market order (ours or theirs) takes whatever rests opposite
    if p.side > 0:
        return p.limit_price >= resting.limit_price
    return p.limit_price <= resting.limit_price


class ComplianceControls:
    """The controls of ``compliance.yaml``, with the memory of near-breach notices given."""

    def __init__(self, config: ComplianceConfig, *, sends_orders: bool = True) -> None:
        """``sends_orders``: False for a shadow run (no order reaches a broker, so none needs
        an exchange algo id)."""
        self.config = config
        self.sends_orders = sends_orders
        self._noticed: set[tuple[str, date]] = set()
        self._algo_ids: dict[str, frozenset[str]] = {}
        for approval in config.algo.approvals:
            self._algo_ids[approval.strategy] = \
                self._algo_ids.get(approval.strategy, frozenset()) | {approval.algo_id}

    def check(self, p: OrderProposal, state: LiveState, orders_last_second: int) -> Verdict:
        """The verdict on ``p``; ``orders_last_second``: orders already passed on its
        exchange in the second before it (the engine's message-rate memory)."""
        day = exchange_day(p.ts)
        for control in (self._algo_id(p), self._self_trade(p, state),
                        self._algo_rate(p, day, orders_last_second)):
            if control is not None and not p.reduces_exposure:
                return Verdict(RiskDecision(False, *control))
            if control is not None:
                return Verdict(warning=f"{control[0]}: {control[1]}")
        return self._otr(p, state, day)

    def _self_trade(self, p: OrderProposal, state: LiveState) -> tuple[str, str] | None:
        resting = crossing_order(p, state)
        if resting is None:
            return None
        if self.config.self_trade == "net" and nettable(p, resting, state):
            return None  # crossed internally by the runner, never sent against it
        price = "market" if p.limit_price is None else f"limit {p.limit_price:g}"
        theirs = "market" if resting.limit_price is None else f"limit {resting.limit_price:g}"
        return SELF_TRADE, (f"order {p.client_key or '(new)'} ({p.strategy} {p.side:+d} "
                            f"{p.qty} {p.symbol} {price}) would cross our working order "
                            f"{resting.client_key} ({resting.strategy} {resting.side} "
                            f"{resting.qty - resting.filled_qty} {theirs}); "
                            f"compliance.self_trade={self.config.self_trade}")

    def _algo_id(self, p: OrderProposal) -> tuple[str, str] | None:
        if not (self.config.algo.require_algo_id and self.sends_orders):
            return None
        approved = sorted(self._algo_ids.get(p.strategy, ()))
        if p.algo_id is None:
            return ALGO_ID, (f"order of {p.strategy} carries no exchange algo id, and "
                             f"{self.config.path.name} algo.require_algo_id is set (SEBI "
                             "algo framework: every order carries its approved algo id)")
        if p.algo_id not in approved:
            return ALGO_ID, (f"order of {p.strategy} carries algo id {p.algo_id!r}, not an "
                             f"approved one of {p.strategy} in {self.config.path.name} "
                             f"algo.approvals ({', '.join(approved) or 'none'})")
        return None

    def _algo_rate(self, p: OrderProposal, day: date, last_second: int
                   ) -> tuple[str, str] | None:
        if p.algo_id:
            return None  # a registered algo: the exchange's limit for it is risk.yaml's
        threshold = self.config.unregistered_ops_on(day)
        if threshold is None:
            return ALGO_RATE, (f"no algo.unregistered_orders_per_second in force on {day} "
                               f"in {self.config.path.name}")
        if last_second + 1 >= threshold.max_orders_per_second:
            return ALGO_RATE, (f"{last_second + 1} orders on {p.exchange} within 1 s from "
                               f"{p.strategy}, a version with no exchange algo id, reaches "
                               "the unregistered-algo threshold of "
                               f"{threshold.max_orders_per_second}/s in force since "
                               f"{threshold.effective_from}")
        return None

    def _otr(self, p: OrderProposal, state: LiveState, day: date) -> Verdict:
        limits = self.config.otr_on(day)
        if limits is None:
            why = f"no order_to_trade thresholds in force on {day} in {self.config.path.name}"
            return Verdict(warning=f"{OTR}: {why}") if p.reduces_exposure else \
                Verdict(RiskDecision(False, OTR, why))
        desk = FlowCount()
        for (_, _, on), c in state.order_flow.items():
            if on == day:
                desk.orders += c.orders
                desk.modifications += c.modifications
                desk.cancellations += c.cancellations
                desk.trades += c.trades
        notices = []
        for scope, count in ((f"{p.strategy}/{p.symbol}",
                              state.order_flow.get((p.strategy, p.symbol, day)) or FlowCount()),
                             (DESK, desk)):
            messages, ratio = count.messages + 1, count.ratio(extra_messages=1)
            if messages < limits.min_messages:
                continue
            what = (f"{scope} on {day}: {messages} order messages ({count.orders} orders, "
                    f"{count.modifications} modifications, {count.cancellations} "
                    f"cancellations, this one) / {max(count.trades, 1)} trades = {ratio:.1f}")
            if ratio > limits.throttle_ratio and not p.reduces_exposure:
                return Verdict(RiskDecision(False, OTR, (
                    f"{what} > throttle_ratio {limits.throttle_ratio:g} (exchange "
                    f"{limits.exchange_ratio:g}, in force since {limits.effective_from}); "
                    "entries refused for the day, exits pass")))
            key = (scope, day)
            if ratio >= limits.alert_fraction * limits.throttle_ratio and \
                    key not in self._noticed:
                self._noticed.add(key)
                notices.append(f"{what} >= {limits.alert_fraction:g} x throttle_ratio "
                               f"{limits.throttle_ratio:g}")
        return Verdict(notice="; ".join(notices))
