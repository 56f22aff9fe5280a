"""Per-day TCA rows: one per strategy, version and algo, plus an ``all`` row per strategy and
version carrying the day's P&L and the execution cost as a share of the gross P&L."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from live.tca.metrics import BPS, MARKOUT_BARS, ChildTca, ParentTca, weighted

ALL_ALGOS = "all"


@dataclass(frozen=True, slots=True)
class PnlEntry:
    """A closed trade's realised P&L (``TradeExited``), at the prices it filled at."""

    day: date
    strategy: str
    version: str
    pnl_inr: float


@dataclass(frozen=True, slots=True)
class DailyTca:
    """One day of one strategy version's executions (``algo`` ``all``: every algo)."""

    day: date
    strategy: str
    version: str
    algo: str
    parents: int
    children: int
    target_qty: int
    filled_qty: int
    fill_rate: float
    arrival_slippage_inr: float
    arrival_slippage_bps: float | None
    vwap_slippage_bps: float | None
    delay_inr: float
    timing_inr: float
    impact_inr: float
    opportunity_inr: float
    shortfall_inr: float
    shortfall_bps: float | None
    markout_bps: dict[int, float | None] = field(default_factory=dict)
    realised_pnl_inr: float | None = None  # ``all`` rows only
    gross_pnl_inr: float | None = None  # realised + shortfall: the P&L at decision prices
    cost_share: float | None = None  # shortfall / |gross P&L|


def _total(values: Iterable[float | None]) -> float:
    return sum(v for v in values if v is not None)


def _row(key: tuple[date, str, str, str], parents: Sequence[ParentTca],
         children: Sequence[ChildTca]) -> DailyTca:
    day, strategy, version, algo = key
    target = sum(p.target_qty for p in parents)
    filled = sum(p.filled_qty for p in parents)
    slip = _total(p.arrival_slippage_inr for p in parents)
    arrival_notional = _total((p.arrival_price or 0.0) * p.filled_qty for p in parents)
    paper = _total(p.paper_notional_inr for p in parents)
    shortfall = _total(p.shortfall_inr for p in parents)
    fill_notional = [(c, (c.avg_fill_price or 0.0) * c.filled_qty) for c in children]
    return DailyTca(
        day=day, strategy=strategy, version=version, algo=algo, parents=len(parents),
        children=len(children), target_qty=target, filled_qty=filled,
        fill_rate=filled / target if target else 0.0, arrival_slippage_inr=slip,
        arrival_slippage_bps=slip / arrival_notional * BPS if arrival_notional > 0 else None,
        vwap_slippage_bps=weighted((c.vwap_slippage_bps, w) for c, w in fill_notional),
        delay_inr=_total(p.delay_inr for p in parents),
        timing_inr=_total(p.timing_inr for p in parents),
        impact_inr=_total(p.impact_inr for p in parents),
        opportunity_inr=_total(p.opportunity_inr for p in parents), shortfall_inr=shortfall,
        shortfall_bps=shortfall / paper * BPS if paper > 0 else None,
        markout_bps={k: weighted((c.markout_bps.get(k), w) for c, w in fill_notional)
                     for k in MARKOUT_BARS})


def daily_tca(parents: Sequence[ParentTca], children: Sequence[ChildTca],
              pnl: Sequence[PnlEntry]) -> list[DailyTca]:
    """Rows per (day, strategy, version, algo) and the ``all`` row with the cost share."""
    by_parent = {p.parent_id: p for p in parents}
    groups: dict[tuple[date, str, str, str], tuple[list[ParentTca], list[ChildTca]]] = \
        defaultdict(lambda: ([], []))
    for p in parents:
        for algo in (p.algo, ALL_ALGOS):
            groups[(p.day, p.strategy, p.version, algo)][0].append(p)
    for c in children:
        day = by_parent[c.parent_id].day
        for algo in (c.algo, ALL_ALGOS):
            groups[(day, c.strategy, c.version, algo)][1].append(c)
    realised: dict[tuple[date, str, str], float] = defaultdict(float)
    for entry in pnl:
        realised[(entry.day, entry.strategy, entry.version)] += entry.pnl_inr
    rows = []
    for key in sorted(groups):
        row = _row(key, *groups[key])
        if key[3] == ALL_ALGOS:
            pnl_inr = realised.get(key[:3], 0.0)
            gross = pnl_inr + row.shortfall_inr
            row = _with_pnl(row, pnl_inr, gross)
        rows.append(row)
    return rows


def _with_pnl(row: DailyTca, pnl_inr: float, gross: float) -> DailyTca:
    share = None if abs(gross) < 1e-9 else row.shortfall_inr / abs(gross)
    return replace(row, realised_pnl_inr=pnl_inr, gross_pnl_inr=gross, cost_share=share)
