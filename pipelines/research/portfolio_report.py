"""The portfolio study's report: ``portfolio.json`` (no NaN), ``portfolio.html`` (the
statistics of the portfolio next to each single strategy's, the learned weights per window,
an equity plot embedded) and ``equity.png``, written atomically under
``<research.artifacts_dir>/portfolio/<dataset>/``."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipelines.research.portfolio import PortfolioStudy
from pipelines.research.research_report import _json_safe, _png, _table, _write_atomic

ROW_COLUMNS = ("name", "kind", "gate_passed", "sharpe", "max_drawdown", "total_return", "vol",
               "dsr_probability", "dsr.n_trials", "pbo", "sessions")


def portfolio_dict(study: PortfolioStudy, gate: Mapping[str, Any] | None) -> dict[str, Any]:
    """The study as a JSON-safe dict (what ``portfolio.json`` holds)."""
    safe: dict[str, Any] = _json_safe({
        "dataset": study.dataset, "method": study.method, "sleeves": study.sleeves,
        "best_single": study.best_single, "beats_best_single": study.beats_best_single,
        "metrics": study.metrics, "rows": study.rows, "settings": study.settings,
        "notes": study.notes, "gate": dict(gate) if gate is not None else None,
        "allocations": {name: {
            "windows": [list(w) for w in a.windows],
            "weights": {str(d.date()): {str(k): float(v) for k, v in row.items()}
                        for d, row in a.weights.iterrows()}}
            for name, a in study.allocations.items()},
    })
    return safe


def equity_png(study: PortfolioStudy, sleeves: pd.DataFrame) -> bytes:
    """Growth of 1 on the evaluation sessions: each allocation and each sleeve alone."""
    fig = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    evaluated = study.allocations[study.method].returns.index
    for name in sleeves.columns:
        ax.plot(evaluated.to_numpy(), np.cumprod(1.0 + sleeves.loc[evaluated, name].to_numpy()),
                lw=0.9, alpha=0.7, label=str(name))
    for name, allocation in study.allocations.items():
        ax.plot(evaluated.to_numpy(), np.cumprod(1.0 + allocation.returns.to_numpy()),
                lw=2.2 if name == study.method else 1.4, label=f"portfolio: {name}")
    ax.set_title(f"{study.dataset}: out-of-sample growth of 1, portfolio vs single strategies")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def _weights_rows(study: PortfolioStudy) -> tuple[list[str], list[list[Any]]]:
    weights = study.allocations[study.method].weights
    header = ["test window from", *map(str, weights.columns)]
    return header, [[str(d.date()), *map(float, row)] for d, row in weights.iterrows()]


def _html(study: PortfolioStudy, gate: Mapping[str, Any] | None, png: bytes) -> str:
    title = html.escape(f"{study.dataset}: portfolio study ({study.method})")
    verdict = ("beats" if study.beats_best_single else "does not beat")
    headline = (f"<p><b>The {html.escape(study.method)} portfolio {verdict} the best single "
                f"strategy ({html.escape(study.best_single)}) out of sample</b>: Sharpe "
                f"{study.metrics['portfolio_sharpe']:.3f} vs "
                f"{study.metrics['best_single_sharpe']:.3f} on the same "
                f"{int(study.metrics['evaluation_sessions'])} sessions.</p>")
    gate_html = "<p>No gate.</p>" if gate is None else _table(
        ["check", "value", "threshold", "result"],
        [[c["name"], c["value"], c["threshold"], "pass" if c["passed"] else "FAIL"]
         for c in gate["checks"]])
    header, rows = _weights_rows(study)
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}")
    return "\n".join([
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title>"
        f"<style>{style}</style></head><body><h1>{title}</h1>", headline,
        "<h2>Walk-forward statistics: the portfolio next to the single strategies</h2>",
        "<p>All on the evaluation sessions (those the allocation's nested walk-forward "
        "tests); Sharpe annualised (sqrt 252); DSR with every sleeve's evaluated "
        "combinations and every allocator counted as trials; PBO by CSCV across the "
        "allocators.</p>",
        _table(list(ROW_COLUMNS), [[r.get(c, math.nan) for c in ROW_COLUMNS]
                                   for r in study.rows]),
        "<h2>Portfolio gate</h2>", gate_html,
        "".join(f"<p><b>note:</b> {html.escape(n)}</p>" for n in study.notes),
        f"<h2>Weights learned per training window ({html.escape(study.method)})</h2>",
        _table(header, rows),
        "<h2>Settings</h2>", _table(["key", "value"],
                                    [[k, study.settings[k]] for k in sorted(study.settings)]),
        f'<h2>equity.png</h2><img alt="equity" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}">', "</body></html>"])


def write_portfolio_artifacts(study: PortfolioStudy, sleeves: pd.DataFrame,
                              gate: Mapping[str, Any] | None, out_dir: Path) -> dict[str, Path]:
    """Write portfolio.json, portfolio.html and equity.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = equity_png(study, sleeves)
    contents = {
        "portfolio.json": json.dumps(portfolio_dict(study, gate), indent=2, sort_keys=True,
                                     allow_nan=False).encode(),
        "portfolio.html": _html(study, gate, png).encode(),
        "equity.png": png,
    }
    paths = {name: out_dir / name for name in contents}
    for name, data in contents.items():
        _write_atomic(paths[name], data)
    return paths
