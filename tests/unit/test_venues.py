"""Venue clocks and calendars."""

from __future__ import annotations

from datetime import date, time

import pandas as pd
import pytest

from strategies.venues import UnknownVenueError, get_venue, session_schedule, trading_days


def test_get_venue_is_case_insensitive() -> None:
    assert get_venue("nse").name == "NSE"


def test_get_venue_unknown_lists_known_names() -> None:
    with pytest.raises(UnknownVenueError, match=r"unknown venue 'LSE'.*'NSE'"):
        get_venue("LSE")


def test_nse_cutoff_defaults_to_1500() -> None:
    assert get_venue("NSE").cutoff == time(15, 0)


def test_session_schedule_nse_2025_has_248_sessions() -> None:
    assert len(trading_days("NSE", date(2025, 1, 1), date(2025, 12, 31))) == 248


def test_session_schedule_nse_muhurat_is_one_hour() -> None:
    row = session_schedule("NSE", date(2025, 10, 21), date(2025, 10, 21)).iloc[0]
    assert row["open"] == pd.Timestamp("2025-10-21 13:45", tz="Asia/Kolkata")
    assert row["close"] == pd.Timestamp("2025-10-21 14:45", tz="Asia/Kolkata")


def test_session_schedule_nse_holiday_is_absent() -> None:
    days = trading_days("NSE", date(2025, 2, 24), date(2025, 2, 28))
    assert pd.Timestamp("2025-02-26") not in days
    assert len(days) == 4


def test_session_schedule_fx_monday_opens_sunday_1700_new_york() -> None:
    row = session_schedule("FX", date(2025, 3, 10), date(2025, 3, 10)).iloc[0]
    assert row["open"] == pd.Timestamp("2025-03-09 17:00", tz="America/New_York")
    assert row["close"] == pd.Timestamp("2025-03-10 17:00", tz="America/New_York")


def test_session_schedule_fx_has_no_weekend_sessions() -> None:
    days = trading_days("FX", date(2025, 3, 8), date(2025, 3, 9))
    assert len(days) == 0


def test_session_schedule_range_without_sessions_is_empty() -> None:
    assert session_schedule("NSE", date(2025, 1, 4), date(2025, 1, 5)).empty


def test_session_schedule_24x7_covers_every_day() -> None:
    assert len(trading_days("24x7", date(2025, 1, 1), date(2025, 1, 31))) == 31
