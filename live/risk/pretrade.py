"""The pre-trade risk engine: every order proposal passes these controls before it is
journaled as an intent (SEC 15c3-5 erroneous-order and credit checks, MiFID II RTS 6
Art. 15 pre-trade controls, SEBI/NSE order-rate rules; NautilusTrader's RiskEngine shape).

:meth:`PreTradeRiskEngine.check` always answers with a :class:`RiskDecision`, never an
exception: the first failing control denies, ``check`` naming it and ``reason`` the actual
value against the limit. Controls, in order:

1. ``order``: side +-1, qty >= 1 and a whole number of lots, aware ``ts``, known exchange.
2. ``reference_price``: the proposal's reference and the last trade in state exist, are
   finite and positive, and neither is older than ``reference_max_age_seconds``. A stale
   reference denies an entry; a risk-reducing order passes with it named as a warning (a
   kill-switch flatten between two bars of a live feed is never held back by the clock).
3. ``price_collar``: the reference is within ``price_collar_pct`` of the last trade known
   *before* ``reference_ts`` (the previous bar's close: never the checked price itself);
   ``price_band``: and within ``price_band_pct`` of the previous session's close (the
   exchange's daily operating range) when the proposal carries that base. A risk-reducing
   order is not denied by either: it passes with the breach as its ``warning`` (an exit,
   stop or flatten must never be stuck by a price that may be a bad print; the runner
   alerts). An entry with no earlier trade to compare with is denied.
4. ``max_qty_per_order``, ``max_lots_per_order``, ``max_order_value``.
5. ``policy``: product/instrument/exchange/symbol allow-list (``Policy.order_allowed``);
   for entries also the trading window (``Policy.entry_allowed``) and ``lockout_window``
   (risk.yaml ``drawdown.lockout_windows``).
6. ``message_rate``: orders passed per exchange in the sliding second ``(ts - 1 s, ts]``;
   exceeding it also sets ``disable_strategy``.
7. ``duplicate_order``: the same strategy/symbol/side/qty/order type (and entry-or-exit
   kind, so a reversal's exit and entry legs, or a position's stop and target, are two
   orders; and slice index, so the slices of one order split at the freeze quantity are
   too) within ``duplicate_window_seconds``.
8. ``max_open_orders`` / ``max_open_order_value``: working orders (INTENDED, UNKNOWN - in
   doubt counts as open - and OPEN) plus this one, valued at their symbol's last trade.
9. ``reduces_exposure``: an order claiming to reduce must move the strategy's expected
   position (net + working orders) towards flat without crossing it. A position's
   protective orders (its resting stop and target) are contingent - one of them fills only
   if no exit does first, and they are withdrawn before any exit is sent - so they count as
   open orders but not towards the expected position.
10. ``max_net_lots_per_symbol`` / ``max_net_lots_per_strategy`` / ``max_lots_per_expiry``:
    net lots after the order, counting working orders in its direction. Skipped for an
    exposure-reducing order (as is ``max_open_order_value``); every other control applies.
11. The portfolio caps with the order's effect (:mod:`live.risk.portfolio_caps`, when the
    engine is given them - ``stratops live run`` always is): ``max_open_positions``,
    ``exposure``, ``margin``, ``max_var_utilisation``. Skipped for an exposure-reducing
    order. A denial names the cap; a pass's reason lists every cap with its number
    (``caps: max_open_positions 1/1; exposure ...; margin ...; max_var_utilisation ...``),
    so the journal shows they were evaluated.

12. ``max_impact``: the order's pre-trade impact estimate (:mod:`live.impact.budget`, when
    the engine is given the budget - ``stratops live run`` always is) against risk.yaml
    ``execution.max_impact_bps``: an entry over it is denied; a risk-reducing order passes
    with the breach as its ``warning`` (the runner alerts). A pass's reason shows the
    estimate (``impact ... bps ... calibration_source: ...``), so it is journaled.

13. The compliance controls (:mod:`live.risk.compliance_controls`, when the engine is given
    them - ``stratops live run`` always is): ``algo_id`` (with ``algo.require_algo_id``, an
    order without its strategy's approved exchange algo id), ``self_trade``, ``algo_rate``
    (unregistered algos' orders per second) and ``order_to_trade_ratio``, run after the
    duplicate check; a risk-reducing order is not denied by the first three (passes with a
    warning) nor by the ratio. A pass may carry a near-breach ``notice`` (the runner alerts
    ``otr_near_breach``).

Rate and duplicate memory is the engine's own, driven by ``proposal.ts`` only (no wall
clock), and records only passed proposals (orders that will be sent).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from live.broker import Side
from live.events import BarClosed
from live.governance.policy import Policy
from live.impact.budget import CHECK as IMPACT_CHECK
from live.impact.budget import ImpactBudget
from live.risk.compliance_controls import ComplianceControls
from live.risk.interface import OrderProposal, RiskDecision
from live.risk.limits import RiskLimits
from live.risk.portfolio_caps import PortfolioCaps
from live.state import LiveState, OrderStatus
from strategies.venues import get_venue

PASSED = "pre_trade"
ERROR = "risk_engine_error"
WORKING = frozenset({OrderStatus.INTENDED, OrderStatus.UNKNOWN, OrderStatus.OPEN})
EXCHANGE_VENUES = {"NSE": "NSE", "NFO": "NSE", "CDS": "NSE"}  # exchange segment -> venue
RATE_WINDOW = timedelta(seconds=1)
_SIGN = {Side.BUY: 1, Side.SELL: -1}

_DupKey = tuple[str, str, int, int, bool, str, int]


@dataclass(slots=True)
class _Book:
    """What state says about working orders and the proposal's symbol, in one pass."""

    open_count: int = 0
    open_value_inr: float = 0.0
    unpriced: str | None = None  # a working order with no last price to value it at
    nets: dict[str, int] = field(default_factory=dict)  # strategy -> net qty in the symbol
    same_side: dict[str, int] = field(default_factory=dict)  # working qty in order direction
    pending: dict[str, int] = field(default_factory=dict)  # signed working qty, both ways


def _deny(check: str, reason: str, disable: bool = False) -> RiskDecision:
    return RiskDecision(False, check, reason, disable)


def _trade_before(state: LiveState, symbol: str, ts: datetime | None) -> BarClosed | None:
    """The last usable trade of ``symbol`` in state strictly before ``ts`` (the bar being
    traded is at ``ts``: the one before it)."""
    if ts is None:
        return None
    for bar in (state.last_bars.get(symbol), state.prior_bars.get(symbol)):
        if bar is not None and bar.ts_event < ts and math.isfinite(bar.close) and \
                bar.close > 0:
            return bar
    return None


class PreTradeRiskEngine:
    """The :class:`~live.risk.interface.RiskEngine` built from ``risk.yaml`` (and the policy's
    allow-list and windows when ``policy`` is given, the portfolio caps when ``caps`` is)."""

    def __init__(self, limits: RiskLimits, policy: Policy | None = None, *,
                 caps: PortfolioCaps | None = None, impact: ImpactBudget | None = None,
                 compliance: ComplianceControls | None = None) -> None:
        self.limits, self.policy, self.caps, self.impact = limits, policy, caps, impact
        self.compliance = compliance
        self._rate: dict[str, deque[datetime]] = {}
        self._dup_last: dict[_DupKey, datetime] = {}
        self._dup_seen: deque[tuple[datetime, _DupKey]] = deque()
        self._policy_cache: dict[tuple[str, ...], str] = {}
        self._zones: dict[str, tzinfo] = {}
        pre = limits.pre_trade
        self._max_age = timedelta(seconds=pre.reference_max_age_seconds)
        self._dup_window = timedelta(seconds=pre.duplicate_window_seconds)

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        """The first failing control's denial, else a pass; never raises (an internal error
        is itself a denial: fail closed)."""
        try:
            return self._evaluate(proposal, state)
        except Exception as exc:  # a denial is an event, never an exception
            return _deny(ERROR, f"{type(exc).__name__}: {exc}")

    def _evaluate(self, p: OrderProposal, state: LiveState) -> RiskDecision:
        breaches: list[str] = []  # a reducing order's stale reference, price breach
        for control in (self._order_shape, self._reference, self._price, self._size,
                        self._policy, self._message_rate, self._duplicate):
            denial = control(p, state)
            if denial is not None and denial.passed:
                breaches.append(f"{denial.check}: {denial.reason}")
            elif denial is not None:
                return denial
        denial, notice = self._compliance(p, state, breaches)
        if denial is not None:
            return denial
        book = self._book(p, state)
        for booked in (self._open_orders, self._reduces, self._positions):
            denial = booked(p, book)
            if denial is not None:
                return denial
        notes = ""
        if self.caps is not None and not p.reduces_exposure:
            venue = EXCHANGE_VENUES[p.exchange]
            denial, passed = self.caps.check(p, state, p.ts.astimezone(self._zone(venue)).date())
            if denial is not None:
                return denial
            notes = "; caps: " + "; ".join(passed)
        if self.impact is not None:
            assessment = self.impact.assess(p.symbol, p.qty, p.reference_price)
            if assessment.breach and not p.reduces_exposure:
                return _deny(IMPACT_CHECK, assessment.breach)
            if assessment.breach:
                breaches.append(f"{IMPACT_CHECK}: {assessment.breach}")
            notes += f"; {assessment.note}"
        self._remember(p)
        return RiskDecision(True, PASSED, f"{p.qty // p.lot_size} lots at "
                                          f"{p.reference_price:g}: all controls passed{notes}",
                            warning="; ".join(breaches), notice=notice)

    # -- stateless controls --------------------------------------------------------------

    def _order_shape(self, p: OrderProposal, state: LiveState) -> RiskDecision | None:
        if p.side not in (1, -1):
            return _deny("order", f"side {p.side!r} is not +1 (buy) or -1 (sell)")
        if p.lot_size < 1 or p.qty < 1 or p.qty % p.lot_size:
            return _deny("order", f"qty {p.qty} is not a positive whole number of lots of "
                                  f"{p.lot_size}")
        if p.ts.tzinfo is None:
            return _deny("order", f"ts {p.ts.isoformat()} is naive; exchange time must be "
                                  "timezone-aware")
        if p.exchange not in EXCHANGE_VENUES:
            return _deny("order", f"exchange {p.exchange!r} has no known venue; known: "
                                  f"{sorted(EXCHANGE_VENUES)}")
        return None

    def _reference(self, p: OrderProposal, state: LiveState) -> RiskDecision | None:
        """A usable, fresh reference price and last trade. Staleness denies an entry; a
        risk-reducing order (an exit, a flatten) passes with the staleness named as a
        warning - it is never stuck behind a quiet or dead feed."""
        ref = p.reference_price
        if not (math.isfinite(ref) and ref > 0):
            return _deny("reference_price", f"reference_price {ref!r} is not a positive price")
        stale = self._staleness(p, state)
        if stale is None:
            return None
        return RiskDecision(p.reduces_exposure, "reference_price", stale)

    def _staleness(self, p: OrderProposal, state: LiveState) -> str | None:
        max_age = self._max_age
        if p.reference_ts is None:
            return "no reference_ts: the reference price's age is unknown"
        age = p.ts - p.reference_ts
        if age > max_age or age < timedelta(0):
            return (f"reference price is {age.total_seconds():g} s old; "
                    f"reference_max_age_seconds={max_age.total_seconds():g}")
        bar = state.last_bars.get(p.symbol)
        if bar is None or not (math.isfinite(bar.close) and bar.close > 0):
            last = None if bar is None else bar.close
            return f"no usable last trade for {p.symbol} in state (got {last!r})"
        bar_age = p.ts - bar.ts_event
        if bar_age > max_age:
            return (f"last trade of {p.symbol} is {bar_age.total_seconds():g} s old; "
                    f"reference_max_age_seconds={max_age.total_seconds():g}")
        return None

    def _price(self, p: OrderProposal, state: LiveState) -> RiskDecision | None:
        """Collar and daily band: an entry is denied; a reducing order passes with the
        breach (a passed decision naming it)."""
        breach = self._price_breach(p, state)
        if breach is None:
            return None
        return RiskDecision(p.reduces_exposure, *breach)

    def _price_breach(self, p: OrderProposal, state: LiveState) -> tuple[str, str] | None:
        ref = p.reference_price
        base = _trade_before(state, p.symbol, p.reference_ts)
        if base is None:
            return "price_collar", (f"no trade of {p.symbol} before the reference at "
                                    f"{p.reference_ts} to collar {ref:g} against")
        collar = self.limits.pre_trade.price_collar_pct
        moved_pct = abs(ref - base.close) / base.close * 100.0
        if moved_pct > collar:
            return "price_collar", (f"reference {ref:g} is {moved_pct:.4g}% from the previous "
                                    f"trade {base.close:g} ({base.ts_event}); "
                                    f"price_collar_pct={collar:g}")
        anchor = p.band_base_price
        if anchor is None:
            return None  # no previous session seen yet: the band's base is unknown
        band = self.limits.price_band_pct(p.symbol)
        if not (math.isfinite(anchor) and anchor > 0):
            return "price_band", f"band base {anchor!r} is not a positive price"
        off_pct = abs(ref - anchor) / anchor * 100.0
        if off_pct > band:
            return "price_band", (f"reference {ref:g} is {off_pct:.4g}% from the previous "
                                  f"session's close {anchor:g}; price_band_pct={band:g} "
                                  f"({p.symbol})")
        return None

    def _size(self, p: OrderProposal, state: LiveState) -> RiskDecision | None:
        pre = self.limits.pre_trade
        if p.qty > pre.max_qty_per_order:
            return _deny("max_qty_per_order",
                         f"qty {p.qty} > max_qty_per_order={pre.max_qty_per_order}")
        lots = p.qty // p.lot_size
        if lots > pre.max_lots_per_order:
            return _deny("max_lots_per_order",
                         f"{lots} lots > max_lots_per_order={pre.max_lots_per_order}")
        value = p.qty * p.reference_price
        if value > pre.max_order_value_inr:
            return _deny("max_order_value", f"order value {value:,.0f} INR > "
                                            f"max_order_value_inr={pre.max_order_value_inr:,.0f}")
        return None

    def _policy(self, p: OrderProposal, state: LiveState) -> RiskDecision | None:
        if self.policy is not None:
            key = (p.strategy, p.symbol, p.product, p.instrument_type, p.exchange,
                   str(p.qty // p.lot_size))
            broken = self._policy_cache.get(key)
            if broken is None:
                broken = self._policy_cache[key] = "; ".join(v.message for v in (
                    self.policy.order_allowed(strategy=p.strategy, symbol=p.symbol,
                                              product=p.product,
                                              instrument_type=p.instrument_type,
                                              exchange=p.exchange, lots=p.qty // p.lot_size)))
            if broken:
                return _deny("policy", broken)
        if p.reduces_exposure:
            return None  # exits may leave at any time
        venue = EXCHANGE_VENUES[p.exchange]
        local = p.ts.astimezone(self._zone(venue)).time()
        if self.policy is not None and not self.policy.entry_allowed(venue, local):
            return _deny("policy", f"entry at {local:%H:%M:%S} {venue} time is outside "
                                   "policy.yaml trading_windows")
        for w in self.limits.drawdown.lockout_windows:
            if w.start <= local < w.end:
                return _deny("lockout_window", f"entry at {local:%H:%M:%S} is inside the "
                                               f"lockout {w.start:%H:%M}-{w.end:%H:%M}")
        return None

    def _zone(self, venue: str) -> tzinfo:
        zone = self._zones.get(venue)
        if zone is None:
            zone = self._zones[venue] = ZoneInfo(get_venue(venue).tz)
        return zone

    # -- memory: message rate and duplicates ----------------------------------------------

    def _message_rate(self, p: OrderProposal, state: LiveState) -> RiskDecision | None:
        window = self._rate.get(p.exchange)
        if window is None:
            return None
        while window and window[0] <= p.ts - RATE_WINDOW:
            window.popleft()
        limit = self.limits.pre_trade.max_orders_per_second
        if len(window) + 1 > limit:
            return _deny("message_rate", f"{len(window) + 1} orders on {p.exchange} within 1 s "
                                         f"> max_orders_per_second={limit}; {p.strategy} "
                                         "disabled until a person re-enables it", disable=True)
        return None

    def _compliance(self, p: OrderProposal, state: LiveState, breaches: list[str]
                    ) -> tuple[RiskDecision | None, str]:
        """The compliance controls' denial (or None) and near-breach notice; a warning
        for a risk-reducing order is added to ``breaches``."""
        if self.compliance is None:
            return None, ""
        verdict = self.compliance.check(p, state, self._orders_last_second(p))
        if verdict.warning:
            breaches.append(verdict.warning)
        return verdict.denial, verdict.notice

    def _orders_last_second(self, p: OrderProposal) -> int:
        """Orders passed on ``p``'s exchange in the second ``(ts - 1 s, ts]``."""
        window = self._rate.get(p.exchange, ())
        return sum(1 for ts in window if ts > p.ts - RATE_WINDOW)

    def _duplicate(self, p: OrderProposal, state: LiveState) -> RiskDecision | None:
        last = self._dup_last.get(self._dup_key(p))
        if last is not None and abs(p.ts - last) < self._dup_window:
            return _deny("duplicate_order",
                         f"same {p.strategy}/{p.symbol} side {p.side:+d} qty {p.qty} passed "
                         f"{abs(p.ts - last).total_seconds():g} s ago; duplicate_window_seconds="
                         f"{self._dup_window.total_seconds():g}")
        return None

    @staticmethod
    def _dup_key(p: OrderProposal) -> _DupKey:
        # the slice index too: the equal slices of one order sliced at the freeze quantity
        # are not duplicates of each other (live.orders.slicing)
        return (p.strategy, p.symbol, p.side, p.qty, p.reduces_exposure, p.order_type,
                p.slice_index)

    def remember(self, proposal: OrderProposal) -> None:
        """A journaled intent from before a restart: counted for the message rate and the
        duplicate window exactly as if it had just passed."""
        self._remember(proposal)

    def memory(self) -> dict[str, Any]:
        """What :meth:`remember` built, as plain data (a runner snapshot's part): each
        exchange's message-rate window and the duplicate window, in arrival order."""
        return {"rate": {x: [t.isoformat() for t in w] for x, w in self._rate.items()},
                "dup_last": [[list(k), t.isoformat()] for k, t in self._dup_last.items()],
                "dup_seen": [[t.isoformat(), list(k)] for t, k in self._dup_seen]}

    def restore_memory(self, memory: dict[str, Any]) -> None:
        """Take back what :meth:`memory` returned."""
        rate = {x: deque(datetime.fromisoformat(t) for t in w)
                for x, w in memory["rate"].items()}
        dup_last = {_dup_key(k): datetime.fromisoformat(t) for k, t in memory["dup_last"]}
        dup_seen = deque((datetime.fromisoformat(t), _dup_key(k)) for t, k in memory["dup_seen"])
        self._rate, self._dup_last, self._dup_seen = rate, dup_last, dup_seen

    def _remember(self, p: OrderProposal) -> None:
        window = self._rate.setdefault(p.exchange, deque())
        window.append(p.ts)
        while window and window[0] <= p.ts - RATE_WINDOW:  # bounded on a long replay too
            window.popleft()
        key = self._dup_key(p)
        self._dup_last[key] = p.ts
        seen = self._dup_seen
        seen.append((p.ts, key))
        while seen and seen[0][0] <= p.ts - self._dup_window:
            ts, old = seen.popleft()
            if self._dup_last.get(old) == ts:
                del self._dup_last[old]

    # -- controls on the book -------------------------------------------------------------

    def _book(self, p: OrderProposal, state: LiveState) -> _Book:
        book = _Book()
        bars = state.last_bars
        for order in state.working.values():
            if order.status not in WORKING:
                continue
            remaining = max(order.qty - order.filled_qty, 0)
            book.open_count += 1
            bar = bars.get(order.symbol)
            if bar is None or not math.isfinite(bar.close):
                book.unpriced = book.unpriced or f"{order.client_key} ({order.symbol})"
            else:
                book.open_value_inr += remaining * bar.close
            if order.symbol == p.symbol and not order.protective:  # contingent: see 9.
                sign = _SIGN[order.side]
                book.pending[order.strategy] = book.pending.get(order.strategy, 0) + (
                    sign * remaining)
                if sign == p.side:
                    book.same_side[order.strategy] = book.same_side.get(order.strategy, 0) + (
                        remaining)
        for (strategy, symbol), pos in state.positions.items():
            if symbol == p.symbol and pos.net_qty:
                book.nets[strategy] = pos.net_qty
        return book

    def _open_orders(self, p: OrderProposal, book: _Book) -> RiskDecision | None:
        pre = self.limits.pre_trade
        if book.open_count + 1 > pre.max_open_orders:
            return _deny("max_open_orders", f"{book.open_count + 1} working orders with this "
                                            f"one > max_open_orders={pre.max_open_orders}")
        if p.reduces_exposure:
            return None
        if book.unpriced is not None:
            return _deny("max_open_order_value", f"cannot value working order {book.unpriced}:"
                                                 " no last trade in state")
        value = book.open_value_inr + p.qty * p.reference_price
        if value > pre.max_open_order_value_inr:
            return _deny("max_open_order_value",
                         f"working orders with this one {value:,.0f} INR > "
                         f"max_open_order_value_inr={pre.max_open_order_value_inr:,.0f}")
        return None

    def _reduces(self, p: OrderProposal, book: _Book) -> RiskDecision | None:
        if not p.reduces_exposure:
            return None
        expected = book.nets.get(p.strategy, 0) + book.pending.get(p.strategy, 0)
        if expected * p.side < 0 and p.qty <= abs(expected):
            return None
        return _deny("reduces_exposure",
                     f"{p.strategy}/{p.symbol}: side {p.side:+d} qty {p.qty} does not reduce "
                     f"the expected position {expected:+d} (net + working orders)")

    def _positions(self, p: OrderProposal, book: _Book) -> RiskDecision | None:
        if p.reduces_exposure:
            return None
        after = {s: book.nets.get(s, 0) + p.side * book.same_side.get(s, 0)
                 for s in {*book.nets, *book.same_side, p.strategy}}
        after[p.strategy] += p.side * p.qty
        lot = p.lot_size
        checks = (
            ("max_net_lots_per_symbol", f"desk net in {p.symbol}", abs(sum(after.values())),
             self.limits.symbol_lots(p.symbol)),
            ("max_net_lots_per_strategy", f"{p.strategy} net in {p.symbol}",
             abs(after[p.strategy]), self.limits.strategy_lots(p.strategy)),
            ("max_lots_per_expiry", f"gross in {p.symbol} expiry {p.expiry or 'unknown'}",
             sum(abs(q) for q in after.values()), self.limits.positions.max_lots_per_expiry),
        )
        for name, what, qty, limit in checks:
            if qty > limit * lot:
                return _deny(name, f"{what} after the order {qty / lot:g} lots "
                                   f"(working orders included) > {name}={limit}")
        return None


def _dup_key(values: list[Any]) -> _DupKey:
    strategy, symbol, side, qty, reduces, order_type, slice_index = values
    return (str(strategy), str(symbol), int(side), int(qty), bool(reduces), str(order_type),
            int(slice_index))
