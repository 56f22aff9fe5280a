"""Walk-forward report artifacts: per-regime OOS breakdown, JSON, HTML page, plots, trades CSV.

Everything a reviewer needs to judge a strategy version sits in one directory: ``report.json``
(machine-readable, no NaN), ``report.html`` (self-contained, plots embedded), ``equity.png``,
``folds.png`` and ``trades.csv``. Each file is written atomically.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipelines.research.gates import GateVerdict, pbo_by_splits
from pipelines.research.regimes import (
    KNOWN_REGIMES,
    UNLABELLED,
    ReportInputError,
    load_regime_labels,
    session_dates,
)
from pipelines.research.walk_forward import WalkForwardReport

BREAKDOWN_COLUMNS = ("regime", "sessions", "trades", "net_pnl_inr", "gross_pnl_inr",
                     "costs_inr", "hit_ratio", "mean_daily_return", "sharpe", "worst_day_return")
PASS_COLOUR, FAIL_COLOUR, WARN_COLOUR = "#1a7f37", "#cf222e", "#9a6700"
__all__ = ["KNOWN_REGIMES", "ReportInputError", "load_regime_labels"]
DSR_INPUTS = ("dsr.sr", "dsr.skew", "dsr.kurtosis_raw", "dsr.t", "dsr.n_trials",
              "dsr.var_trial_sr", "dsr.sr_benchmark", "dsr_probability")


def _regime_of(dates: pd.DatetimeIndex, labels: pd.Series | None) -> np.ndarray:
    if labels is None:
        return np.full(len(dates), UNLABELLED, dtype=object)
    lookup = dict(zip(session_dates(pd.DatetimeIndex(labels.index)), labels, strict=True))
    return np.array([lookup.get(d, UNLABELLED) for d in dates], dtype=object)


def _regime_row(regime: str, returns: pd.Series, trades: pd.DataFrame) -> dict[str, Any]:
    std = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    return {
        "regime": regime, "sessions": len(returns), "trades": len(trades),
        "net_pnl_inr": float(trades["net_pnl_inr"].sum()),
        "gross_pnl_inr": float(trades["gross_pnl_inr"].sum()),
        "costs_inr": float(trades["costs_inr"].sum()),
        "hit_ratio": float((trades["net_pnl_inr"] > 0).mean()) if len(trades) else 0.0,
        "mean_daily_return": float(returns.mean()),
        "sharpe": float(returns.mean() / std * math.sqrt(252.0)) if std > 0 else 0.0,
        "worst_day_return": float(returns.min()),
    }


def regime_breakdown(report: WalkForwardReport, labels: pd.Series | None,
                     capital_inr: float) -> pd.DataFrame:
    """Out-of-sample performance per market regime, one row per regime among the OOS sessions;
    trades count in the regime of their entry session."""
    equity = report.oos_equity
    dates = session_dates(pd.DatetimeIndex(equity.index))
    session_regime = pd.Series(_regime_of(dates, labels), index=dates)
    returns = pd.Series((equity / equity.shift(1).fillna(capital_inr) - 1.0).to_numpy(),
                        index=dates)
    trades = report.oos_trades
    entry = session_dates(pd.DatetimeIndex(trades["entry_ts"])) if len(trades) else dates[:0]
    outside = entry.difference(dates)
    if len(outside):
        raise ReportInputError(f"{report.strategy}/{report.symbol}: trade entered on "
                               f"{outside[0].date()}, which is not an OOS session")
    trade_regime = session_regime.reindex(entry).to_numpy()
    rows = [_regime_row(regime, returns[session_regime == regime],
                        trades[trade_regime == regime])
            for regime in sorted(set(session_regime))]
    return pd.DataFrame(rows, columns=list(BREAKDOWN_COLUMNS))


def _json_safe(value: Any) -> Any:
    """``value`` with NaN/inf as None, numpy scalars as Python, timestamps as ISO strings."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Index | pd.Series):
        return [_json_safe(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value))
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot put {type(value).__name__} {value!r} in a JSON report")


def report_dict(report: WalkForwardReport, verdict: GateVerdict | None, regimes: pd.DataFrame,
                lineage: Mapping[str, Any]) -> dict[str, Any]:
    """The whole report as a JSON-safe dict (what ``report.json`` holds)."""
    safe: dict[str, Any] = _json_safe({
        "strategy": report.strategy, "symbol": report.symbol,
        "walk_forward": dataclasses.asdict(report.spec), "n_trials": report.n_trials,
        "metrics": report.metrics, "folds": [dataclasses.asdict(f) for f in report.folds],
        "chosen_params": report.chosen_params(), "regimes": regimes.to_dict(orient="records"),
        "verdict": verdict.to_dict() if verdict is not None else None, "lineage": lineage,
        "overfitting": overfitting_summary(report.metrics),
        "skipped": report.skipped, "notes": report.notes,
    })
    return safe


def overfitting_summary(metrics: Mapping[str, float]) -> dict[str, Any]:
    """DSR and its inputs, and PBO at the gated and every reported block count."""
    return {"dsr": {k: metrics.get(k, math.nan) for k in DSR_INPUTS},
            "pbo": metrics.get("pbo", math.nan),
            "pbo_gated_splits": metrics.get("pbo.n_splits", math.nan),
            "pbo_by_splits": {str(s): v for s, v in pbo_by_splits(metrics).items()}}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", metadata={"Software": None})
    finally:
        fig.clear()
    return buffer.getvalue()


def equity_png(report: WalkForwardReport) -> bytes:
    """Stitched OOS equity with each fold's test start as a dashed vertical line."""
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    dates = session_dates(pd.DatetimeIndex(report.oos_equity.index))
    ax.plot(dates.to_numpy(), report.oos_equity.to_numpy(), color="#0969da", lw=1.5)
    for fold in report.folds:
        start = session_dates(pd.DatetimeIndex([pd.Timestamp(fold.test[0])]))[0]
        ax.axvline(start.to_datetime64(), color="grey", ls="--", lw=0.8)
    ax.set_title(f"{report.strategy} {report.symbol}: out-of-sample equity (INR)")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def folds_png(report: WalkForwardReport, metric: str = "sharpe") -> bytes:
    """Per-fold in-sample vs out-of-sample value of ``metric`` as paired bars."""
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(len(report.folds))
    is_values = [f.is_metrics.get(metric, math.nan) for f in report.folds]
    oos_values = [f.oos_metrics.get(metric, math.nan) for f in report.folds]
    ax.bar(x - 0.2, is_values, width=0.4, label="in sample", color="#8c959f")
    ax.bar(x + 0.2, oos_values, width=0.4, label="out of sample", color="#0969da")
    ax.set_xticks(x, [str(f.index) for f in report.folds])
    ax.set_xlabel("fold")
    ax.set_title(f"{report.strategy} {report.symbol}: {metric} per fold")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "n/a" if math.isnan(value) else str(value)
        return f"{value:,.0f}" if abs(float(value)) >= 1000 else f"{value:.4g}"
    if isinstance(value, Mapping | list):
        return json.dumps(_json_safe(value), sort_keys=True)
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict_html(verdict: GateVerdict | None) -> str:
    if verdict is None:
        return "<p>No gate verdict.</p>"
    rows = []
    for c in verdict.checks:
        colour = PASS_COLOUR if c.passed else FAIL_COLOUR
        cells = [c.name, c.metric, _fmt(c.value), _fmt(c.threshold)]
        rows.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in cells)
                    + f'<td style="color:{colour};font-weight:bold">'
                    + ("pass" if c.passed else "fail") + "</td></tr>")
    colour = PASS_COLOUR if verdict.passed else FAIL_COLOUR
    outcome = "PASSED" if verdict.passed else "FAILED"
    warnings = "".join(f'<p style="color:{WARN_COLOUR};font-weight:bold">warning: '
                       f"{html.escape(w)}</p>" for w in verdict.warnings)
    return (f'<p style="color:{colour};font-weight:bold">Gates {outcome}</p>{warnings}'
            "<table><tr><th>check</th><th>metric</th><th>value</th><th>threshold</th>"
            "<th>outcome</th></tr>" + "".join(rows) + "</table>")


def _overfitting_html(metrics: Mapping[str, float]) -> str:
    summary = overfitting_summary(metrics)
    dsr = _table(["input", "value"], [[k, v] for k, v in summary["dsr"].items()])
    gated = summary["pbo_gated_splits"]
    spread = _table(["S (blocks)", "PBO", "gated"],
                    [[s, v, float(s) == gated] for s, v in summary["pbo_by_splits"].items()])
    return (f"<p>Deflated Sharpe (Bailey &amp; Lopez de Prado 2014, raw kurtosis; per-session "
            f"Sharpe, not annualised):</p>{dsr}<p>PBO by CSCV across block counts (block k "
            "of S holds test sessions floor(kT/S) .. floor((k+1)T/S)-1; the gate reads the "
            f"gated S):</p>{spread}")


def _folds_rows(report: WalkForwardReport) -> list[list[Any]]:
    return [[f.index, f"{f.train[0]} – {f.train[1]}", f"{f.test[0]} – {f.test[1]}", f.params,
             *(m.get(k, math.nan) for m in (f.is_metrics, f.oos_metrics)
               for k in ("sharpe", "total_return", "trades"))]
            for f in report.folds]


def _html_page(report: WalkForwardReport, verdict: GateVerdict | None, regimes: pd.DataFrame,
               lineage: Mapping[str, Any], pngs: Mapping[str, bytes]) -> str:
    title = html.escape(f"{report.strategy} on {report.symbol}: walk-forward report")
    images = "".join(f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" '
                     f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                     for name, data in pngs.items())
    fold_header = ["fold", "train", "test", "params", "IS sharpe", "IS return", "IS trades",
                   "OOS sharpe", "OOS return", "OOS trades"]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}")
    return "\n".join([
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title>"
        f"<style>{style}</style></head><body><h1>{title}</h1>",
        "<h2>Gate verdict</h2>", _verdict_html(verdict),
        "".join(f"<p><b>note:</b> {html.escape(n)}</p>" for n in report.notes),
        "<h2>Overfitting statistics and their inputs</h2>", _overfitting_html(report.metrics),
        "<h2>Summary metrics</h2>",
        _table(["metric", "value"], [[k, report.metrics[k]] for k in sorted(report.metrics)]),
        "<h2>Chosen params</h2>", html.escape(_fmt(report.chosen_params())),
        "<h2>Folds</h2>", _table(fold_header, _folds_rows(report)),
        "<h2>Regimes (out of sample)</h2>",
        _table([str(c) for c in regimes.columns], regimes.to_numpy().tolist()),
        "<h2>Lineage</h2>", _table(["key", "value"], [[k, lineage[k]] for k in sorted(lineage)]),
        images, "</body></html>",
    ])


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over: never half-written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are for reviewers to read
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report_artifacts(report: WalkForwardReport, verdict: GateVerdict | None,
                           regimes: pd.DataFrame, lineage: Mapping[str, Any], out_dir: Path,
                           *, metric: str = "sharpe") -> dict[str, Path]:
    """Write report.json, report.html, equity.png, folds.png and trades.csv into ``out_dir``;
    ``metric`` is the selection metric the folds plot compares in and out of sample."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {"equity.png": equity_png(report), "folds.png": folds_png(report, metric)}
    payload = json.dumps(report_dict(report, verdict, regimes, lineage), indent=2,
                         sort_keys=True, allow_nan=False)
    contents = {
        "report.json": payload.encode(),
        "report.html": _html_page(report, verdict, regimes, lineage, pngs).encode(),
        **pngs,
        "trades.csv": report.oos_trades.to_csv(index=False).encode(),
    }
    paths = {name: out_dir / name for name in contents}
    for name, data in contents.items():
        _write_atomic(paths[name], data)
    return paths
