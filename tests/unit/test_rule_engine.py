"""The pandas rule engine (used by ``data import``) gives the same report as the GX suite."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets.rule_engine import evaluate
from pipelines.datasets.schema import KIND_CLOSE_ONLY, KIND_DAILY, KIND_INTRADAY
from pipelines.datasets.validation import (
    Rule,
    ValidationConfig,
    ValidationReport,
    validate_bars,
)
from tests.stubs import nse_minute_bars, nyse_daily_bars
from tests.unit.test_validation import BREAKERS


def _intraday(change: Callable[[pd.DataFrame], pd.DataFrame]) -> dict[str, Any]:
    return {"frame": change(nse_minute_bars()), "kind": KIND_INTRADAY, "venue": "NSE",
            "timeframe": "1m"}


def _swap(frame: pd.DataFrame) -> pd.DataFrame:
    frame.iloc[[30, 31]] = frame.iloc[[31, 30]].to_numpy()
    return frame


def _outside(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[len(frame) - 1, "ts"] = pd.Timestamp("2025-01-07 15:45", tz="Asia/Kolkata")
    return frame


def _holiday() -> pd.DataFrame:
    frame = nse_minute_bars(start=date(2025, 2, 25), end=date(2025, 2, 25))
    frame.loc[0, "ts"] = pd.Timestamp("2025-02-26 09:15", tz="Asia/Kolkata")
    return frame.sort_values("ts", ignore_index=True)


def _close_only() -> pd.DataFrame:
    frame = nyse_daily_bars()
    frame[["open", "high", "low"]] = frame[["close"] * 3].to_numpy()
    frame["volume"] = np.nan
    return frame


def _many_broken(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[3, 5, 8, 13, 21, 34, 55], "open"] = 1e9
    frame.loc[[4, 6], ["high", "low"]] = np.nan
    frame.loc[7, "close"] = -3.0
    return frame


CASES: dict[str, dict[str, Any]] = {
    "valid intraday": _intraday(lambda f: f),
    "valid daily": {"frame": nyse_daily_bars(), "kind": KIND_DAILY, "venue": "NYSE",
                    "timeframe": "1d"},
    "close only": {"frame": _close_only(), "kind": KIND_CLOSE_ONLY, "venue": "NYSE",
                   "timeframe": "1d", "has_volume": False},
    **{f"breaks {rule}": _intraday(BREAKERS[rule]) for rule in sorted(BREAKERS)},
    "duplicate ts": _intraday(lambda f: pd.concat([f.iloc[:20], f.iloc[19:20], f.iloc[20:]],
                                                  ignore_index=True)),
    "unsorted": _intraday(_swap),
    "outside session": _intraday(_outside),
    "holiday": {"frame": _holiday(), "kind": KIND_INTRADAY, "venue": "NSE", "timeframe": "1m"},
    "missing bars": {**_intraday(lambda f: f.drop(index=range(100)).reset_index(drop=True)),
                     "config": ValidationConfig(min_complete_sessions_share=1.0)},
    "jump": {**_intraday(lambda f: f), "config": ValidationConfig(
        max_jump_pct={KIND_INTRADAY: 0.001}, examples=3)},
    "missing column": {**_intraday(lambda f: f.drop(columns="volume")), "has_volume": False},
    "int64 volume": _intraday(lambda f: f.assign(volume=f["volume"].astype("int64"))),
    "object close": _intraday(lambda f: f.assign(close=f["close"].astype(object))),
    "many broken": _intraday(_many_broken),
}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def _comparable(report: ValidationReport) -> list[tuple[Any, ...]]:
    return [(o.name, o.expectation, o.passed, o.failed, o.checked,
             [{k: _plain(v) for k, v in ex.items()} for ex in o.examples])
            for o in report.outcomes]


def _run(case: dict[str, Any], engine: str) -> ValidationReport:
    return validate_bars(case["frame"].copy(), name="t", kind=case["kind"], venue=case["venue"],
                         timeframe=case["timeframe"], has_volume=case.get("has_volume", True),
                         config=case.get("config"), engine=engine)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_engine_fixture_same_outcomes_as_gx(case: str) -> None:
    gx_report = _run(CASES[case], "gx")
    pandas_report = _run(CASES[case], "pandas")
    assert _comparable(pandas_report) == _comparable(gx_report)
    assert (pandas_report.sessions, pandas_report.missing_bars) == (
        gx_report.sessions, gx_report.missing_bars)


def test_rule_engine_unknown_expectation_is_refused() -> None:
    rule = Rule("odd", "rows", "expect_column_values_to_match_regex", {"column": "symbol"})
    with pytest.raises(ValueError, match="expect_column_values_to_match_regex"):
        evaluate(rule, nse_minute_bars(), ["line"], 5)


def test_rule_engine_missing_column_fails_naming_it() -> None:
    rule = Rule("no nulls: oi", "rows", "expect_column_values_to_not_be_null", {"column": "oi"})
    outcome = evaluate(rule, nse_minute_bars(), ["line"], 5)
    assert (outcome.passed, outcome.failed, outcome.checked) == (False, 1, 0)
    assert "'oi'" in str(outcome.observed)
