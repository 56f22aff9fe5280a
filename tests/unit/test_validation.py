"""The GX suites: each rule passes on valid bars and fails on one fixture that breaks it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets.schema import KIND_CLOSE_ONLY, KIND_DAILY, KIND_INTRADAY
from pipelines.datasets.validation import ValidationConfig, ValidationReport, validate_bars
from tests.stubs import nse_minute_bars, nyse_daily_bars


def _validate(frame: pd.DataFrame, *, kind: str = KIND_INTRADAY, venue: str = "NSE",
              timeframe: str = "1m", has_volume: bool = True,
              config: ValidationConfig | None = None) -> ValidationReport:
    return validate_bars(frame, name="t", kind=kind, venue=venue, timeframe=timeframe,
                         has_volume=has_volume, config=config)


def _failed(report: ValidationReport) -> set[str]:
    return {o.name for o in report.failures}


@pytest.fixture(scope="module")
def valid() -> pd.DataFrame:
    return nse_minute_bars()


def test_validate_valid_intraday_bars_pass_every_rule(valid: pd.DataFrame) -> None:
    report = _validate(valid)
    assert report.passed, report.render()
    assert report.missing_bars == 0
    assert report.sessions == 2


def test_validate_valid_daily_bars_pass_every_rule() -> None:
    report = _validate(nyse_daily_bars(), kind=KIND_DAILY, venue="NYSE", timeframe="1d")
    assert report.passed, report.render()


def _set(row: int, **values: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def apply(frame: pd.DataFrame) -> pd.DataFrame:
        for col, value in values.items():
            frame.loc[row, col] = value
        return frame
    return apply


BREAKERS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "no nulls: close": _set(10, close=np.nan),
    "no nulls: volume": _set(10, volume=np.nan),
    "prices > 0: low": _set(10, low=-1.0),
    "high >= open": _set(10, open=1e9),
    "high >= close": _set(10, close=1e9),
    "low <= open": _set(10, open=1.0),
    "low <= close": _set(10, close=1.0),
    "volume >= 0": _set(10, volume=-5.0),
}


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_validate_broken_row_fails_its_rule_with_line(valid: pd.DataFrame, rule: str) -> None:
    frame = BREAKERS[rule](valid.copy())
    report = _validate(frame)
    outcome = next(o for o in report.outcomes if o.name == rule)
    assert not outcome.passed
    assert outcome.failed >= 1
    assert outcome.examples[0]["line"] == 11  # row 10 -> line 11 (1-based rows)


def test_validate_duplicate_timestamp_fails_uniqueness(valid: pd.DataFrame) -> None:
    frame = pd.concat([valid.iloc[:20], valid.iloc[19:20], valid.iloc[20:]], ignore_index=True)
    failed = _failed(_validate(frame))
    assert "unique (symbol, ts)" in failed
    assert "ts strictly increasing per symbol" in failed


def test_validate_unsorted_rows_fail_strictly_increasing(valid: pd.DataFrame) -> None:
    frame = valid.copy()
    frame.iloc[[30, 31]] = frame.iloc[[31, 30]].to_numpy()
    assert _failed(_validate(frame)) == {"ts strictly increasing per symbol"}


def test_validate_bar_outside_session_fails_and_names_it(valid: pd.DataFrame) -> None:
    frame = valid.copy()
    frame.loc[len(frame) - 1, "ts"] = pd.Timestamp("2025-01-07 15:45", tz="Asia/Kolkata")
    report = _validate(frame)
    outcome = next(o for o in report.failures if o.name == "bars inside the venue's sessions")
    assert outcome.failed == 1
    assert str(outcome.examples[0]["ts"]).startswith("2025-01-07 15:45")


def test_validate_bar_on_holiday_fails_session_rule() -> None:
    frame = nse_minute_bars(start=date(2025, 2, 25), end=date(2025, 2, 25))
    frame.loc[0, "ts"] = pd.Timestamp("2025-02-26 09:15", tz="Asia/Kolkata")  # Mahashivratri
    frame = frame.sort_values("ts", ignore_index=True)
    assert "bars inside the venue's sessions" in _failed(_validate(frame))


def test_validate_missing_bars_are_counted_and_fail_completeness(valid: pd.DataFrame) -> None:
    frame = valid.drop(index=range(0, 100)).reset_index(drop=True)  # 100 of 375 on day one
    report = _validate(frame, config=ValidationConfig(min_complete_sessions_share=1.0))
    assert report.missing_bars == 100
    assert report.incomplete_sessions == 1
    assert any(o.name.startswith("session completeness") for o in report.failures)


def test_validate_few_missing_bars_within_threshold_pass(valid: pd.DataFrame) -> None:
    frame = valid.drop(index=range(0, 5)).reset_index(drop=True)
    report = _validate(frame, config=ValidationConfig(min_complete_sessions_share=1.0))
    assert report.passed
    assert report.missing_bars == 5


def test_validate_jump_beyond_threshold_fails_outlier_rule(valid: pd.DataFrame) -> None:
    frame = valid.copy()
    frame.loc[50, ["open", "high", "low", "close"]] = [frame.loc[50, "open"], 40_000, 20_000,
                                                        35_000]
    report = _validate(frame)
    assert any(o.name.startswith("no jumps above") for o in report.failures)


def test_validate_jump_threshold_is_configurable(valid: pd.DataFrame) -> None:
    config = ValidationConfig(max_jump_pct={KIND_INTRADAY: 0.001})
    report = _validate(valid, config=config)
    assert any(o.name.startswith("no jumps above 0.001") for o in report.failures)


def test_validate_missing_column_fails_schema(valid: pd.DataFrame) -> None:
    report = _validate(valid.drop(columns="volume"), has_volume=False)
    assert "schema: columns present" in _failed(report)


def test_validate_wrong_dtype_fails_schema(valid: pd.DataFrame) -> None:
    frame = valid.assign(volume=valid["volume"].astype("int64"))
    assert "schema: volume is float64" in _failed(_validate(frame))


def test_validate_close_only_without_volume_passes() -> None:
    frame = nyse_daily_bars()
    frame[["open", "high", "low"]] = frame[["close"] * 3].to_numpy()
    frame["volume"] = np.nan
    report = _validate(frame, kind=KIND_CLOSE_ONLY, venue="NYSE", timeframe="1d",
                       has_volume=False)
    assert report.passed, report.render()


def test_validate_report_render_names_rule_and_line(valid: pd.DataFrame) -> None:
    text = _validate(BREAKERS["high >= open"](valid.copy())).render()
    assert "FAIL high >= open: 1/750 failing" in text
    assert "line=11" in text


def test_validate_report_render_hides_passed_rules_unless_verbose(valid: pd.DataFrame) -> None:
    report = _validate(BREAKERS["high >= open"](valid.copy()))
    assert "ok   no nulls: ts" not in report.render()
    assert "ok   no nulls: ts" in report.render(verbose=True)
