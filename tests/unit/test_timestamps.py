"""Specification of parsing an export's timestamp column into tz-aware venue time."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.datasets.timestamps import TimestampParseError, parse_timestamps

IST = "Asia/Kolkata"
NEW_YORK = "America/New_York"


def _parse(values: list, **options) -> pd.Series:
    options.setdefault("source_tz", IST)
    options.setdefault("venue_tz", IST)
    lines = pd.Series(range(2, len(values) + 2))
    return parse_timestamps(pd.Series(values), lines, **options)


def _ist(*texts: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(t, tz=IST) for t in texts]


def test_parse_timestamps_iso_with_colon_offset_kept_as_instant() -> None:
    parsed = _parse(["2024-01-01T09:15:00+05:30", "2024-01-01T09:16:00+05:30"])
    assert parsed.tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_kite_compact_offset_parsed() -> None:
    parsed = _parse(["2024-01-01T09:15:00+0530", "2024-01-01T09:16:00+0530"])
    assert parsed.tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_result_is_venue_zone_nanoseconds() -> None:
    parsed = _parse(["2024-01-01T09:15:00+05:30"])
    assert parsed.dtype == pd.DatetimeTZDtype("ns", IST)


def test_parse_timestamps_utc_z_suffix_converted_to_venue_time() -> None:
    parsed = _parse(["2024-01-01T03:45:00Z", "2024-01-01T03:46:00Z"])
    assert parsed.tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_iso_naive_placed_in_source_zone() -> None:
    parsed = _parse(["2024-01-01 09:15:00", "2024-01-01 09:16:00"])
    assert parsed.tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_iso_naive_utc_source_converted_to_venue() -> None:
    parsed = _parse(["2024-01-01 03:45:00"], source_tz="UTC")
    assert parsed.tolist() == _ist("2024-01-01 09:15")


def test_parse_timestamps_iso_date_only_is_midnight_in_source_zone() -> None:
    assert _parse(["2024-01-01", "2024-01-02"]).tolist() == _ist("2024-01-01", "2024-01-02")


def test_parse_timestamps_offsets_matching_dst_zone_accepted() -> None:
    parsed = _parse(
        ["2024-01-02T09:30:00-05:00", "2024-07-01T09:30:00-04:00"],
        source_tz=NEW_YORK, venue_tz=NEW_YORK, tz_explicit=True,
    )
    assert [t.strftime("%H:%M %z") for t in parsed] == ["09:30 -0500", "09:30 -0400"]


def test_parse_timestamps_one_foreign_offset_converted_without_explicit_zone() -> None:
    parsed = _parse(["2024-01-01T03:45:00+00:00", "2024-01-01T03:46:00+00:00"])
    assert parsed.tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_offset_and_naive_mixed_refused_naming_lines() -> None:
    with pytest.raises(
        TimestampParseError,
        match=r"mixed timezones.*with offset: line 2: '2024-01-01 09:15:00\+05:30'.*"
        r"without: line 3: '2024-01-01 09:16:00'",
    ):
        _parse(["2024-01-01 09:15:00+05:30", "2024-01-01 09:16:00"])


def test_parse_timestamps_disagreeing_offsets_refused_naming_line() -> None:
    with pytest.raises(
        TimestampParseError, match=r"mixed timezones: UTC offsets disagree.*line 2: '.*Z'"
    ):
        _parse(["2024-01-01T03:45:00Z", "2024-01-01T09:16:00+05:30"])


def test_parse_timestamps_offset_contradicting_explicit_zone_refused_naming_zone() -> None:
    with pytest.raises(
        TimestampParseError, match=r"disagree with Asia/Kolkata .*line 2: '2024-01-01T03:45:00Z'"
    ):
        _parse(["2024-01-01T03:45:00Z", "2024-01-01T03:46:00Z"], tz_explicit=True)


def test_parse_timestamps_impossible_iso_date_refused_naming_line() -> None:
    with pytest.raises(TimestampParseError, match=r"unparseable ISO 8601.*line 3: '2024-13-01'"):
        _parse(["2024-01-01", "2024-13-01"])


def test_parse_timestamps_empty_value_refused_naming_line() -> None:
    with pytest.raises(TimestampParseError, match=r"empty timestamp at line 3: ''"):
        _parse(["2024-01-01", "", "2024-01-03"])


def test_parse_timestamps_missing_value_refused_naming_line() -> None:
    with pytest.raises(TimestampParseError, match=r"empty timestamp at line 4"):
        _parse(["2024-01-01", "2024-01-02", None])


def test_parse_timestamps_day_above_twelve_detects_day_first() -> None:
    parsed = _parse(["12/01/2024", "13/01/2024"])
    assert parsed.tolist() == _ist("2024-01-12", "2024-01-13")


def test_parse_timestamps_second_field_above_twelve_detects_month_first() -> None:
    parsed = _parse(["01/12/2024", "01/13/2024"])
    assert parsed.tolist() == _ist("2024-01-12", "2024-01-13")


def test_parse_timestamps_ambiguous_day_month_refused_naming_line_and_option() -> None:
    with pytest.raises(
        TimestampParseError,
        match=r"ambiguous between day-first and month-first.*line 2: '01/02/2024'.*--date-order",
    ):
        _parse(["01/02/2024", "03/04/2024"])


def test_parse_timestamps_ambiguous_dates_read_day_first_when_told() -> None:
    parsed = _parse(["01/02/2024", "03/04/2024"], date_order="dmy")
    assert parsed.tolist() == _ist("2024-02-01", "2024-04-03")


def test_parse_timestamps_ambiguous_dates_read_month_first_when_told() -> None:
    parsed = _parse(["01/02/2024", "03/04/2024"], date_order="mdy")
    assert parsed.tolist() == _ist("2024-01-02", "2024-03-04")


def test_parse_timestamps_day_first_and_month_first_mixed_refused_naming_both_lines() -> None:
    with pytest.raises(
        TimestampParseError,
        match=r"day-first at line 2: '13/01/2024', month-first at line 3: '01/14/2024'",
    ):
        _parse(["13/01/2024", "01/14/2024"])


def test_parse_timestamps_date_order_contradicted_by_data_refused_naming_line() -> None:
    with pytest.raises(
        TimestampParseError, match=r"--date-order mdy contradicts line 3: '13/01/2024'"
    ):
        _parse(["12/01/2024", "13/01/2024"], date_order="mdy")


def test_parse_timestamps_text_month_parsed() -> None:
    assert _parse(["01-Jan-2024", "02-Jan-2024"]).tolist() == _ist("2024-01-01", "2024-01-02")


def test_parse_timestamps_nse_upper_case_text_month_parsed() -> None:
    assert _parse(["01-JAN-2024", "02-FEB-2024"]).tolist() == _ist("2024-01-01", "2024-02-02")


def test_parse_timestamps_text_month_with_time_parsed() -> None:
    parsed = _parse(["01-JAN-2024 09:15", "01-JAN-2024 09:16"])
    assert parsed.tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_spelled_month_first_parsed() -> None:
    assert _parse(["Jan 05, 2024", "Feb 06, 2024"]).tolist() == _ist("2024-01-05", "2024-02-06")


def test_parse_timestamps_dotted_day_first_with_time_parsed() -> None:
    parsed = _parse(["13.01.2024 09:15", "14.01.2024 09:16"])
    assert parsed.tolist() == _ist("2024-01-13 09:15", "2024-01-14 09:16")


def test_parse_timestamps_dashed_day_first_with_seconds_parsed() -> None:
    parsed = _parse(["13-01-2024 09:15:30", "14-01-2024 09:16:30"])
    assert parsed.tolist() == _ist("2024-01-13 09:15:30", "2024-01-14 09:16:30")


def test_parse_timestamps_two_digit_year_parsed() -> None:
    assert _parse(["13-01-24", "14-01-24"]).tolist() == _ist("2024-01-13", "2024-01-14")


def test_parse_timestamps_twelve_hour_clock_parsed() -> None:
    parsed = _parse(["01/13/2024 09:15 AM", "01/13/2024 03:30 PM"])
    assert parsed.tolist() == _ist("2024-01-13 09:15", "2024-01-13 15:30")


def test_parse_timestamps_unrecognised_text_refused_naming_line() -> None:
    with pytest.raises(TimestampParseError, match=r"line 2: 'yesterday'"):
        _parse(["yesterday", "today"])


def test_parse_timestamps_impossible_day_refused_naming_line() -> None:
    with pytest.raises(TimestampParseError, match=r"unparseable timestamp at line 2: '32/01/2024'"):
        _parse(["32/01/2024", "14/01/2024"])


@pytest.mark.parametrize(
    ("epoch", "unit"),
    [(1_704_080_700, "s"), (1_704_080_700_000, "ms"), (1_704_080_700_000_000, "us"),
     (1_704_080_700_000_000_000, "ns")],
    ids=["seconds", "milliseconds", "microseconds", "nanoseconds"],
)
def test_parse_timestamps_epoch_unit_inferred_from_magnitude(epoch: int, unit: str) -> None:
    parsed = _parse([str(epoch), str(epoch + pd.Timedelta(minutes=1) // pd.Timedelta(1, unit))])
    assert parsed.tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_epoch_integers_from_parquet_parsed() -> None:
    assert _parse([1_704_080_700, 1_704_080_760]).tolist() == _ist(
        "2024-01-01 09:15", "2024-01-01 09:16"
    )


def test_parse_timestamps_epoch_nanoseconds_exact() -> None:
    parsed = _parse(["1704080700123456789"], venue_tz="UTC")
    assert parsed.iloc[0].value == 1_704_080_700_123_456_789


def test_parse_timestamps_fractional_epoch_seconds_parsed() -> None:
    assert _parse(["1704080700.5"]).tolist() == _ist("2024-01-01 09:15:00.5")


def test_parse_timestamps_small_numbers_refused_naming_line() -> None:
    with pytest.raises(TimestampParseError, match=r"before 1973 \(line 2: '12345'\)"):
        _parse(["12345", "1704080700"])


def test_parse_timestamps_epoch_out_of_range_refused_naming_value() -> None:
    with pytest.raises(TimestampParseError, match=r"out of range.*line 2: '99999999999999999999'"):
        _parse(["99999999999999999999"])


def test_parse_timestamps_compact_date_is_session_date_in_source_zone() -> None:
    parsed = _parse(["20240101", "20240102"])
    assert parsed.tolist() == _ist("2024-01-01", "2024-01-02")
    assert parsed.dtype == pd.DatetimeTZDtype("ns", IST)


def test_parse_timestamps_invalid_compact_date_refused_naming_line() -> None:
    with pytest.raises(TimestampParseError, match=r"line 2: '20241399'"):
        _parse(["20241399", "20240102"])


def test_parse_timestamps_naive_datetimes_placed_in_source_zone() -> None:
    values = pd.to_datetime(["2024-01-01 09:15", "2024-01-01 09:16"]).to_list()
    assert _parse(values).tolist() == _ist("2024-01-01 09:15", "2024-01-01 09:16")


def test_parse_timestamps_aware_datetimes_converted_to_venue() -> None:
    values = pd.to_datetime(["2024-01-01 03:45"]).tz_localize("UTC").to_list()
    assert _parse(values).tolist() == _ist("2024-01-01 09:15")


def test_parse_timestamps_daylight_saving_gap_refused_naming_zone() -> None:
    with pytest.raises(TimestampParseError, match=r"cannot be placed in America/New_York"):
        _parse(["2024-03-10 02:30:00"], source_tz=NEW_YORK, venue_tz=NEW_YORK)


def test_parse_timestamps_daylight_saving_repeat_refused_naming_zone() -> None:
    with pytest.raises(TimestampParseError, match=r"cannot be placed in America/New_York"):
        _parse(["2024-11-03 01:30:00"], source_tz=NEW_YORK, venue_tz=NEW_YORK)
