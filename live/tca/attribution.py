"""The daily model and execution attribution: each strategy version's day split into
**signal**, **timing**, **slippage** and **costs**, from the TCA tables
(:func:`live.tca.extract.tca_tables` - its decision, arrival and fill prices, never
recomputed) and the cost model (:mod:`strategies.costs`). Every component is a P&L
contribution in INR (positive: it made money); side ``s`` = +1 buy, -1 sell; per parent
(one decision) of ``q`` units filled at ``p`` on average:

* signal = ``-s·P_d·q`` summed, plus the day's leftover net quantity marked at the day's
  last close: the P&L had every fill happened at the decision price ``P_d`` (the close of
  the signal's bar; a protective order: its trigger / limit);
* timing = ``-`` TCA ``delay_inr`` = ``-s·(P_a - P_d)·q``: the move between the signal bar's
  close and the arrival price ``P_a`` (the close known when the order was intended);
* slippage = ``-`` TCA ``arrival_slippage_inr`` = ``-s·(p - P_a)·q``: implementation
  shortfall against arrival (the TCA's timing while working plus its impact);
* costs = ``-`` the cost model's charges of each filled child order (brokerage, STT,
  exchange fees, SEBI fee, stamp duty, GST) on its filled notional.

So signal + timing + slippage = the cash P&L of the fills (+ the leftover marked), and with
costs the day's net P&L. ``realised_net_inr`` is the journal's: the realised P&L of the
trades closed that day (``TradeExited``, as in the TCA's daily rows) less the same costs;
``residual_inr`` = realised - components is 0 (within rounding) on a day that ends flat -
the cutoff's rule - and otherwise the leftover's unrealised P&L and any position carried in.
A parent with no bar price known uses its fill price (all its P&L is signal) and is
counted in ``unpriced_parents``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from live.tca.daily import ALL_ALGOS
from live.tca.extract import TcaTables
from live.tca.metrics import ChildTca, ParentTca
from strategies.costs import CostRates, load_cost_rates, order_cost_breakdown
from strategies.errors import BadInputError
from strategies.files import atomic_write

COMPONENTS: tuple[str, ...] = ("signal_inr", "timing_inr", "slippage_inr", "costs_inr")


class AttributionInputError(BadInputError, ValueError):
    """A strategy in the day's TCA with no cost rates to charge its fills with."""


@dataclass(frozen=True, slots=True)
class AttributionRow:
    """One strategy version's day, split (INR; positive made money)."""

    day: date
    strategy: str
    version: str
    parents: int
    unpriced_parents: int
    filled_qty: int
    open_qty: int  # the day's fills' leftover net quantity (0: flat)
    signal_inr: float
    timing_inr: float
    slippage_inr: float
    costs_inr: float
    net_inr: float  # the four components' sum
    realised_net_inr: float  # the journal's realised P&L of the day less the costs
    residual_inr: float  # realised_net_inr - net_inr


@dataclass(frozen=True, slots=True)
class Attribution:
    day: date | None
    rows: list[AttributionRow]

    def to_json(self) -> dict[str, Any]:
        return {"day": None if self.day is None else self.day.isoformat(),
                "components": list(COMPONENTS),
                "rows": [{**asdict(r), "day": r.day.isoformat()} for r in self.rows]}


@dataclass
class _Acc:
    parents: int = 0
    unpriced: int = 0
    filled: int = 0
    signal: float = 0.0
    timing: float = 0.0
    slippage: float = 0.0
    costs: float = 0.0


def _parent(acc: _Acc, p: ParentTca, net: dict[str, int], ends: dict[str, float]) -> None:
    acc.parents += 1
    if not p.filled_qty or p.avg_fill_price is None:
        return
    s, q = p.side, p.filled_qty
    priced = p.decision_price is not None and p.delay_inr is not None and \
        p.arrival_slippage_inr is not None
    decision = p.decision_price if priced and p.decision_price is not None \
        else p.avg_fill_price
    acc.unpriced += not priced
    acc.filled += q
    acc.signal -= s * decision * q
    if priced:
        acc.timing -= p.delay_inr or 0.0
        acc.slippage -= p.arrival_slippage_inr or 0.0
    net[p.symbol] = net.get(p.symbol, 0) + s * q
    if p.end_price is not None:
        ends[p.symbol] = p.end_price


def _costs(children: Sequence[ChildTca], rates: CostRates) -> float:
    return sum(order_cost_breakdown(rates, is_buy=c.side > 0,
                                    notional_inr=c.avg_fill_price * c.filled_qty).total_inr
               for c in children if c.filled_qty and c.avg_fill_price is not None)


def rates_for(tables: TcaTables, known: Mapping[str, CostRates], day: date | None
              ) -> dict[str, CostRates]:
    """``known`` (each deployed version's own schedule), and for a strategy of ``tables``
    not in it (a version no longer deployed) the schedule in force on ``day``."""
    rates = dict(known)
    for strategy in sorted({p.strategy for p in tables.parents} - set(rates)):
        rates[strategy] = load_cost_rates(on=day)
    return rates


def attribution(tables: TcaTables, rates: Mapping[str, CostRates]) -> Attribution:
    """Each strategy version's day of ``tables``, split into the four components."""
    missing = sorted({p.strategy for p in tables.parents} - set(rates))
    if missing:
        raise AttributionInputError(f"no cost rates for {missing}: attribution charges every "
                                    "fill with its strategy's cost schedule")
    accs: dict[tuple[date, str, str], _Acc] = defaultdict(_Acc)
    nets: dict[tuple[date, str, str], dict[str, int]] = defaultdict(dict)
    ends: dict[tuple[date, str, str], dict[str, float]] = defaultdict(dict)
    for p in tables.parents:
        key = (p.day, p.strategy, p.version)
        _parent(accs[key], p, nets[key], ends[key])
    day_of = {p.parent_id: p.day for p in tables.parents}
    children: dict[tuple[date, str, str], list[ChildTca]] = defaultdict(list)
    for c in tables.children:
        children[(day_of[c.parent_id], c.strategy, c.version)].append(c)
    realised = {(r.day, r.strategy, r.version): r.realised_pnl_inr or 0.0
                for r in tables.days if r.algo == ALL_ALGOS}
    rows = []
    for key in sorted(accs):
        acc = accs[key]
        acc.costs = -_costs(children[key], rates[key[1]])
        # the leftover net quantity, short -s·P_d·q already counted: marked at the day's end
        leftover = {s: q for s, q in nets[key].items() if q}
        acc.signal += sum(q * ends[key].get(s, 0.0) for s, q in leftover.items())
        net = acc.signal + acc.timing + acc.slippage + acc.costs
        journal_net = realised.get(key, 0.0) + acc.costs
        rows.append(AttributionRow(
            day=key[0], strategy=key[1], version=key[2], parents=acc.parents,
            unpriced_parents=acc.unpriced, filled_qty=acc.filled,
            open_qty=sum(leftover.values()), signal_inr=acc.signal + 0.0,
            timing_inr=acc.timing + 0.0, slippage_inr=acc.slippage + 0.0,
            costs_inr=acc.costs + 0.0, net_inr=net + 0.0, realised_net_inr=journal_net,
            residual_inr=journal_net - net + 0.0))
    return Attribution(tables.day, rows)


@dataclass(frozen=True, slots=True)
class AttributionFiles:
    json_path: Path
    html_path: Path


_COLUMNS = ("day", "strategy", "version", "parents", "unpriced_parents", "filled_qty",
            "open_qty", *COMPONENTS, "net_inr", "realised_net_inr", "residual_inr")


def _cell(value: object) -> str:
    import html

    if isinstance(value, float):
        return f"{value + 0.0:,.2f}"
    return html.escape(str(value))


def render_attribution_html(report: Attribution) -> str:
    """One self-contained page: the table and how each component is defined."""
    import html

    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_cell(getattr(r, c))}</td>" for c in _COLUMNS)
                   + "</tr>" for r in report.rows)
    doc = html.escape(__doc__ or "")
    style = ("body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Attribution "
            f"{report.day}</title><style>{style}</style></head><body><h1>Model and execution "
            f"attribution {report.day}</h1><table><tr>{head}</tr>{body}</table>"
            f"<h2>Definitions</h2><pre>{doc}</pre></body></html>")


def write_attribution(report: Attribution, folder: Path) -> AttributionFiles:
    """``attribution.json`` and ``attribution.html`` in ``folder`` (atomic; made)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.to_json(), indent=2, sort_keys=True)
    page = render_attribution_html(report)
    return AttributionFiles(
        atomic_write(folder / "attribution.json", lambda tmp: Path(tmp).write_text(text)),
        atomic_write(folder / "attribution.html", lambda tmp: Path(tmp).write_text(page)))


def text_lines(report: Attribution) -> list[str]:
    """One line per strategy version: what the CLI prints."""
    if not report.rows:
        return [f"{report.day}: no fills - nothing to attribute"]
    return [f"{r.day} {r.strategy} v{r.version}: net {r.net_inr:,.2f} INR = signal "
            f"{r.signal_inr:,.2f} + timing {r.timing_inr:,.2f} + slippage "
            f"{r.slippage_inr:,.2f} + costs {r.costs_inr:,.2f}; journal realised net "
            f"{r.realised_net_inr:,.2f} (residual {r.residual_inr:,.2f}, open qty "
            f"{r.open_qty})" for r in report.rows]


AttributionSink = Callable[[Attribution, AttributionFiles], None]
