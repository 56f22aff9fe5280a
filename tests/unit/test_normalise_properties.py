"""Properties of reading and normalising: any valid bars, in any supported dialect, round-trip."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.datasets.normalise import ALIASES, NormaliseOptions, normalise, parse_numeric
from pipelines.datasets.source_file import read_source

FIELDS = ("ts", "open", "high", "low", "close", "volume")
DELIMITERS = (",", ";", "\t", "|")
# Formats of the timestamp column and whether they carry no zone (so need one without DST).
TS_FORMATS = ("iso_offset", "iso_naive", "epoch_s", "epoch_ms", "day_first")
NAIVE_FORMATS = {"iso_naive", "day_first"}
FIXED_ZONES = ("Asia/Kolkata", "UTC", "Asia/Tokyo")
DST_ZONES = ("America/New_York", "Europe/London")
VENUES = ("NSE", "NYSE", "24x7")
VENUE_TZ = {"NSE": "Asia/Kolkata", "NYSE": "America/New_York", "24x7": "UTC"}
START_S = int(pd.Timestamp("2001-01-01", tz="UTC").timestamp())
END_S = int(pd.Timestamp("2030-01-01", tz="UTC").timestamp())
# The empty and pandas-index aliases only name the first column; "" cannot be written as-is.
TS_HEADERS = tuple(a for a in ALIASES["ts"] if a not in ("", "unnamed_0"))

prices = st.floats(min_value=1e-4, max_value=1e7, allow_nan=False, allow_infinity=False)
volumes = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(float),
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False),
)


@dataclass(frozen=True)
class Case:
    """Bars as generated, and how they are written to the file."""

    bars: pd.DataFrame
    zone: str
    ts_format: str
    delimiter: str
    headers: dict[str, str]
    order: list[str]
    venue: str
    date_order: str


@st.composite
def bar_rows(draw: st.DrawFn, step_unit_s: int) -> list[dict]:
    n = draw(st.integers(min_value=1, max_value=12))
    steps = draw(st.lists(st.integers(1, 3 * 24 * 60), min_size=n, max_size=n))
    first = draw(st.integers(START_S // step_unit_s, (END_S - 10**7) // step_unit_s))
    rows, at = [], first
    for step in steps:
        at += step
        low, a, b, high = sorted(draw(st.lists(prices, min_size=4, max_size=4)))
        open_, close = (a, b) if draw(st.booleans()) else (b, a)
        rows.append({"epoch_s": at * step_unit_s, "open": open_, "high": high, "low": low,
                     "close": close, "volume": draw(volumes)})
    return rows


def _header(draw: st.DrawFn, field: str) -> str:
    alias = draw(st.sampled_from(TS_HEADERS if field == "ts" else ALIASES[field]))
    spelled = draw(st.sampled_from([alias, alias.upper(), alias.title(), alias.replace("_", " ")]))
    return spelled + draw(st.sampled_from(["", " "]))  # NSE pads headers with a space


@st.composite
def cases(draw: st.DrawFn) -> Case:
    ts_format = draw(st.sampled_from(TS_FORMATS))
    naive = ts_format in NAIVE_FORMATS
    zone = draw(st.sampled_from(FIXED_ZONES if naive else FIXED_ZONES + DST_ZONES))
    rows = draw(bar_rows(step_unit_s=60 if ts_format == "day_first" else 1))
    bars = pd.DataFrame(rows)
    bars.insert(0, "ts", pd.to_datetime(bars.pop("epoch_s"), unit="s", utc=True))
    bars["ts"] = bars["ts"].dt.tz_convert(zone).dt.as_unit("ns")
    order = draw(st.permutations(FIELDS))
    headers = {field: _header(draw, field) for field in FIELDS}
    day_above_12 = bool((bars["ts"].dt.day > 12).any())
    date_order = draw(st.sampled_from(["auto", "dmy"])) if day_above_12 else "dmy"
    return Case(bars=bars, zone=zone, ts_format=ts_format, delimiter=draw(st.sampled_from(
        DELIMITERS)), headers=headers, order=list(order), venue=draw(st.sampled_from(VENUES)),
        date_order=date_order)


def _render_ts(ts: pd.Timestamp, ts_format: str) -> str:
    if ts_format == "iso_offset":
        return ts.isoformat()
    if ts_format == "iso_naive":
        return ts.tz_localize(None).isoformat()
    if ts_format == "epoch_s":
        return str(ts.value // 10**9)
    if ts_format == "epoch_ms":
        return str(ts.value // 10**6)
    return ts.strftime("%d-%m-%Y %H:%M")


def _render(case: Case) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=case.delimiter, lineterminator="\n")
    writer.writerow([case.headers[f] for f in case.order])
    for row in case.bars.itertuples(index=False):
        cells = {f: repr(getattr(row, f)) for f in FIELDS if f != "ts"}
        cells["ts"] = _render_ts(row.ts, case.ts_format)
        writer.writerow([cells[f] for f in case.order])
    return out.getvalue()


@settings(max_examples=60, deadline=None)
@given(case=cases())
def test_normalise_any_dialect_round_trips_valid_bars(case: Case) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_text(_render(case), encoding="utf-8")
        raw = read_source(path, max_bytes=2**30)
        options = NormaliseOptions(symbol="TEST", timeframe="1m", venue=case.venue,
                                   tz=case.zone, date_order=case.date_order)
        result = normalise(raw, options).frame

    n = len(case.bars)
    assert raw.delimiter == case.delimiter
    expected_ts = case.bars["ts"].dt.tz_convert(VENUE_TZ[case.venue])
    assert result["ts"].tolist() == expected_ts.tolist()
    assert result["ts"].dtype == pd.DatetimeTZDtype("ns", VENUE_TZ[case.venue])
    for column in ("open", "high", "low", "close", "volume"):
        assert result[column].tolist() == case.bars[column].tolist(), column
    assert result["line"].tolist() == list(range(2, n + 2))
    assert (result["symbol"] == "TEST").all()


@settings(max_examples=60, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_parse_numeric_any_finite_float_round_trips_through_repr(value: float) -> None:
    parsed = float(parse_numeric(pd.Series([repr(value)]), pd.Series([2]), "close").iloc[0])
    assert repr(parsed) == repr(value)
    assert math.copysign(1.0, parsed) == math.copysign(1.0, value)
