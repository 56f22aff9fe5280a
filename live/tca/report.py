"""The daily TCA report: ``tca.json`` (the tables) and ``tca.html`` (self-contained: the
tables and matplotlib plots embedded as base64 PNG), plus a plain-text summary for a
terminal."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from live.journal import Journal
from live.tca.attribution import (
    AttributionSink,
    attribution,
    rates_for,
    text_lines,
    write_attribution,
)
from live.tca.daily import ALL_ALGOS, DailyTca
from live.tca.extract import TcaTables, tca_tables
from live.tca.metrics import MARKOUT_BARS
from strategies.costs import CostRates
from strategies.files import atomic_write

DAILY_COLUMNS: tuple[str, ...] = (
    "day", "strategy", "version", "algo", "parents", "children", "fill_rate",
    "arrival_slippage_bps", "vwap_slippage_bps", "delay_inr", "timing_inr", "impact_inr",
    "opportunity_inr", "shortfall_inr", "shortfall_bps", "realised_pnl_inr", "cost_share")
PARENT_COLUMNS: tuple[str, ...] = (
    "trace_id", "strategy", "version", "symbol", "algo", "side", "target_qty", "filled_qty",
    "decision_price", "arrival_price", "avg_fill_price", "shortfall_inr", "shortfall_bps")


@dataclass(frozen=True, slots=True)
class TcaReportFiles:
    """Where a day's TCA report was written."""

    json_path: Path
    html_path: Path


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value + 0.0:,.2f}"  # + 0.0: no "-0.00"
    return str(value)


def _cells(row: Any, columns: Sequence[str]) -> list[str]:
    cells = [_fmt(getattr(row, c)) for c in columns]
    if isinstance(row, DailyTca):
        cells += [_fmt(row.markout_bps.get(k)) for k in MARKOUT_BARS]
    return cells


def text_summary(tables: TcaTables) -> str:
    """One line per strategy version and algo: what ``stratops tca report`` prints."""
    if not tables.days:
        return f"{tables.day}: no orders intended - nothing to analyse"
    lines = []
    for r in tables.days:
        marks = " ".join(f"{k}b {_fmt(r.markout_bps.get(k))}" for k in MARKOUT_BARS)
        lines.append(
            f"{r.day} {r.strategy} v{r.version} {r.algo}: {r.parents} parents, fill rate "
            f"{r.fill_rate:.0%}, arrival slippage {_fmt(r.arrival_slippage_bps)} bps, VWAP "
            f"{_fmt(r.vwap_slippage_bps)} bps, shortfall {_fmt(r.shortfall_inr)} INR "
            f"({_fmt(r.shortfall_bps)} bps = delay {_fmt(r.delay_inr)} + timing "
            f"{_fmt(r.timing_inr)} + impact {_fmt(r.impact_inr)} + opportunity "
            f"{_fmt(r.opportunity_inr)}), markouts bps {marks}"
            + (f", cost share {_fmt(r.cost_share)} of gross P&L {_fmt(r.gross_pnl_inr)} INR"
               if r.algo == ALL_ALGOS else ""))
    return "\n".join(lines)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(tables: TcaTables) -> list[tuple[str, str]]:
    """(title, base64 PNG): the shortfall decomposition and the markout curve per version."""
    from matplotlib.figure import Figure

    rows = [r for r in tables.days if r.algo == ALL_ALGOS]
    if not rows:
        return []
    names = [f"{r.strategy} v{r.version}" for r in rows]
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.subplots()
    bottom_pos = [0.0] * len(rows)
    bottom_neg = [0.0] * len(rows)
    for part in ("delay_inr", "timing_inr", "impact_inr", "opportunity_inr"):
        values = [getattr(r, part) for r in rows]
        base = [p if v >= 0 else n for v, p, n in zip(values, bottom_pos, bottom_neg,
                                                      strict=True)]
        ax.bar(names, values, bottom=base, label=part.removesuffix("_inr"))
        bottom_pos = [p + max(v, 0.0) for p, v in zip(bottom_pos, values, strict=True)]
        bottom_neg = [n + min(v, 0.0) for n, v in zip(bottom_neg, values, strict=True)]
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_ylabel("INR (cost > 0)")
    ax.legend(fontsize=8)
    plots = [("Implementation shortfall (Perold), decomposed", _png(fig))]
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.subplots()
    for name, r in zip(names, rows, strict=True):
        points = [(k, r.markout_bps.get(k)) for k in MARKOUT_BARS]
        known = [(k, v) for k, v in points if v is not None]
        if known:
            ax.plot([k for k, _ in known], [v for _, v in known], marker="o", label=name)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xlabel("bars after the fill")
    ax.set_ylabel("markout bps (< 0: adverse selection)")
    ax.legend(fontsize=8)
    plots.append(("Markouts", _png(fig)))
    slips = [c.arrival_slippage_bps for c in tables.children if c.arrival_slippage_bps is not None]
    if slips:
        fig = Figure(figsize=(8, 3.0), layout="constrained")
        ax = fig.subplots()
        ax.hist(slips, bins=min(30, max(5, len(slips))))
        ax.set_xlabel("arrival slippage per child order (bps, cost > 0)")
        ax.set_ylabel("orders")
        plots.append(("Arrival slippage per order", _png(fig)))
    return plots


def _table(title: str, rows: Sequence[Any], columns: Sequence[str]) -> str:
    head = list(columns) + ([f"markout_{k}b_bps" for k in MARKOUT_BARS]
                            if rows and isinstance(rows[0], DailyTca) else [])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r, columns))
                   + "</tr>" for r in rows)
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<h2>{html.escape(title)}</h2><table><tr>{heads}</tr>{body}</table>"


def render_html(tables: TcaTables) -> str:
    """The report as one self-contained HTML page."""
    images = "".join(f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' "
                     f"src='data:image/png;base64,{png}'>" for t, png in _plots(tables))
    style = ("body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>TCA {tables.day}"
            f"</title><style>{style}</style></head><body><h1>Transaction cost analysis "
            f"{tables.day}</h1><pre>{html.escape(text_summary(tables))}</pre>{images}"
            + _table("Per day", tables.days, DAILY_COLUMNS)
            + _table("Per parent", tables.parents, PARENT_COLUMNS)
            + "</body></html>")


def write_tca_report(tables: TcaTables, folder: Path) -> TcaReportFiles:
    """``tca.json`` and ``tca.html`` in ``folder`` (atomic; the folder is made)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(tables.to_json(), indent=2, sort_keys=True)
    page = render_html(tables)
    json_path = atomic_write(folder / "tca.json", lambda tmp: Path(tmp).write_text(text))
    html_path = atomic_write(folder / "tca.html", lambda tmp: Path(tmp).write_text(page))
    return TcaReportFiles(json_path, html_path)


TcaSink = Callable[[TcaTables, TcaReportFiles], None]


def write_tca_day(journal: Journal, day: date, folder: Path,
                  sink: TcaSink | None = None, *, costs: Mapping[str, CostRates] | None = None,
                  attribution_sink: AttributionSink | None = None) -> list[str]:
    """The day close's TCA: the journal's orders of ``day`` analysed, written to ``folder``,
    handed to ``sink`` (the MLflow log); one summary line per strategy version and algo.
    With ``costs`` (each strategy's cost rates) the day's attribution too, from the same
    tables (:mod:`live.tca.attribution`): written beside it (``../attribution``), handed to
    ``attribution_sink``, and its lines added."""
    tables = tca_tables(journal, day)
    files = write_tca_report(tables, folder)
    if sink is not None:
        sink(tables, files)
    lines = text_summary(tables).splitlines()
    if costs is not None:
        report = attribution(tables, rates_for(tables, costs, day))
        written = write_attribution(report, folder.parent / "attribution")
        if attribution_sink is not None:
            attribution_sink(report, written)
        lines += text_lines(report)
    return lines
