"""One dataset's portfolio study, step by step: its sleeves (the researched strategies'
walk-forward reports, and the same walk-forward on each further symbol of
``research.portfolio.symbols``), the allocation study, and the portfolio gate.

The ``portfolio_study`` Dagster asset calls :func:`run_portfolio`; nothing here knows about
Dagster or MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.research import study
from pipelines.research.config import ResearchSettings
from pipelines.research.gates import GateVerdict, load_gates
from pipelines.research.portfolio import (
    PortfolioStudy,
    PortfolioStudyError,
    Sleeve,
    returns_matrix,
    sleeve_of,
    study_portfolio,
)
from pipelines.research.walk_forward import WalkForwardReport

#: gates.yaml checks the portfolio is held to: check -> (study metric, min|max)
PORTFOLIO_CHECKS = {"min_oos_sharpe": ("portfolio_sharpe", "min"),
                    "min_dsr_probability": ("portfolio_dsr_probability", "min"),
                    "max_drawdown": ("portfolio_max_drawdown", "max"),
                    "max_pbo": ("portfolio_pbo", "max")}
PORTFOLIO_GATE_NAME = "portfolio"


@dataclass(frozen=True, slots=True)
class PortfolioOutcome:
    """The study, the sleeves' returns it allocated across, and its gate."""

    study: PortfolioStudy
    matrix: pd.DataFrame
    gate: dict[str, Any]


def portfolio_gate(gates_file: Path, metrics: Mapping[str, float]) -> dict[str, Any]:
    """The portfolio's statistics against ``gates.yaml`` (its defaults, overridden by a
    ``strategies.portfolio`` block): OOS Sharpe, DSR, drawdown, and PBO across the
    allocators when it applies (a NaN fails, except PBO with one allocator: not applicable)."""
    thresholds = load_gates(gates_file).for_strategy(PORTFOLIO_GATE_NAME).model_dump()
    checks = []
    for name, (metric, kind) in PORTFOLIO_CHECKS.items():
        value = float(metrics.get(metric, math.nan))
        limit = float(thresholds[name])
        if name == "max_pbo" and metrics.get("portfolio_pbo.n_configs", 0.0) < 2:
            continue  # one allocator: no selection among allocators to overfit
        ok = not math.isnan(value) and (value >= limit if kind == "min" else value <= limit)
        checks.append({"name": name, "metric": metric, "value": value, "threshold": limit,
                       "passed": ok})
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def _included(verdict: GateVerdict, include: str) -> bool:
    return include == "all" or verdict.passed


def sleeves_for(root: Path, dataset: str, research: ResearchSettings, gates_file: Path,
                reports: Mapping[str, WalkForwardReport], verdicts: Mapping[str, GateVerdict],
                progress: Callable[[str], None] | None = None) -> tuple[list[Sleeve], list[str]]:
    """The study's sleeves, in ``research.strategies`` order then symbol order, and notes on
    what was left out. ``reports``/``verdicts`` are the researched symbol's, by strategy."""
    include = research.portfolio.include
    sleeves, notes = [], []
    for strategy in research.strategies:
        if strategy not in reports:
            raise PortfolioStudyError(f"{dataset}: no walk-forward report of {strategy}; "
                                      "research every strategy of research.strategies first")
        if _included(verdicts[strategy], include):
            sleeves.append(sleeve_of(reports[strategy], verdicts[strategy].passed))
        else:
            notes.append(f"{strategy}/{reports[strategy].symbol} left out: failed its gates "
                         "(research.portfolio.include=gate_passed)")
    researched = {r.symbol for r in reports.values()}
    for symbol in research.portfolio.symbols.get(dataset, ()):
        if symbol in researched:
            continue
        features = study.build_features(root, dataset, research, symbol=symbol)
        for strategy in research.strategies:
            if progress is not None:
                progress(f"walk-forward {strategy} on {symbol}")
            report = study.walk_forward(root, dataset, strategy, features, research)
            verdict = study.gate_verdict(gates_file, report)
            if _included(verdict, include):
                sleeves.append(sleeve_of(report, verdict.passed))
            else:
                notes.append(f"{strategy}/{symbol} left out: failed its gates "
                             "(research.portfolio.include=gate_passed)")
    return sleeves, notes


def run_portfolio(root: Path, dataset: str, research: ResearchSettings, gates_file: Path,
                  reports: Mapping[str, WalkForwardReport],
                  verdicts: Mapping[str, GateVerdict],
                  progress: Callable[[str], None] | None = None) -> PortfolioOutcome | str:
    """The dataset's portfolio study and its gate, or why there is none: fewer than two
    sleeves (one strategy and one symbol, or ``include: gate_passed`` leaving fewer)."""
    settings = research.portfolio
    sleeves, notes = sleeves_for(root, dataset, research, gates_file, reports, verdicts,
                                 progress)
    if len(sleeves) < 2:
        return (f"{dataset}: no portfolio study: {len(sleeves)} sleeve(s) "
                f"({', '.join(s.name for s in sleeves) or 'none'}); " + "; ".join(notes)
                ).rstrip("; ")
    result = study_portfolio(
        dataset, sleeves, allocators=settings.allocators, method=settings.method,
        train=settings.train_sessions, test=settings.test_sessions,
        pbo_splits=research.pbo_splits, target_volatility=settings.target_volatility,
        max_leverage=settings.max_leverage, settings=settings.model_dump(mode="json"))
    result.notes.extend(notes)
    result.notes.append(
        "weights scale each sleeve's per-session return (its P&L over its research capital) "
        "as if its size scaled with its capital; lots are whole numbers live, so a small "
        "weight rounds")
    return PortfolioOutcome(result, returns_matrix(sleeves), portfolio_gate(gates_file,
                                                                             result.metrics))
