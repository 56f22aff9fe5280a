"""Specification of bar timeframes as the desk writes them."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.datasets.timeframes import TimeframeError, is_daily, parse_timeframe


@pytest.mark.parametrize(
    ("text", "length"),
    [("30s", pd.Timedelta(seconds=30)), ("1m", pd.Timedelta(minutes=1)),
     ("15m", pd.Timedelta(minutes=15)), ("5min", pd.Timedelta(minutes=5)),
     ("1h", pd.Timedelta(hours=1)), ("1d", pd.Timedelta(days=1)),
     ("1w", pd.Timedelta(weeks=1))],
)
def test_parse_timeframe_count_and_unit_give_length(text: str, length: pd.Timedelta) -> None:
    assert parse_timeframe(text) == length


def test_parse_timeframe_upper_case_unit_accepted() -> None:
    assert parse_timeframe("1H") == pd.Timedelta(hours=1)


def test_parse_timeframe_surrounding_spaces_ignored() -> None:
    assert parse_timeframe(" 15m ") == pd.Timedelta(minutes=15)


def test_parse_timeframe_multi_digit_count_parsed() -> None:
    assert parse_timeframe("375m") == pd.Timedelta(minutes=375)


@pytest.mark.parametrize("text", ["0m", "00d"])
def test_parse_timeframe_zero_count_refused_naming_text(text: str) -> None:
    with pytest.raises(TimeframeError, match=f"timeframe '{text}' is not <count><unit>"):
        parse_timeframe(text)


@pytest.mark.parametrize("text", ["-1m", "1.5h", "m", "1", "1x", "1 m", "1mo", ""])
def test_parse_timeframe_malformed_refused_naming_text(text: str) -> None:
    with pytest.raises(TimeframeError, match=f"timeframe '{text}' is not <count><unit>"):
        parse_timeframe(text)


def test_timeframe_error_is_a_value_error() -> None:
    assert issubclass(TimeframeError, ValueError)


@pytest.mark.parametrize("text", ["1d", "1w", "24h", "1440m"])
def test_is_daily_day_or_longer_true(text: str) -> None:
    assert is_daily(text)


@pytest.mark.parametrize("text", ["1m", "15m", "23h", "59s"])
def test_is_daily_shorter_than_a_day_false(text: str) -> None:
    assert not is_daily(text)


def test_is_daily_malformed_refused_naming_text() -> None:
    with pytest.raises(TimeframeError, match="timeframe 'daily'"):
        is_daily("daily")


def test_parse_timeframe_capital_m_is_refused_as_ambiguous() -> None:
    with pytest.raises(TimeframeError, match="'1M' is ambiguous"):
        parse_timeframe("1M")
