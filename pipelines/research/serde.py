"""Research outputs as data: JSON documents plus Parquet frames, never pickles.

:func:`encode` turns a walk-forward report, a gate verdict, a recorded strategy version or a
plain JSON value into a JSON document (``{"type": ..., "value": ...}``) and the frames it
holds; :func:`decode` rebuilds the object from them. Only the types listed here can be
decoded - a document names a type from a fixed table, never a class to import - so reading
stored outputs runs no stored code.
Floats round-trip exactly (JSON keeps ``repr``; NaN and infinities as ``NaN``/``Infinity``).
"""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.research.gates import Check, GateVerdict
from pipelines.research.recorded import RecordedVersion
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import FoldResult, WalkForwardReport
from strategies.errors import StratopsError

JSON_TYPE = "json"
REPORT_TYPE = "walk_forward_report"
VERDICT_TYPE = "gate_verdict"
RECORDED_TYPE = "recorded_version"
EQUITY_COLUMN = "equity"
OOS_RETURNS_COLUMN = "oos_return"


class StoredOutputError(StratopsError, ValueError):
    """A stored research output that is not one of the known types, or is malformed."""


def write_frame(frame: pd.DataFrame) -> bytes:
    """A frame (with its index) as Parquet bytes."""
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=True), sink)
    return sink.getvalue()


def read_frame(path: Any) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _report_doc(report: WalkForwardReport) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    value = {"strategy": report.strategy, "symbol": report.symbol, "spec": asdict(report.spec),
             "n_trials": report.n_trials, "folds": [asdict(f) for f in report.folds],
             "metrics": dict(report.metrics), "equity_name": report.oos_equity.name}
    if report.symbols:  # a joint walk-forward's (absent: one symbol, as stored before)
        value["symbols"] = list(report.symbols)
    frames = {"oos_trades": report.oos_trades,
              "oos_equity": report.oos_equity.to_frame(EQUITY_COLUMN),
              # the T x N trial matrix and the stitched OOS returns (DSR's and PBO's inputs:
              # the registry logs them, the enable matrix counts the trials)
              "trials": report.trials,
              "oos_returns": report.oos_returns.to_frame(OOS_RETURNS_COLUMN)}
    return value, frames


def encode(obj: Any) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """``({"type", "value"}, frames)`` for a report, a verdict, a recorded version or a JSON
    value."""
    if isinstance(obj, WalkForwardReport):
        value, frames = _report_doc(obj)
        return {"type": REPORT_TYPE, "value": value}, frames
    if isinstance(obj, GateVerdict):
        return {"type": VERDICT_TYPE, "value": obj.to_dict()}, {}
    if isinstance(obj, RecordedVersion):
        return {"type": RECORDED_TYPE, "value": obj.to_dict()}, {}
    if isinstance(obj, dict | list | str | int | float | bool) or obj is None:
        return {"type": JSON_TYPE, "value": obj}, {}
    raise StoredOutputError(f"cannot store a {type(obj).__name__} as data; add it to "
                            "pipelines.research.serde")


def _fold(raw: dict[str, Any]) -> FoldResult:
    return FoldResult(**{**raw, "train": tuple(raw["train"]), "test": tuple(raw["test"])})


def _report(value: dict[str, Any], frames: dict[str, pd.DataFrame]) -> WalkForwardReport:
    equity = frames["oos_equity"][EQUITY_COLUMN].rename(value["equity_name"])
    returns = frames.get("oos_returns")  # absent from reports stored before they were kept
    return WalkForwardReport(
        strategy=value["strategy"], symbol=value["symbol"],
        spec=WalkForwardSpec(**value["spec"]), n_trials=int(value["n_trials"]),
        folds=[_fold(f) for f in value["folds"]], oos_trades=frames["oos_trades"],
        oos_equity=equity, metrics={k: float(v) for k, v in value["metrics"].items()},
        trials=frames.get("trials", pd.DataFrame()),
        oos_returns=pd.Series(dtype=float) if returns is None
        else returns[OOS_RETURNS_COLUMN],
        symbols=tuple(value.get("symbols", ())))


def _verdict(value: dict[str, Any]) -> GateVerdict:
    return GateVerdict(strategy=value["strategy"],
                       checks=tuple(Check(**c) for c in value["checks"]),
                       gates_digest=value["gates_digest"])


def decode(doc: dict[str, Any], frames: dict[str, pd.DataFrame], *, source: str) -> Any:
    """The object :func:`encode` stored as ``doc`` and ``frames`` (read from ``source``)."""
    kind = doc.get("type")
    try:
        if kind == JSON_TYPE:
            return doc["value"]
        if kind == VERDICT_TYPE:
            return _verdict(doc["value"])
        if kind == RECORDED_TYPE:
            return RecordedVersion.from_dict(doc["value"])
        if kind == REPORT_TYPE:
            return _report(doc["value"], frames)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoredOutputError(f"{source}: malformed {kind} ({exc!r})") from exc
    raise StoredOutputError(f"{source}: unknown stored type {kind!r}")
