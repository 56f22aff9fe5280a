"""The per-order impact budget (risk.yaml ``execution.max_impact_bps``) the pre-trade risk
engine checks: every order's impact is estimated before it is sent and shown in the risk
decision (journaled as ``RiskChecked``); an entry whose estimate exceeds the budget is
denied, a risk-reducing order passes with the breach as its warning (the runner alerts).

Minute statistics (Parkinson volatility and traded volume per minute, averaged) come from
the feed's history bars, the same bars the portfolio caps read. A symbol without them has
no estimate: its entries are denied (fail closed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from live.impact.estimate import ImpactEstimate, ImpactParams, estimate_impact

CHECK = "max_impact"


@dataclass(frozen=True, kw_only=True, slots=True)
class MinuteStats:
    """A symbol's average one-minute Parkinson volatility (bps) and traded volume (units)."""

    sigma_per_minute_bps: float
    adv_minute_volume: float


def minute_stats(bars: pd.DataFrame) -> dict[str, MinuteStats]:
    """Per-symbol :class:`MinuteStats` of a bars frame (``symbol, high, low, volume``);
    bars without volume or range are left out, symbols with none of either are absent."""
    stats = {}
    for symbol, group in bars.groupby("symbol", sort=True):
        high, low = group["high"].to_numpy(float), group["low"].to_numpy(float)
        volume = group["volume"].to_numpy(float)
        ranged = (low > 0) & (high > low)
        traded = np.isfinite(volume) & (volume > 0)
        if not ranged.any() or not traded.any():
            continue
        sigma = np.log(high[ranged] / low[ranged]) / math.sqrt(4 * math.log(2)) * 1e4
        stats[str(symbol)] = MinuteStats(sigma_per_minute_bps=float(sigma.mean()),
                                         adv_minute_volume=float(volume[traded].mean()))
    return stats


@dataclass(frozen=True, kw_only=True, slots=True)
class ImpactAssessment:
    """An order's estimate (None when the symbol has no minute statistics), what the
    decision shows, and the budget breach if any ("" when within budget)."""

    estimate: ImpactEstimate | None
    note: str
    breach: str


class ImpactBudget:
    """Estimates every order's impact with ``params`` and checks it against
    ``max_impact_bps``."""

    def __init__(self, params: ImpactParams, max_impact_bps: float,
                 markets: Mapping[str, MinuteStats]) -> None:
        self.params, self.max_impact_bps, self.markets = params, max_impact_bps, markets

    def assess(self, symbol: str, qty: int, price: float) -> ImpactAssessment:
        """The estimate of an order of ``qty`` ``symbol`` at ``price`` against the budget."""
        stats = self.markets.get(symbol)
        if stats is None:
            why = (f"no minute volume/volatility for {symbol} in the feed's history: its "
                   "impact cannot be estimated")
            return ImpactAssessment(estimate=None, note=why, breach=why)
        estimate = estimate_impact(qty, price, stats.sigma_per_minute_bps,
                                   stats.adv_minute_volume, self.params)
        note = estimate.describe(self.params)
        if self.params.calibration_source == "literature":
            note += f" [{self.params.note}]"
        breach = ""
        if estimate.total_bps > self.max_impact_bps:
            breach = (f"estimated impact {estimate.total_bps:.2f} bps > execution."
                      f"max_impact_bps={self.max_impact_bps:g} ({note})")
        return ImpactAssessment(estimate=estimate, note=note, breach=breach)
