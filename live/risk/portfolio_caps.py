"""The portfolio caps of the pre-trade engine: every entry is checked with its effect on the
book (positions plus working orders in its direction, plus the order itself).

Checks, in order (each its own ``check`` name in the journaled ``RiskChecked`` when it
denies; when all pass, the engine's passing reason lists each with its number):

1. ``max_open_positions`` (policy.yaml ``strategies.*.max_open_positions``): symbols where
   the strategy's expected position (net + working orders) is not flat; the order that
   would open one more than the cap is denied.
2. ``exposure`` (risk.yaml ``exposure``): INR gross/net notional by underlying (the YAML's
   ``symbol``), sector, strategy and expiry, and greeks per underlying (futures: delta =
   units, gamma = vega = 0), after the order (:func:`live.risk.exposure.exposure_after`).
3. ``margin``: the :class:`~live.risk.margin_source.MarginSource`'s required margin against
   its available capital (paper: the SPAN-like margin of the book after the order against
   risk.yaml ``margin.available_capital_inr``; Kite: ``order_margins`` against ``margins``).
4. ``max_var_utilisation`` (risk.yaml ``portfolio``): historical VaR of the desk's book
   after the order at ``var_confidence`` over ``horizon_days``, from the last
   ``lookback_days`` daily returns before the trade date, over the available capital.

A cap that cannot be computed (no price, too little history, a margin answer that cannot be
parsed, any exception) denies, naming why. Exposure-reducing orders are not checked here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from live.broker import Side
from live.governance.policy import Policy
from live.risk.daily_history import DailyCloses
from live.risk.exposure import (
    WILDCARD,
    ExposureContext,
    bucket_name,
    exposure_after,
    exposure_violations,
)
from live.risk.interface import OrderProposal, RiskDecision
from live.risk.limits import DEFAULT_KEY, ExposureLimits, RiskLimits
from live.risk.margin import Instrument, Position
from live.risk.margin_source import BookChange, MarginSource
from live.risk.var import (
    check_var_limit,
    historical_var_cvar,
    min_observations,
    notional_from_quantities,
)
from live.state import LiveState, OrderStatus

CAP_CHECKS = ("max_open_positions", "exposure", "margin", "max_var_utilisation")
UNKNOWN_EXPIRY = date.max  # a leg whose contract is not known: one bucket for all of them
_WORKING = frozenset({OrderStatus.INTENDED, OrderStatus.UNKNOWN, OrderStatus.OPEN})
_SIGN = {Side.BUY: 1, Side.SELL: -1}
_YAML_DIMENSION = {"symbol": "underlying", "sector": "sector", "strategy": "strategy"}
_GREEKS = ("delta_units", "gamma_units_per_point", "vega_inr_per_vol_pt")


def exposure_caps(exposure: ExposureLimits) -> dict[str, float]:
    """risk.yaml ``exposure`` as :func:`~live.risk.exposure.exposure_violations` cap keys
    (``default`` entries become the ``*`` wildcard; the YAML's ``symbol`` is the
    underlying)."""
    caps: dict[str, float] = {}
    for measure in ("gross_inr", "net_inr"):
        section = getattr(exposure, measure)
        for yaml_dim, dimension in _YAML_DIMENSION.items():
            for name, cap in getattr(section, yaml_dim).items():
                caps[bucket_name(measure, dimension, WILDCARD if name == DEFAULT_KEY
                                 else name)] = float(cap)
        caps[bucket_name(measure, "expiry", WILDCARD)] = float(section.expiry)
    for name, greeks in exposure.greeks.items():
        for measure in _GREEKS:
            caps[bucket_name(measure, "underlying", WILDCARD if name == DEFAULT_KEY
                             else name)] = float(getattr(greeks, measure))
    return caps


@dataclass(frozen=True, slots=True)
class _Book:
    """Signed units per (strategy, symbol): before the order and the expected positions."""

    before: dict[tuple[str, str], int]  # positions + working orders in the order's direction
    expected: dict[tuple[str, str], int]  # positions + every working order (open positions)


class PortfolioCaps:
    """The four caps above, over one account's book; ``rate`` is the Black-76 discount rate
    of the exposure greeks (immaterial for futures)."""

    def __init__(self, limits: RiskLimits, policy: Policy, *, history: DailyCloses,
                 margins: MarginSource, rate: float = 0.0) -> None:
        self.limits, self.policy, self.history, self.margins = limits, policy, history, margins
        self.rate = rate
        self.caps = exposure_caps(limits.exposure)
        self._available: float | None = None

    def check(self, p: OrderProposal, state: LiveState, today: date
              ) -> tuple[RiskDecision | None, list[str]]:
        """The first cap that denies ``p`` (None if all pass) and each passed cap's note."""
        book = _book(p, state)
        self._available = None  # asked once per check (a broker call for Kite)
        notes: list[str] = []
        caps: tuple[tuple[str, Callable[[], tuple[bool, str]]], ...] = (
            ("max_open_positions", lambda: self._open_positions(p, book)),
            ("exposure", lambda: self._exposure(p, state, book, today)),
            ("margin", lambda: self._margin(p, state, book, today)),
            ("max_var_utilisation", lambda: self._var(p, state, book, today)),
        )
        for name, cap in caps:
            try:
                passed, reason = cap()
            except Exception as exc:  # a cap that cannot be computed denies
                return RiskDecision(False, name, f"cannot be computed: {type(exc).__name__}: "
                                                 f"{exc}"), notes
            if not passed:
                return RiskDecision(False, name, reason), notes
            notes.append(f"{name} {reason}")
        return None, notes

    # -- the caps --------------------------------------------------------------------------

    def _open_positions(self, p: OrderProposal, book: _Book) -> tuple[bool, str]:
        cap = self.policy.limits_for(p.strategy).max_open_positions
        held = {sym for (strategy, sym), units in book.expected.items()
                if strategy == p.strategy and units}
        opens = p.symbol not in held
        after = len(held) + (1 if opens else 0)
        reason = f"{after} open after the order > max_open_positions={cap} ({p.strategy}: " \
                 f"{sorted(held)} open, {p.symbol} would be one more)"
        if opens and after > cap:
            return False, reason
        return True, f"{after}/{cap}"

    def _exposure(self, p: OrderProposal, state: LiveState, book: _Book,
                  today: date) -> tuple[bool, str]:
        before, change, market = self._positions(p, state, book, today)
        context = ExposureContext(market=market, today=today,
                                  sector_by_underlying=self.limits.exposure.sectors,
                                  rate=self.rate)
        after = exposure_after(before, change, context)
        broken = exposure_violations(after, self.caps)
        if broken:
            return False, "; ".join(f"{v.bucket} {v.value:,.0f} > cap {v.cap:,.0f}"
                                    for v in broken) + " after the order"
        gross = after.notional["gross_inr"]["underlying"].get(p.symbol, 0.0)
        return True, f"gross {p.symbol} {gross:,.0f} INR within caps"

    def _margin(self, p: OrderProposal, state: LiveState, book: _Book,
                today: date) -> tuple[bool, str]:
        before, change, market = self._positions(p, state, book, today)
        need = self.margins.need(BookChange(proposal=p, before=before, change=change,
                                            market=market, today=today))
        self._available = need.available_inr
        for label, value in (("required", need.required_inr), ("available", need.available_inr)):
            if not math.isfinite(value):
                return False, f"{label} margin {value!r} is not a number ({need.basis})"
        text = f"{need.required_inr:,.0f} INR required vs {need.available_inr:,.0f} " \
               f"available ({need.basis})"
        return need.ok, text

    def _var(self, p: OrderProposal, state: LiveState, book: _Book,
             today: date) -> tuple[bool, str]:
        portfolio = self.limits.portfolio
        units: dict[str, float] = {}
        for (_, symbol), qty in _after(p, book).items():
            units[symbol] = units.get(symbol, 0) + qty
        held = {s: q for s, q in units.items() if q}
        notional = notional_from_quantities(held, _prices(p, state, held))
        returns = self.history.returns_before(sorted(held), today, portfolio.lookback_days)
        result = historical_var_cvar(notional, returns, portfolio.var_confidence,
                                     portfolio.horizon_days)
        available = self.margins.available_inr() if self._available is None else \
            self._available
        decision = check_var_limit(result, available, portfolio.max_var_utilisation)
        return decision.passed, decision.reason

    # -- the book --------------------------------------------------------------------------

    def _positions(self, p: OrderProposal, state: LiveState, book: _Book, today: date
                   ) -> tuple[list[Position], Position, dict[str, tuple[float, float]]]:
        """The book before the order and the order as margin/exposure positions (units as
        lots of one unit), and the market (price, realised vol) of every symbol in them."""
        def leg(strategy: str, symbol: str, units: int, held: date | None = None
                ) -> Position:
            # the position's own contract expiry, else the order's (same underlying), else
            # one shared unknown expiry (fail closed: every such leg counts together)
            expiry = held or (p.expiry if symbol == p.symbol else None) or UNKNOWN_EXPIRY
            return Position(Instrument(symbol=symbol, underlying=symbol, kind="future",
                                       expiry=expiry, lot_size=1), units, strategy)

        def held_expiry(strategy: str, symbol: str) -> date | None:
            pos = state.positions.get((strategy, symbol))
            return None if pos is None or not pos.net_qty else pos.expiry

        before = [leg(s, sym, q, held_expiry(s, sym))
                  for (s, sym), q in sorted(book.before.items()) if q]
        change = leg(p.strategy, p.symbol, p.side * p.qty)
        symbols = {pos.instrument.underlying for pos in (*before, change)}
        prices = _prices(p, state, symbols)
        portfolio = self.limits.portfolio
        need = min_observations(portfolio.var_confidence)
        market = {s: (prices[s], self.history.annual_vol(s, today, portfolio.lookback_days,
                                                         need)) for s in sorted(symbols)}
        return before, change, market


def _book(p: OrderProposal, state: LiveState) -> _Book:
    before: dict[tuple[str, str], int] = {}
    expected: dict[tuple[str, str], int] = {}
    for key, pos in state.positions.items():
        if pos.net_qty:
            before[key] = expected[key] = pos.net_qty
    for order in state.working.values():
        if order.status not in _WORKING or order.protective:
            continue  # a protective order is contingent: it never adds exposure
        key, signed = (order.strategy, order.symbol), _SIGN[order.side] * max(
            order.qty - order.filled_qty, 0)
        expected[key] = expected.get(key, 0) + signed
        if _SIGN[order.side] == p.side:
            before[key] = before.get(key, 0) + signed
    return _Book(before, expected)


def _after(p: OrderProposal, book: _Book) -> dict[tuple[str, str], int]:
    after = dict(book.before)
    key = (p.strategy, p.symbol)
    after[key] = after.get(key, 0) + p.side * p.qty
    return after


def _prices(p: OrderProposal, state: LiveState, symbols: Iterable[str]) -> dict[str, float]:
    """The order's reference price for its symbol, the last trade in state for the others
    (a symbol without one is missing: the caller's cap cannot be computed)."""
    prices: dict[str, float] = {}
    for symbol in symbols:
        if symbol == p.symbol:
            prices[symbol] = p.reference_price
            continue
        bar = state.last_bars.get(symbol)
        if bar is None:
            raise LookupError(f"no last trade of held symbol {symbol} in state to value it at")
        prices[symbol] = bar.close
    return prices
