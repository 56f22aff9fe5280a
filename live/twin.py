"""The paper twin's daily reconciliation: the live journal against its twin's - a paper
runner of the same versions on the same bars (the bars the live runner journaled), with its
own journal and a paper exchange.

Per strategy, both sides' fills and filled quantity, the closed trades' net P&L, the
arrival slippage of each fill (bps, :mod:`live.tca`) and the signals, with three tests:

- **signal agreement**: signals are paired by (symbol, bar); a pair agrees when both sides
  raised the same side. The discordant pairs (live only vs twin only) are tested with
  McNemar's exact test (a binomial test of the discordant split against 1/2,
  :func:`scipy.stats.binomtest`);
- **per-trade P&L** and **slippage**: the two-sample Kolmogorov-Smirnov test
  (:func:`scipy.stats.ks_2samp`) of live against twin.

A breach: signal agreement below ``min_signal_agreement``, or a p-value below ``alpha``
(policy.yaml ``signal_governance.twin``). Too few observations for a test (fewer than two
trades on a side) is reported as not tested, never as a pass.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from live.events import (
    BarClosed,
    OrderFilled,
    OrderIntended,
    SignalRaised,
    SignalSide,
    TradeExited,
)
from live.journal import Journal
from live.runner.feed import FeedBar
from live.tca.extract import tca_tables
from strategies.errors import BadInputError

TWIN_ALERT = "twin_drift"
TWIN_FILE = "twin.json"


class TwinLimitsError(BadInputError, ValueError):
    """Twin reconciliation limits out of range; the message names the field and value."""


@dataclass(frozen=True, slots=True)
class TwinLimits:
    """When live and its twin have drifted apart (policy.yaml ``signal_governance.twin``)."""

    alpha: float = 0.01
    min_signal_agreement: float = 0.95

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha < 0.5) or not (0.0 <= self.min_signal_agreement <= 1.0):
            raise TwinLimitsError(f"signal_governance.twin: alpha={self.alpha!r} (in (0, 0.5)),"
                                  f" min_signal_agreement={self.min_signal_agreement!r} "
                                  "(in [0, 1])")


def journaled_bars(journal: Journal, day: date) -> list[FeedBar]:
    """The bars ``journal`` recorded on ``day`` (exchange-local date), in journal order -
    exactly the bars its runner acted on."""
    return [FeedBar(m.symbol, m.ts_event, m.open, m.high, m.low, m.close, m.volume)
            for _, m in journal.read()
            if isinstance(m, BarClosed) and m.ts_event.date() == day]


@dataclass
class Side:
    """One journal's day of one strategy."""

    signals: dict[tuple[str, str], str] = field(default_factory=dict)  # (symbol, ts) -> side
    fills: int = 0
    filled_qty: int = 0
    trade_pnl_inr: list[float] = field(default_factory=list)
    slippage_bps: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        pnl = self.trade_pnl_inr
        slip = self.slippage_bps
        return {"signals": len(self.signals), "fills": self.fills,
                "filled_qty": self.filled_qty, "trades": len(pnl),
                "pnl_inr": sum(pnl), "pnl_per_trade_inr": sum(pnl) / len(pnl) if pnl else None,
                "mean_slippage_bps": sum(slip) / len(slip) if slip else None}


def read_sides(journal: Journal, day: date) -> dict[str, Side]:
    """Each strategy's day in ``journal``."""
    sides: dict[str, Side] = defaultdict(Side)
    owner: dict[str, str] = {}  # client key -> strategy
    for _, m in journal.read():
        if isinstance(m, OrderIntended):
            owner[m.client_key] = m.strategy
        elif isinstance(m, SignalRaised):
            if m.ts_event.date() == day and m.side is not SignalSide.FLAT:
                sides[m.strategy].signals[(m.symbol, m.ts_event.isoformat())] = m.side.value
        elif isinstance(m, OrderFilled) and m.ts_event.date() == day and \
                m.client_key in owner:
            side = sides[owner[m.client_key]]
            side.fills += 1
            side.filled_qty += m.qty
        elif isinstance(m, TradeExited) and m.ts_event.date() == day:
            sides[m.strategy].trade_pnl_inr.append(m.pnl_inr)
    for child in tca_tables(journal, day).children:
        if child.arrival_slippage_bps is not None and child.filled_qty:
            sides[child.strategy].slippage_bps.append(child.arrival_slippage_bps)
    return dict(sides)


def _ks(a: list[float], b: list[float]) -> dict[str, float | None]:
    if len(a) < 2 or len(b) < 2:
        return {"statistic": None, "p_value": None}
    from scipy import stats  # ~0.3 s: only when a report is made

    result = stats.ks_2samp(a, b)
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue)}


def _mcnemar(live_only: int, twin_only: int) -> float:
    if live_only + twin_only == 0:
        return 1.0
    from scipy import stats

    return float(stats.binomtest(live_only, live_only + twin_only, 0.5).pvalue)


@dataclass(frozen=True, slots=True)
class StrategyTwin:
    """Live against its twin for one strategy on one day."""

    strategy: str
    live: dict[str, Any]
    twin: dict[str, Any]
    signals_compared: int
    signal_agreement: float | None
    live_only: int
    twin_only: int
    signal_p_value: float  # McNemar's exact test of live_only against twin_only
    ks_pnl: dict[str, float | None]
    ks_slippage: dict[str, float | None]
    breaches: tuple[str, ...]


def compare(strategy: str, live: Side, twin: Side, limits: TwinLimits) -> StrategyTwin:
    keys = set(live.signals) | set(twin.signals)
    agree = sum(1 for k in keys if live.signals.get(k) == twin.signals.get(k))
    live_only = sum(1 for k in keys if k in live.signals and k not in twin.signals)
    twin_only = sum(1 for k in keys if k in twin.signals and k not in live.signals)
    agreement = agree / len(keys) if keys else None
    signal_p = _mcnemar(live_only, twin_only)
    ks_pnl = _ks(live.trade_pnl_inr, twin.trade_pnl_inr)
    ks_slip = _ks(live.slippage_bps, twin.slippage_bps)
    breaches = []
    if agreement is not None and agreement < limits.min_signal_agreement:
        breaches.append(f"signal agreement {agreement:.3f} < {limits.min_signal_agreement:g} "
                        f"({live_only} live only, {twin_only} twin only, McNemar p "
                        f"{signal_p:.3g})")
    elif signal_p < limits.alpha:
        breaches.append(f"signals: McNemar p {signal_p:.3g} < {limits.alpha:g}")
    for name, found in (("per-trade P&L", ks_pnl), ("slippage", ks_slip)):
        p = found["p_value"]
        if p is not None and p < limits.alpha:
            breaches.append(f"{name}: KS {found['statistic']:.3f}, p {p:.3g} < {limits.alpha:g}")
    return StrategyTwin(strategy, live.summary(), twin.summary(), len(keys), agreement,
                        live_only, twin_only, signal_p, ks_pnl, ks_slip, tuple(breaches))


@dataclass(frozen=True, slots=True)
class TwinReport:
    """The day's reconciliation of live against its paper twin."""

    day: date
    strategies: tuple[StrategyTwin, ...]
    limits: TwinLimits

    @property
    def breaches(self) -> list[str]:
        return [f"{s.strategy}: {b}" for s in self.strategies for b in s.breaches]

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "limits": asdict(self.limits),
                "strategies": [asdict(s) for s in self.strategies],
                "breaches": self.breaches}


def reconcile_twin(live: Journal, twin: Journal, day: date, limits: TwinLimits,
                   strategies: Iterable[str] = ()) -> TwinReport:
    """Live against twin on ``day`` for every strategy either traded (and ``strategies``)."""
    live_sides, twin_sides = read_sides(live, day), read_sides(twin, day)
    names = sorted(set(live_sides) | set(twin_sides) | set(strategies))
    return TwinReport(day, tuple(compare(n, live_sides.get(n, Side()),
                                         twin_sides.get(n, Side()), limits)
                                 for n in names), limits)


def write_twin_report(report: TwinReport, folder: Path) -> Path:
    """``folder/twin.json``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TWIN_FILE
    path.write_text(json.dumps(report.to_json(), indent=2, sort_keys=True, allow_nan=False))
    return path


def _num(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def text_lines(report: TwinReport) -> list[str]:
    """The report as a desk reads it."""
    lines = [f"paper twin reconciliation {report.day} (alpha {report.limits.alpha:g}, "
             f"min signal agreement {report.limits.min_signal_agreement:g})"]
    for s in report.strategies:
        lines.append(
            f"  {s.strategy}: signals {s.signals_compared} compared, agreement "
            f"{_num(s.signal_agreement, '.3f')} (McNemar p {s.signal_p_value:.3g}); "
            f"fills live {s.live['fills']} / twin {s.twin['fills']}; trades live "
            f"{s.live['trades']} / twin {s.twin['trades']}; P&L per trade live "
            f"{_num(s.live['pnl_per_trade_inr'])} / twin {_num(s.twin['pnl_per_trade_inr'])} "
            f"INR (KS p {_num(s.ks_pnl['p_value'], '.3g')}); slippage live "
            f"{_num(s.live['mean_slippage_bps'])} / twin {_num(s.twin['mean_slippage_bps'])} "
            f"bps (KS p {_num(s.ks_slippage['p_value'], '.3g')})")
        lines += [f"    BREACH {b}" for b in s.breaches]
    if not report.strategies:
        lines.append("  nothing traded or signalled on either side")
    return lines
