"""Specification of mapping a raw export (Kite, NSE, generic vendor) onto the bar schema."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from pipelines.datasets.normalise import (
    NormaliseError,
    NormaliseOptions,
    canonical_name,
    map_columns,
    normalise,
    parse_numeric,
)
from pipelines.datasets.schema import KIND_CLOSE_ONLY, KIND_DAILY, KIND_INTRADAY
from pipelines.datasets.source_file import RawTable, read_source
from pipelines.datasets.timeframes import TimeframeError
from pipelines.datasets.timestamps import TimestampParseError
from strategies.venues import UnknownVenueError

IST = "Asia/Kolkata"
KITE_CSV = (
    "date,open,high,low,close,volume\n"
    "2024-01-01T09:15:00+0530,21727.75,21740.1,21720.0,21735.5,120000\n"
    "2024-01-01T09:16:00+0530,21735.5,21750.0,21730.25,21748.0,95000\n"
)
NSE_INDEX_CSV = (
    "Date ,Open ,High ,Low ,Close ,Shares Traded ,Turnover (₹ Cr)\n"
    "02-JAN-2024,21751.35,21755.60,21555.65,21665.80,344146838,29919.71\n"
    "01-JAN-2024,21727.75,21834.35,21680.70,21741.90,153846287,13935.11\n"
)
OHLC_HEADER = "ts,open,high,low,close\n"


def _options(**overrides) -> NormaliseOptions:
    values = {"symbol": "NIFTY", "timeframe": "1m", "venue": "NSE"} | overrides
    return NormaliseOptions(**values)


def _raw(tmp_path: Path, text: str, name: str = "bars.csv") -> RawTable:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_source(path, max_bytes=2**30)


def _normalise(tmp_path: Path, text: str, **overrides):
    return normalise(_raw(tmp_path, text), _options(**overrides))


def _lines(*numbers: int) -> pd.Series:
    return pd.Series(numbers)


def test_normalise_kite_export_gives_intraday_bars(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, KITE_CSV)
    assert bars.kind == KIND_INTRADAY
    assert bars.has_volume
    assert bars.frame[["open", "high", "low", "close", "volume"]].to_numpy().tolist() == [
        [21727.75, 21740.1, 21720.0, 21735.5, 120000.0],
        [21735.5, 21750.0, 21730.25, 21748.0, 95000.0],
    ]


def test_normalise_kite_offsets_give_exchange_time(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, KITE_CSV)
    assert bars.frame["ts"].tolist() == [
        pd.Timestamp("2024-01-01 09:15", tz=IST), pd.Timestamp("2024-01-01 09:16", tz=IST)
    ]


def test_normalise_output_columns_and_types_follow_schema(tmp_path: Path) -> None:
    frame = _normalise(tmp_path, KITE_CSV).frame
    assert list(frame.columns) == ["ts", "symbol", "open", "high", "low", "close", "volume", "line"]
    assert frame["ts"].dtype == pd.DatetimeTZDtype("ns", IST)
    assert all(frame[c].dtype == "float64" for c in ("open", "high", "low", "close", "volume"))
    assert frame["symbol"].tolist() == ["NIFTY", "NIFTY"]
    assert frame["line"].tolist() == [2, 3]


def test_normalise_nse_index_export_maps_padded_headers(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, NSE_INDEX_CSV, timeframe="1d")
    assert bars.kind == KIND_DAILY
    assert bars.frame["close"].tolist() == [21741.90, 21665.80]
    assert bars.frame["volume"].tolist() == [153846287.0, 344146838.0]


def test_normalise_nse_index_export_notes_turnover_ignored(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, NSE_INDEX_CSV, timeframe="1d")
    assert "ignored columns: ['Turnover (₹ Cr)']" in bars.notes


def test_normalise_nse_text_month_dates_are_sessions_in_exchange_time(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, NSE_INDEX_CSV, timeframe="1d")
    assert bars.frame["ts"].tolist() == [
        pd.Timestamp("2024-01-01", tz=IST), pd.Timestamp("2024-01-02", tz=IST)
    ]


def test_normalise_newest_first_rows_reversed_with_lines(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, NSE_INDEX_CSV, timeframe="1d")
    assert bars.frame["line"].tolist() == [3, 2]
    assert "rows were newest-first; reversed to oldest-first" in bars.notes


def test_normalise_unordered_rows_kept_in_file_order(tmp_path: Path) -> None:
    text = "ts,close\n2024-01-02,1\n2024-01-03,2\n2024-01-01,3\n"
    bars = _normalise(tmp_path, text, timeframe="1d")
    assert bars.frame["line"].tolist() == [2, 3, 4]
    assert not any("reversed" in note for note in bars.notes)


def test_normalise_single_row_not_reversed(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, "ts,close\n2024-01-02,1\n", timeframe="1d")
    assert bars.frame["line"].tolist() == [2]


def test_normalise_blank_lines_keep_source_line_numbers(tmp_path: Path) -> None:
    text = OHLC_HEADER + "2024-01-01 09:15,1,2,0.5,1.5\n\n2024-01-01 09:16,1,2,0.5,1.5\n"
    assert _normalise(tmp_path, text).frame["line"].tolist() == [2, 4]


def test_normalise_notes_record_column_mapping(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, KITE_CSV)
    assert bars.notes[0] == (
        "columns: {'ts': 'date', 'open': 'open', 'high': 'high', 'low': 'low', "
        "'close': 'close', 'volume': 'volume'}"
    )


def test_normalise_short_aliases_and_separate_time_column_combined(tmp_path: Path) -> None:
    text = "Date,Time,O,H,L,C,V\n13/01/2024,09:15,1,2,0.5,1.5,10\n13/01/2024,09:16,1,2,0.5,1.5,0\n"
    bars = _normalise(tmp_path, text)
    assert bars.frame["ts"].tolist() == [
        pd.Timestamp("2024-01-13 09:15", tz=IST), pd.Timestamp("2024-01-13 09:16", tz=IST)
    ]
    assert bars.frame["volume"].tolist() == [10.0, 0.0]


def test_normalise_pandas_index_column_used_as_timestamp(tmp_path: Path) -> None:
    text = ",open,high,low,close\n2024-01-01 09:15:00,1,2,0.5,1.5\n"
    bars = _normalise(tmp_path, text)
    assert bars.frame["ts"].tolist() == [pd.Timestamp("2024-01-01 09:15", tz=IST)]


def test_normalise_without_volume_column_has_null_volume(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, OHLC_HEADER + "2024-01-01 09:15,1,2,0.5,1.5\n")
    assert not bars.has_volume
    assert bars.frame["volume"].isna().all()


def test_normalise_explicit_zone_places_naive_timestamps(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, OHLC_HEADER + "2024-01-01 03:45,1,2,0.5,1.5\n", tz="UTC")
    assert bars.frame["ts"].tolist() == [pd.Timestamp("2024-01-01 09:15", tz=IST)]


def test_normalise_offsets_contradicting_explicit_zone_refused_naming_line(
    tmp_path: Path,
) -> None:
    with pytest.raises(TimestampParseError, match=r"disagree with UTC .*line 2: "):
        _normalise(tmp_path, KITE_CSV, tz="UTC")


def test_normalise_timestamps_converted_to_venue_zone(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, KITE_CSV, venue="24x7")
    assert bars.frame["ts"].iloc[0] == pd.Timestamp("2024-01-01 03:45", tz="UTC")
    assert str(bars.frame["ts"].dt.tz) == "UTC"


def test_normalise_ambiguous_dates_read_with_given_order(tmp_path: Path) -> None:
    text = "Date,Close\n01/02/2024,1\n03/04/2024,2\n"
    bars = _normalise(tmp_path, text, timeframe="1d", date_order="dmy")
    assert bars.frame["ts"].dt.month.tolist() == [2, 4]


def test_normalise_close_only_daily_copies_close_into_ohl(tmp_path: Path) -> None:
    bars = _normalise(tmp_path, "Date,Price\n2024-01-01,100.5\n2024-01-02,101\n", timeframe="1d")
    assert bars.kind == KIND_CLOSE_ONLY
    for column in ("open", "high", "low"):
        assert bars.frame[column].tolist() == [100.5, 101.0]


def test_normalise_close_only_intraday_refused_naming_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(
        NormaliseError, match=r"bars\.csv: missing column\(s\) \['open', 'high', 'low'\]"
    ):
        _normalise(tmp_path, "ts,close\n2024-01-01 09:15,1\n", timeframe="5m")


def test_normalise_partly_missing_prices_refused_naming_column(tmp_path: Path) -> None:
    with pytest.raises(NormaliseError, match=r"bars\.csv: missing column\(s\) \['low'\]"):
        _normalise(tmp_path, "Date,Open,High,Close\n2024-01-01,1,2,1.5\n", timeframe="1d")


def test_normalise_no_close_column_refused_naming_path(tmp_path: Path) -> None:
    with pytest.raises(NormaliseError, match=r"bars\.csv: no close/price column"):
        _normalise(tmp_path, "Date,Open,High,Low\n2024-01-01,1,2,0.5\n", timeframe="1d")


def test_normalise_no_timestamp_column_refused_listing_headers(tmp_path: Path) -> None:
    with pytest.raises(
        NormaliseError,
        match=r"bars\.csv: no timestamp column.*"
        r"\(have \['when', 'open', 'high', 'low', 'close'\]\)",
    ):
        _normalise(tmp_path, "when,open,high,low,close\n2024-01-01 09:15,1,2,0.5,1.5\n")


def test_normalise_text_in_price_refused_naming_column_and_line(tmp_path: Path) -> None:
    text = OHLC_HEADER + "2024-01-01 09:15,1,2,0.5,1.5\n2024-01-01 09:16,1,2,0.5,n.a.x\n"
    with pytest.raises(NormaliseError, match=r"column 'close': 1 value\(s\).*line 3: 'n\.a\.x'"):
        _normalise(tmp_path, text)


def test_normalise_text_in_volume_refused_naming_column_and_line(tmp_path: Path) -> None:
    text = "ts,open,high,low,close,Vol\n2024-01-01 09:15,1,2,0.5,1.5,lots\n"
    with pytest.raises(NormaliseError, match=r"column 'Vol'.*line 2: 'lots'"):
        _normalise(tmp_path, text)


def test_normalise_quoted_thousands_separators_parsed(tmp_path: Path) -> None:
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        '01-JAN-2024,"21,727.75","21,834.35","21,680.70","21,741.90","1,53,84,628"\n'
    )
    bars = _normalise(tmp_path, text, timeframe="1d")
    assert bars.frame[["open", "close", "volume"]].iloc[0].tolist() == [
        21727.75, 21741.90, 15384628.0
    ]


def test_normalise_matching_symbol_column_accepted(tmp_path: Path) -> None:
    text = "ts,Symbol,open,high,low,close\n2024-01-01 09:15, NIFTY ,1,2,0.5,1.5\n"
    assert _normalise(tmp_path, text).frame["symbol"].tolist() == ["NIFTY"]


def test_normalise_other_symbol_in_column_refused_naming_column_and_symbols(
    tmp_path: Path,
) -> None:
    text = (
        "ts,Symbol,open,high,low,close\n"
        "2024-01-01 09:15,NIFTY,1,2,0.5,1.5\n2024-01-01 09:15,BANKNIFTY,1,2,0.5,1.5\n"
    )
    with pytest.raises(
        NormaliseError,
        match=r"column 'Symbol' holds \['BANKNIFTY', 'NIFTY'\] but --symbol is 'NIFTY'",
    ):
        _normalise(tmp_path, text)


def test_normalise_unknown_timeframe_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TimeframeError, match=r"timeframe '1x'"):
        _normalise(tmp_path, KITE_CSV, timeframe="1x")


def test_normalise_unknown_venue_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UnknownVenueError, match=r"unknown venue 'MARS'"):
        _normalise(tmp_path, KITE_CSV, venue="MARS")


def test_normalise_parquet_typed_columns_passed_through(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    ts = pd.date_range("2024-01-01 03:45", periods=2, freq="1min", tz="UTC")
    pd.DataFrame({
        "timestamp": ts, "open": [1.0, 2.0], "high": [2.0, 3.0], "low": [0.5, 1.5],
        "close": [1.5, 2.5], "volume": [10, 20],
    }).to_parquet(path)
    bars = normalise(read_source(path, max_bytes=2**30), _options())
    assert bars.frame["ts"].tolist() == [
        pd.Timestamp("2024-01-01 09:15", tz=IST), pd.Timestamp("2024-01-01 09:16", tz=IST)
    ]
    assert bars.frame["volume"].tolist() == [10.0, 20.0]
    assert bars.frame["line"].tolist() == [1, 2]


def test_normalise_parquet_with_timestamp_index_parsed(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    ts = pd.date_range("2024-01-01 09:15", periods=2, freq="1min", tz=IST, name="ts")
    pd.DataFrame({"open": [1.0, 2.0], "high": [2.0, 3.0], "low": [0.5, 1.5],
                  "close": [1.5, 2.5]}, index=ts).to_parquet(path)
    bars = normalise(read_source(path, max_bytes=2**30), _options())
    assert bars.frame["ts"].tolist() == ts.tolist()


@pytest.mark.parametrize(
    ("header", "canonical"),
    [("Turnover (₹ Cr)", "turnover"), ("Shares Traded (Lakhs)", "shares_traded"),
     ("Close ", "close"), ("Open-Price", "open_price"), ("Unnamed: 0", "unnamed_0"),
     ("TotTrdQty", "tottrdqty")],
)
def test_canonical_name_strips_units_case_and_punctuation(header: str, canonical: str) -> None:
    assert canonical_name(header) == canonical


def test_map_columns_earlier_alias_wins() -> None:
    assert map_columns(["date", "timestamp", "close"])["ts"] == "timestamp"


def test_map_columns_unknown_headers_left_unmapped() -> None:
    assert map_columns(["Date", "Close", "Turnover (₹ Cr)"]) == {"ts": "Date", "close": "Close"}


def test_parse_numeric_plain_decimals_parsed() -> None:
    parsed = parse_numeric(pd.Series(["1", " 2.5 ", "-0.25", "1e3"]), _lines(2, 3, 4, 5), "close")
    assert parsed.tolist() == [1.0, 2.5, -0.25, 1000.0]


def test_parse_numeric_result_is_float64() -> None:
    assert parse_numeric(pd.Series(["1"]), _lines(2), "close").dtype == "float64"


@pytest.mark.parametrize(
    ("text", "value"),
    [("21,741.90", 21741.90), ("1,234,567.5", 1234567.5), ("1,23,456.50", 123456.50),
     ("1,234", 1234.0), ("-1,234.5", -1234.5)],
)
def test_parse_numeric_thousands_separators_removed(text: str, value: float) -> None:
    assert parse_numeric(pd.Series([text]), _lines(2), "close").tolist() == [value]


@pytest.mark.parametrize("text", ["100,50", "12,34", "1,2345", "21741,9"])
def test_parse_numeric_decimal_comma_refused_naming_value(text: str) -> None:
    with pytest.raises(NormaliseError, match=re.escape(f"column 'close': 1 value(s) are text, "
                                                       f"not numbers (line 7: {text!r})")):
        parse_numeric(pd.Series([text]), _lines(7), "close")


@pytest.mark.parametrize("token", ["", "-", "NA", "n/a", "NaN", "null", "None"])
def test_parse_numeric_null_tokens_become_nan(token: str) -> None:
    assert math.isnan(parse_numeric(pd.Series([token]), _lines(2), "volume").iloc[0])


def test_parse_numeric_text_refused_naming_column_lines_and_count() -> None:
    values = pd.Series(["1", "abc", "2", "x"])
    with pytest.raises(
        NormaliseError,
        match=re.escape("column 'High': 2 value(s) are text, not numbers "
                        "(line 3: 'abc', line 5: 'x')"),
    ):
        parse_numeric(values, _lines(2, 3, 4, 5), "High")


def test_parse_numeric_text_examples_capped_at_five() -> None:
    values = pd.Series(["bad"] * 7)
    with pytest.raises(NormaliseError, match=r"7 value\(s\).*line 6: 'bad'\)$"):
        parse_numeric(values, _lines(*range(2, 9)), "close")


@pytest.mark.parametrize("text", ["0x10", "1_000", "₹100", "12.5%"])
def test_parse_numeric_non_decimal_notation_refused_naming_value(text: str) -> None:
    with pytest.raises(NormaliseError, match=re.escape(f"line 2: {text!r}")):
        parse_numeric(pd.Series([text]), _lines(2), "close")


def test_parse_numeric_numeric_dtype_passed_through() -> None:
    parsed = parse_numeric(pd.Series([1, 2], dtype="int64"), _lines(1, 2), "volume")
    assert parsed.dtype == "float64"
    assert parsed.tolist() == [1.0, 2.0]


def test_parse_numeric_boolean_column_refused_naming_column() -> None:
    with pytest.raises(NormaliseError, match=r"column 'close': 2 value\(s\) are text"):
        parse_numeric(pd.Series([True, False]), _lines(1, 2), "close")


def test_parse_numeric_infinity_is_refused_with_line() -> None:
    with pytest.raises(NormaliseError, match=r"column 'close'.*line 3: 'inf'"):
        parse_numeric(pd.Series(["1.5", "inf"]), pd.Series([2, 3]), "close")
