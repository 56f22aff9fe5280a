"""Abnormal P&L or position build-up: a strategy's day against its own history by robust
z-score (median and MAD, so one past outlier does not hide the next)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from live.compliance.findings import Finding
from live.compliance.flow import DayFlow
from live.compliance.thresholds import AbnormalThresholds
from live.events import Severity

MAD_TO_SIGMA = 1.4826  # MAD of a normal sample times this estimates its standard deviation


def robust_z(value: float, history: Sequence[float], min_scale: float) -> float:
    """``(value - median) / max(1.4826 * MAD, min_scale)``."""
    centre = statistics.median(history)
    mad = statistics.median(abs(x - centre) for x in history)
    return (value - centre) / max(MAD_TO_SIGMA * mad, min_scale)


@dataclass(frozen=True, slots=True)
class History:
    """Per strategy: daily realised P&L; per (strategy, symbol): daily max |position|,
    over the previous days (oldest first; days without activity count as 0)."""

    pnl_inr: dict[str, list[float]]
    max_abs_net: dict[tuple[str, str], list[float]]
    days: int


def history_of(flows: Sequence[DayFlow]) -> History:
    """The history of the given previous days (each a day with journaled activity)."""
    pnl: dict[str, list[float]] = {}
    nets: dict[tuple[str, str], list[float]] = {}
    strategies = {s for f in flows for s in f.pnl_inr} | {
        s for f in flows for sym in f.symbols.values() for s in sym.max_abs_net}
    pairs = {(s, name) for f in flows for name, sym in f.symbols.items()
             for s in sym.max_abs_net}
    for strategy in strategies:
        pnl[strategy] = [f.pnl_inr.get(strategy, 0.0) for f in flows]
    for strategy, symbol in pairs:
        nets[(strategy, symbol)] = [
            float(f.symbols[symbol].max_abs_net.get(strategy, 0)) if symbol in f.symbols
            else 0.0 for f in flows]
    return History(pnl, nets, len(flows))


def _severity(z: float, cfg: AbnormalThresholds) -> Severity | None:
    if abs(z) >= cfg.z_critical:
        return Severity.CRITICAL
    return Severity.WARNING if abs(z) >= cfg.z_warning else None


def detect_abnormal(flow: DayFlow, history: History, cfg: AbnormalThresholds,
                    ts: datetime) -> list[Finding]:
    """Findings for the day's P&L per strategy and max position per strategy and symbol."""
    if history.days < cfg.min_history_days:
        return []
    found = []
    for strategy, pnl in sorted(flow.pnl_inr.items()):
        past = history.pnl_inr.get(strategy, [0.0] * history.days)
        z = robust_z(pnl, past, cfg.min_scale_inr)
        severity = _severity(z, cfg)
        if severity is not None:
            found.append(_finding(flow.day, ts, "abnormal_pnl", severity, "*", strategy,
                                  f"{strategy}: realised P&L {pnl:,.0f} INR on {flow.day} "
                                  f"is {z:+.1f} robust sigma from its last {history.days} "
                                  f"days (median {statistics.median(past):,.0f})",
                                  {"strategy": strategy, "pnl_inr": pnl, "z": round(z, 3),
                                   "median_inr": statistics.median(past),
                                   "history_days": history.days}))
    for symbol, sym in sorted(flow.symbols.items()):
        for strategy, peak in sorted(sym.max_abs_net.items()):
            past = history.max_abs_net.get((strategy, symbol), [0.0] * history.days)
            z = robust_z(float(peak), past, cfg.min_scale_qty)
            severity = _severity(z, cfg) if z > 0 else None
            if severity is not None:
                found.append(_finding(flow.day, ts, "abnormal_position", severity, symbol,
                                      strategy,
                                      f"{strategy}/{symbol}: position reached {peak} units, "
                                      f"{z:+.1f} robust sigma above its last "
                                      f"{history.days} days (median "
                                      f"{statistics.median(past):g})",
                                      {"strategy": strategy, "max_abs_qty": peak,
                                       "z": round(z, 3), "median_qty": statistics.median(past),
                                       "history_days": history.days}))
    return found


def _finding(day: date, ts: datetime, detector: str, severity: Severity, symbol: str,
             strategy: str, summary: str, evidence: dict[str, object]) -> Finding:
    return Finding(detector=detector, severity=severity, day=day, ts=ts, symbol=symbol,
                   summary=summary, evidence=evidence, keys=(detector, strategy, symbol))
