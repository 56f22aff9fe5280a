"""What must hold of each research result, as Dagster asset checks evaluated with the asset.

``walk_forward_is_out_of_sample`` (blocking): every fold tests strictly after it trains, the
test windows do not overlap, every OOS trade lies inside a test window, and the stitched
equity has one point per test session. ``gate_passed`` (warning): the verdict; a failing
candidate is still registered, tagged as failed, so it can be inspected but never promoted.
``model_reproduces_research`` (blocking): the registered pyfunc, loaded by its
``models:/`` URI, returns exactly the research signals on the last test window.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from pipelines.research.gates import GateVerdict
from pipelines.research.walk_forward import WalkForwardReport
from strategies.bars import Bars

WALK_FORWARD_CHECK = "walk_forward_is_out_of_sample"
GATE_CHECK = "gate_passed"
MODEL_CHECK = "model_reproduces_research"
SIGNAL_COLUMNS = ("long_entry", "long_exit", "short_entry", "short_exit")


def _walk_forward_problems(report: WalkForwardReport) -> list[str]:
    problems: list[str] = []
    folds = report.folds
    for fold in folds:
        if pd.Timestamp(fold.test[0]) <= pd.Timestamp(fold.train[1]):
            problems.append(f"fold {fold.index} tests at {fold.test[0]}, not after its "
                            f"training end {fold.train[1]}")
    for prev, nxt in pairwise(folds):
        if pd.Timestamp(nxt.test[0]) <= pd.Timestamp(prev.test[1]):
            problems.append(f"test windows of folds {prev.index} and {nxt.index} overlap")
    trades = report.oos_trades
    if len(trades):
        windows = {f.index: (pd.Timestamp(f.test[0]), pd.Timestamp(f.test[1])) for f in folds}
        starts = trades["fold"].map(lambda i: windows[i][0])
        ends = trades["fold"].map(lambda i: windows[i][1])
        outside = int(((trades["entry_ts"] < starts) | (trades["exit_ts"] > ends)).sum())
        if outside:
            problems.append(f"{outside} OOS trade(s) outside their fold's test window")
    if report.oos_equity.isna().any():
        problems.append("the stitched OOS equity has NaN points")
    return problems


def walk_forward_check(report: WalkForwardReport) -> dg.AssetCheckResult:
    problems = _walk_forward_problems(report)
    return dg.AssetCheckResult(
        check_name=WALK_FORWARD_CHECK, passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"folds": len(report.folds), "oos_sessions": len(report.oos_equity),
                  "problems": "; ".join(problems) or "none"})


def gate_check(verdict: GateVerdict) -> dg.AssetCheckResult:
    failed = [f"{c.name}: {c.value:.4g} vs {c.threshold:.4g}" for c in verdict.checks
              if not c.passed]
    return dg.AssetCheckResult(
        check_name=GATE_CHECK, passed=verdict.passed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"failed_checks": "; ".join(failed) or "none",
                  "warnings": "; ".join(verdict.warnings) or "none",
                  "verdict_digest": verdict.digest()})


def signals_match(model: Any, bars: Bars, expected: dict[str, np.ndarray]) -> list[str]:
    """Columns where the loaded model's signals differ from the research signals."""
    frame = pd.DataFrame({"ts": bars.ts, "symbol": bars.symbol, "open": bars.open,
                          "high": bars.high, "low": bars.low, "close": bars.close,
                          "volume": bars.volume})
    got = model.predict(frame)
    return [c for c in SIGNAL_COLUMNS
            if not np.array_equal(np.asarray(got[c], dtype=bool), expected[c])]


def model_check(mismatched: list[str], model_uri: str, bars: Bars) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=MODEL_CHECK, passed=not mismatched, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"model_uri": model_uri, "bars_compared": len(bars),
                  "mismatched_columns": ", ".join(mismatched) or "none"})
