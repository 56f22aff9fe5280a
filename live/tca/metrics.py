"""Transaction cost analysis, pure: per child order, per parent (one trace) and per day.

Prices come from the bar path of the order's symbol (``BarClosed``: labelled by the bar's
start, so bar ``L`` is known at ``L + bar``). Conventions (side ``s`` = +1 buy, -1 sell;
every *cost* is positive when it hurt us, every *markout* positive when the price then moved
our way - negative markouts are adverse selection):

* decision price ``P_d``: the close of the signal's bar; arrival ``P_a``: the close of the last
  bar labelled at or before the child's intent (a protective order: its trigger or limit);
* arrival slippage = ``s·(avg fill − P_a)``; VWAP slippage = ``s·(avg fill − VWAP)`` with the
  volume-weighted typical price of the bars the order was working in;
* Perold implementation shortfall of a parent of ``Q`` units, ``q`` filled:
  delay = ``s·(P_a − P_d)·q``, timing = ``s·Σ(m_i − P_a)·q_i`` (``m_i`` the market at fill
  ``i``: the close of the last bar that had closed by then), impact = ``s·Σ(p_i − m_i)·q_i``,
  opportunity = ``s·(P_end − P_d)·(Q − q)`` (``P_end`` the day's last close); in bps of the
  paper notional ``P_d·Q``;
* markout at ``k`` bars: ``s·(C_k − p_i)·q_i``, ``C_k`` the close ``k − 1`` bars after the bar
  the fill happened in (1 bar: that bar's own close).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

MARKOUT_BARS: tuple[int, ...] = (1, 5, 15)
BPS = 1e4


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of the path, labelled by its start (``ts``)."""

    ts: datetime
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of a child order."""

    ts: datetime
    qty: int
    price: float


@dataclass(frozen=True, slots=True)
class Child:
    """One order sent to the broker (a slice, an algo child or a plain order)."""

    client_key: str
    parent_id: str  # the trace (a protective order: its own client key)
    trace_id: str
    strategy: str
    version: str
    symbol: str
    side: int  # +1 buy, -1 sell
    qty: int
    ts: datetime  # the intent
    algo: str
    reference_price: float | None = None  # a protective order's trigger / limit
    order_type: str = "MARKET"
    fills: tuple[Fill, ...] = ()

    @property
    def filled_qty(self) -> int:
        return sum(f.qty for f in self.fills)


@dataclass(frozen=True, slots=True)
class Parent:
    """Every child of one decision (a trace's entry or exit; a protective order alone)."""

    parent_id: str
    trace_id: str
    strategy: str
    version: str
    symbol: str
    side: int
    algo: str
    decision_ts: datetime
    target_qty: int
    children: tuple[Child, ...]


class BarPath:
    """The bars of one symbol in time order, with the look-ups TCA needs."""

    def __init__(self, bars: Iterable[Bar], bar: timedelta = timedelta(minutes=1)) -> None:
        self.bars = sorted(bars, key=lambda b: b.ts)
        self.labels = [b.ts for b in self.bars]
        self.bar = bar
        self._day_ends: dict[date, int] | None = None

    def index_at(self, ts: datetime) -> int | None:
        """Index of the last bar labelled at or before ``ts``."""
        i = bisect.bisect_right(self.labels, ts) - 1
        return i if i >= 0 else None

    def close_at(self, ts: datetime) -> float | None:
        i = self.index_at(ts)
        return None if i is None else self.bars[i].close

    def market_at(self, ts: datetime) -> float | None:
        """The close of the last bar that had closed by ``ts``."""
        return self.close_at(ts - self.bar)

    def close_after(self, ts: datetime, k: int) -> float | None:
        """The close ``k − 1`` bars after the bar ``ts`` falls in (None past the path or
        past that bar's day: a markout never spans the night)."""
        i = self.index_at(ts)
        j = None if i is None else i + k - 1
        if i is None or j is None or j >= len(self.bars) or \
                self.bars[j].ts.date() != self.bars[i].ts.date():
            return None
        return self.bars[j].close

    def vwap(self, start: datetime, end: datetime) -> float | None:
        """Volume-weighted typical price of bars labelled in ``(start, end]`` (the bar
        ``end`` falls in when none); the plain mean when they traded no volume."""
        chosen = self.bars[bisect.bisect_right(self.labels, start):
                           bisect.bisect_right(self.labels, end)]
        if not chosen:
            i = self.index_at(end)
            chosen = [] if i is None else [self.bars[i]]
        if not chosen:
            return None
        typical = [(b.high + b.low + b.close) / 3.0 for b in chosen]
        volume = sum(b.volume for b in chosen)
        if volume <= 0:
            return sum(typical) / len(typical)
        return sum(t * b.volume for t, b in zip(typical, chosen, strict=True)) / volume

    def last_close_on(self, day: date) -> float | None:
        """The close of ``day``'s last bar (None: no bar that day)."""
        i = self._last_index_by_day().get(day)
        return None if i is None else self.bars[i].close

    def _last_index_by_day(self) -> dict[date, int]:
        if self._day_ends is None:
            self._day_ends = {b.ts.date(): i for i, b in enumerate(self.bars)}
        return self._day_ends


@dataclass(frozen=True, slots=True)
class ChildTca:
    """One child's numbers (None where the path or the fills do not allow them)."""

    client_key: str
    parent_id: str
    trace_id: str
    strategy: str
    version: str
    symbol: str
    algo: str
    side: int
    qty: int
    filled_qty: int
    fill_rate: float
    order_type: str
    arrival_price: float | None
    avg_fill_price: float | None
    arrival_slippage_inr: float | None
    arrival_slippage_bps: float | None
    vwap_price: float | None
    vwap_slippage_bps: float | None
    timing_inr: float | None
    impact_inr: float | None
    markout_inr: dict[int, float | None] = field(default_factory=dict)
    markout_bps: dict[int, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParentTca:
    """One parent's Perold shortfall, decomposed, and its execution quality."""

    parent_id: str
    trace_id: str
    strategy: str
    version: str
    symbol: str
    algo: str
    side: int
    day: date
    target_qty: int
    filled_qty: int
    fill_rate: float
    decision_price: float | None
    arrival_price: float | None
    avg_fill_price: float | None
    end_price: float | None
    delay_inr: float | None
    timing_inr: float | None
    impact_inr: float | None
    opportunity_inr: float | None
    shortfall_inr: float | None
    shortfall_bps: float | None
    arrival_slippage_inr: float | None
    arrival_slippage_bps: float | None
    vwap_slippage_bps: float | None
    paper_notional_inr: float | None


def _avg_price(fills: Sequence[Fill]) -> float | None:
    qty = sum(f.qty for f in fills)
    return None if qty == 0 else sum(f.price * f.qty for f in fills) / qty


def _bps(inr: float | None, notional: float | None) -> float | None:
    if inr is None or notional is None or notional <= 0:
        return None
    return inr / notional * BPS


def arrival_price(child: Child, path: BarPath) -> float | None:
    """A protective order's trigger / limit, otherwise the close known at the intent."""
    return child.reference_price if child.reference_price is not None else \
        path.close_at(child.ts)


def child_tca(child: Child, path: BarPath) -> ChildTca:
    """Arrival and VWAP slippage, timing/impact split and markouts of one child."""
    s, filled = child.side, child.filled_qty
    arrival, avg = arrival_price(child, path), _avg_price(child.fills)
    slip_inr = timing = impact = vwap = vwap_bps = None
    if arrival is not None and avg is not None:
        slip_inr = s * (avg - arrival) * filled
        markets = [path.market_at(f.ts) for f in child.fills]
        known = [(m, f) for m, f in zip(markets, child.fills, strict=True) if m is not None]
        if len(known) == len(markets):
            timing = sum(s * (m - arrival) * f.qty for m, f in known)
            impact = slip_inr - timing
    if avg is not None:
        vwap = path.vwap(child.ts, max(f.ts for f in child.fills))
        vwap_bps = None if vwap is None else s * (avg - vwap) / vwap * BPS
    mark_inr: dict[int, float | None] = {}
    mark_bps: dict[int, float | None] = {}
    for k in MARKOUT_BARS:
        later = [(path.close_after(f.ts, k), f) for f in child.fills]
        closes = [(c, f) for c, f in later if c is not None]
        if child.fills and len(closes) == len(later):
            value = sum(s * (c - f.price) * f.qty for c, f in closes)
            mark_inr[k] = value
            mark_bps[k] = _bps(value, sum(f.price * f.qty for f in child.fills))
        else:
            mark_inr[k] = mark_bps[k] = None
    return ChildTca(
        client_key=child.client_key, parent_id=child.parent_id, trace_id=child.trace_id,
        strategy=child.strategy, version=child.version, symbol=child.symbol, algo=child.algo,
        side=s, qty=child.qty, filled_qty=filled, fill_rate=filled / child.qty,
        order_type=child.order_type, arrival_price=arrival, avg_fill_price=avg,
        arrival_slippage_inr=slip_inr,
        arrival_slippage_bps=_bps(slip_inr, None if arrival is None else arrival * filled),
        vwap_price=vwap, vwap_slippage_bps=vwap_bps, timing_inr=timing, impact_inr=impact,
        markout_inr=mark_inr, markout_bps=mark_bps)


def _sum(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def parent_tca(parent: Parent, path: BarPath, children: Sequence[ChildTca]) -> ParentTca:
    """Perold implementation shortfall of one parent, decomposed, from its children's TCA."""
    s = parent.side
    fills = [f for c in parent.children for f in c.fills]
    filled = sum(f.qty for f in fills)
    first = min(parent.children, key=lambda c: c.ts)
    decision = first.reference_price if first.reference_price is not None else \
        path.close_at(parent.decision_ts)
    arrival = arrival_price(first, path)
    end = path.last_close_on(parent.decision_ts.date())
    avg = _avg_price(fills)
    delay = None if decision is None or arrival is None else s * (arrival - decision) * filled
    filled_children = [c for c in children if c.filled_qty]
    # children intended later start from their own arrival: their drift since the first
    # arrival is timing too (the market moved while the parent worked)
    drift = _sum(s * (c.arrival_price - arrival) * c.filled_qty
                 if c.arrival_price is not None and arrival is not None else None
                 for c in filled_children)
    timing = _sum([drift, *(c.timing_inr for c in filled_children)])
    impact = _sum(c.impact_inr for c in filled_children)
    unfilled = max(parent.target_qty - filled, 0)
    opportunity = None if decision is None or end is None else \
        s * (end - decision) * unfilled
    shortfall = _sum([delay, timing, impact, opportunity])
    notional = None if decision is None else decision * parent.target_qty
    slip = None if avg is None or arrival is None else s * (avg - arrival) * filled
    vwap_parts = [(c.vwap_slippage_bps, (c.avg_fill_price or 0.0) * c.filled_qty)
                  for c in filled_children]
    return ParentTca(
        parent_id=parent.parent_id, trace_id=parent.trace_id, strategy=parent.strategy,
        version=parent.version,
        symbol=parent.symbol, algo=parent.algo, side=s, day=parent.decision_ts.date(),
        target_qty=parent.target_qty, filled_qty=filled,
        fill_rate=filled / parent.target_qty if parent.target_qty else 0.0,
        decision_price=decision, arrival_price=arrival, avg_fill_price=avg, end_price=end,
        delay_inr=delay, timing_inr=timing, impact_inr=impact, opportunity_inr=opportunity,
        shortfall_inr=shortfall, shortfall_bps=_bps(shortfall, notional),
        arrival_slippage_inr=slip,
        arrival_slippage_bps=_bps(slip, None if arrival is None else arrival * filled),
        vwap_slippage_bps=weighted(vwap_parts), paper_notional_inr=notional)


def weighted(parts: Iterable[tuple[float | None, float]]) -> float | None:
    """Weighted mean of the values that are known (None when none is)."""
    known = [(v, w) for v, w in parts if v is not None and w > 0]
    total = sum(w for _, w in known)
    return None if total <= 0 else sum(v * w for v, w in known) / total


def slippage_vs_assumed_bps(children: Iterable[ChildTca], slippage_ticks: float,
                            tick_size: float) -> tuple[float | None, float | None]:
    """``(realised, assumed)`` arrival slippage in bps over the filled children, weighted by
    their arrival notional; assumed is the research simulator's ``slippage_ticks`` ticks
    against every market / stop fill (a limit fill never slips there)."""
    realised, assumed = [], []
    for c in children:
        if not c.filled_qty or c.arrival_price is None or c.arrival_slippage_bps is None:
            continue
        weight = c.arrival_price * c.filled_qty
        realised.append((c.arrival_slippage_bps, weight))
        slip = 0.0 if c.order_type == "LIMIT" else slippage_ticks * tick_size
        assumed.append((slip / c.arrival_price * BPS, weight))
    return weighted(realised), weighted(assumed)
