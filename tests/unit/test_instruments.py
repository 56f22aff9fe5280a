"""Specification of the Kite instruments-dump parser (:mod:`strategies.instruments`)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.instruments import (
    KITE_COLUMNS,
    Contract,
    InstrumentMaster,
    InstrumentMasterError,
    UnknownInstrumentError,
    parse_master,
)

HEADER = ",".join(KITE_COLUMNS)
INDEX = "256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE"
NIFTY_JAN = "13312002,52000,NIFTY25JANFUT,NIFTY,23510.5,2025-01-30,0,0.05,75,FUT,NFO-FUT,NFO"
NIFTY_FEB = "13312258,52001,NIFTY25FEBFUT,NIFTY,0,2025-02-27,0,0.05,75,FUT,NFO-FUT,NFO"


def dump(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


def test_parse_master_reads_kite_rows_into_contracts() -> None:
    master = parse_master(dump(INDEX, NIFTY_JAN, NIFTY_FEB))
    jan = master.by_symbol("NIFTY25JANFUT")
    assert jan == Contract(
        tradingsymbol="NIFTY25JANFUT", instrument_token=13312002, exchange_token=52000,
        name="NIFTY", expiry=date(2025, 1, 30), strike=0.0, tick_size=0.05, lot_size=75,
        instrument_type="FUT", segment="NFO-FUT", exchange="NFO", last_price=23510.5)
    index = master.by_symbol("NIFTY 50", "NSE")
    assert index.instrument_token == 256265 and index.segment == "INDICES"
    assert index.expiry is None
    assert [c.tradingsymbol for c in master.futures("NIFTY")] == ["NIFTY25JANFUT",
                                                                 "NIFTY25FEBFUT"]
    assert master.underlyings() == ("NIFTY",)


def test_parse_master_accepts_columns_in_any_order() -> None:
    cols = list(reversed(KITE_COLUMNS))
    row = list(reversed(NIFTY_JAN.split(",")))
    master = parse_master(",".join(cols) + "\n" + ",".join(row) + "\n")
    assert master.by_symbol("NIFTY25JANFUT").lot_size == 75


def test_to_csv_round_trips() -> None:
    master = parse_master(dump(INDEX, NIFTY_JAN, NIFTY_FEB))
    assert parse_master(master.to_csv()).contracts == master.contracts


@pytest.mark.parametrize(("row", "field", "why"), [
    (NIFTY_JAN.replace("2025-01-30", ""), "expiry", "needs an expiry"),
    (NIFTY_JAN.replace("2025-01-30", "30/01/2025"), "expiry", "not a date"),
    (NIFTY_JAN.replace(",75,", ",0,"), "lot_size", "must be > 0"),
    (NIFTY_JAN.replace(",75,", ",-5,"), "lot_size", "must be > 0"),
    (NIFTY_JAN.replace(",75,", ",7.5,"), "lot_size", "not an integer"),
    (NIFTY_JAN.replace("0.05", "0"), "tick_size", "must be > 0"),
    (NIFTY_JAN.replace("0.05", "nan"), "tick_size", "finite"),
    (NIFTY_JAN.replace("13312002", "x1"), "instrument_token", "not an integer"),
    (NIFTY_JAN.replace("13312002", "0"), "instrument_token", "must be > 0"),
    (NIFTY_JAN.replace(",FUT,", ",OPT,"), "instrument_type", "not one of"),
    (NIFTY_JAN.replace(",NIFTY,", ",,"), "name", "needs its underlying"),
    (NIFTY_JAN.replace("NIFTY25JANFUT", ""), "tradingsymbol", "non-empty"),
])
def test_parse_master_names_line_field_and_value_of_a_bad_row(row: str, field: str,
                                                               why: str) -> None:
    with pytest.raises(InstrumentMasterError, match=rf"f\.csv: line 3: {field}=.*{why}"):
        parse_master(dump(INDEX, row), source="f.csv")


def test_parse_master_refuses_duplicate_token() -> None:
    dup = NIFTY_FEB.replace("13312258", "13312002")
    with pytest.raises(InstrumentMasterError,
                       match=r"line 3: instrument_token='13312002': duplicate of line 2"):
        parse_master(dump(NIFTY_JAN, dup))


def test_parse_master_refuses_duplicate_tradingsymbol() -> None:
    dup = NIFTY_FEB.replace("NIFTY25FEBFUT", "NIFTY25JANFUT")
    with pytest.raises(InstrumentMasterError, match=r"line 3: tradingsymbol=.*duplicate NFO"):
        parse_master(dump(NIFTY_JAN, dup))


def test_parse_master_refuses_wrong_header() -> None:
    with pytest.raises(InstrumentMasterError, match=r"line 1: header .*missing \['exchange'\]"):
        parse_master(HEADER.removesuffix(",exchange") + "\n" + NIFTY_JAN + "\n")


def test_parse_master_refuses_short_row() -> None:
    with pytest.raises(InstrumentMasterError, match=r"line 2: expected 12 fields"):
        parse_master(dump(NIFTY_JAN.rsplit(",", 1)[0]))


def test_parse_master_refuses_long_row() -> None:
    with pytest.raises(InstrumentMasterError, match=r"line 2: expected 12 fields"):
        parse_master(dump(NIFTY_JAN + ",extra"))


def test_parse_master_refuses_empty_file() -> None:
    with pytest.raises(InstrumentMasterError, match="no instrument rows"):
        parse_master(dump())


def test_missing_instrument_is_refused_with_its_name() -> None:
    master = parse_master(dump(NIFTY_JAN))
    with pytest.raises(UnknownInstrumentError, match="NFO:NIFTY25MARFUT is not in"):
        master.by_symbol("NIFTY25MARFUT")


_contracts = st.builds(
    Contract,
    tradingsymbol=st.from_regex(r"[A-Z][A-Z0-9]{2,15}", fullmatch=True),
    instrument_token=st.integers(1, 2**32), exchange_token=st.integers(0, 2**24),
    name=st.sampled_from(["NIFTY", "BANKNIFTY"]),
    expiry=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    strike=st.floats(0, 1e6, allow_nan=False), tick_size=st.floats(0.01, 10),
    lot_size=st.integers(1, 10_000), instrument_type=st.sampled_from(["FUT", "CE", "PE"]),
    segment=st.just("NFO-FUT"), exchange=st.just("NFO"),
    last_price=st.floats(0, 1e6, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_contracts, min_size=1, max_size=8,
                unique_by=(lambda c: c.instrument_token, lambda c: c.tradingsymbol)))
def test_parse_master_round_trips_any_valid_master(contracts: list[Contract]) -> None:
    master = InstrumentMaster(contracts)
    assert parse_master(master.to_csv()).contracts == tuple(contracts)


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
               max_size=200))
def test_parse_master_either_parses_or_raises_its_own_error(tail: str) -> None:
    try:
        parse_master(dump(NIFTY_JAN) + tail)
    except InstrumentMasterError as exc:
        assert "line" in str(exc)
