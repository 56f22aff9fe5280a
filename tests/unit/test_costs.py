"""NSE F&O transaction costs: the dated schedule, the Python breakdown and the numba kernel."""

from __future__ import annotations

import copy
import dataclasses
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.costs import (
    IDX_BROKERAGE_CAP_FRAC,
    IDX_BROKERAGE_PER_ORDER_INR,
    IDX_EXCHANGE_TXN_FRAC,
    IDX_GST_FRAC,
    IDX_SEBI_FEE_PER_CRORE_INR,
    IDX_STAMP_BUY_FRAC,
    IDX_STT_SELL_FRAC,
    N_RATES,
    RATE_FIELDS,
    CostRates,
    CostScheduleError,
    fill_cost_inr,
    load_cost_rates,
    load_cost_rates_version,
    order_cost_breakdown,
)

# Version 2024-10-01 is in force on this date in the packaged schedule.
ON_2025 = date(2025, 1, 1)

# NIFTY future, 1 lot of 75: buy at 23,500, sell at 23,600.
NIFTY_BUY_INR = 75 * 23_500.0  # 17,62,500
NIFTY_SELL_INR = 75 * 23_600.0  # 17,70,000


@pytest.fixture(scope="module")
def future_rates() -> CostRates:
    return load_cost_rates("index_future", on=ON_2025)


@pytest.fixture(scope="module")
def option_rates() -> CostRates:
    return load_cost_rates("index_option", on=ON_2025)


def _valid_schedule() -> dict[str, Any]:
    rates = {
        "brokerage_per_order_inr": 20.0,
        "brokerage_pct_cap": 0.03,
        "stt_sell_pct": 0.02,
        "exchange_txn_pct": 0.00173,
        "sebi_fee_per_crore_inr": 10.0,
        "stamp_buy_pct": 0.002,
        "gst_pct": 18.0,
    }
    return {
        "schedule": "nse_fo",
        "currency": "INR",
        "versions": [
            {
                "version": "2024-10-01",
                "effective_from": date(2024, 10, 1),
                "sources": [{"title": "t", "url": "https://example.org/x", "sets": "all"}],
                "instruments": {"index_future": rates},
            }
        ],
    }


def _write(tmp_path: Path, schedule: dict[str, Any]) -> Path:
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump(schedule), encoding="utf-8")
    return path


def _future_rates_of(schedule: dict[str, Any]) -> dict[str, Any]:
    return schedule["versions"][0]["instruments"]["index_future"]


# --- worked example ------------------------------------------------------------------------


def test_order_cost_breakdown_nifty_future_buy_matches_hand_arithmetic(
    future_rates: CostRates,
) -> None:
    brokerage = min(20.0, 0.03 / 100 * 1_762_500)  # 528.75 > 20: the Rs 20 per order binds
    exchange = 0.00173 / 100 * 1_762_500  # 30.49125
    sebi = 1_762_500 * 10 / 1e7  # 1.7625
    stamp = 0.002 / 100 * 1_762_500  # 35.25
    gst = 0.18 * (brokerage + exchange + sebi)  # 9.405675
    got = order_cost_breakdown(future_rates, is_buy=True, notional_inr=NIFTY_BUY_INR)
    assert got.brokerage_inr == pytest.approx(20.0, abs=1e-9)
    assert got.stt_inr == 0.0
    assert got.exchange_txn_inr == pytest.approx(exchange, abs=1e-9)
    assert got.sebi_fee_inr == pytest.approx(sebi, abs=1e-9)
    assert got.stamp_inr == pytest.approx(stamp, abs=1e-9)
    assert got.gst_inr == pytest.approx(gst, abs=1e-9)
    assert got.total_inr == pytest.approx(96.909425, abs=1e-9)


def test_order_cost_breakdown_nifty_future_sell_matches_hand_arithmetic(
    future_rates: CostRates,
) -> None:
    brokerage = min(20.0, 0.03 / 100 * 1_770_000)  # 531 > 20
    stt = 0.02 / 100 * 1_770_000  # 354
    exchange = 0.00173 / 100 * 1_770_000  # 30.621
    sebi = 1_770_000 * 10 / 1e7  # 1.77
    gst = 0.18 * (brokerage + exchange + sebi)  # 9.43038
    got = order_cost_breakdown(future_rates, is_buy=False, notional_inr=NIFTY_SELL_INR)
    assert got.brokerage_inr == pytest.approx(20.0, abs=1e-9)
    assert got.stt_inr == pytest.approx(stt, abs=1e-9)
    assert got.exchange_txn_inr == pytest.approx(exchange, abs=1e-9)
    assert got.sebi_fee_inr == pytest.approx(sebi, abs=1e-9)
    assert got.stamp_inr == 0.0
    assert got.gst_inr == pytest.approx(gst, abs=1e-9)
    assert got.total_inr == pytest.approx(415.82138, abs=1e-9)


# --- which side pays what ------------------------------------------------------------------


def test_order_cost_breakdown_buy_order_pays_no_stt(future_rates: CostRates) -> None:
    assert order_cost_breakdown(future_rates, is_buy=True, notional_inr=1e6).stt_inr == 0.0


def test_order_cost_breakdown_sell_order_pays_no_stamp_duty(future_rates: CostRates) -> None:
    assert order_cost_breakdown(future_rates, is_buy=False, notional_inr=1e6).stamp_inr == 0.0


def test_order_cost_breakdown_small_turnover_brokerage_cap_binds(
    future_rates: CostRates,
) -> None:
    got = order_cost_breakdown(future_rates, is_buy=True, notional_inr=10_000.0)
    assert got.brokerage_inr == pytest.approx(0.03 / 100 * 10_000.0, abs=1e-9)  # Rs 3 < Rs 20


def test_order_cost_breakdown_option_brokerage_is_flat_per_order(
    option_rates: CostRates,
) -> None:
    got = order_cost_breakdown(option_rates, is_buy=True, notional_inr=1_000.0)
    assert got.brokerage_inr == 20.0


def test_order_cost_breakdown_gst_base_excludes_stt_and_stamp(future_rates: CostRates) -> None:
    heavier_taxes = dataclasses.replace(future_rates, stt_sell_frac=0.5, stamp_buy_frac=0.5)
    for is_buy in (True, False):
        base = order_cost_breakdown(future_rates, is_buy=is_buy, notional_inr=1e6)
        taxed = order_cost_breakdown(heavier_taxes, is_buy=is_buy, notional_inr=1e6)
        assert taxed.gst_inr == base.gst_inr
        assert base.gst_inr == pytest.approx(
            0.18 * (base.brokerage_inr + base.exchange_txn_inr + base.sebi_fee_inr), abs=1e-12
        )


def test_order_cost_breakdown_negative_notional_raises_with_value(
    future_rates: CostRates,
) -> None:
    with pytest.raises(ValueError, match=r"-5\.0"):
        order_cost_breakdown(future_rates, is_buy=True, notional_inr=-5.0)


# --- schedule versions ---------------------------------------------------------------------


def test_load_cost_rates_mid_2024_selects_2023_version() -> None:
    rates = load_cost_rates("index_future", on=date(2024, 6, 1))
    assert rates.version == "2023-04-01"
    assert rates.stt_sell_frac == pytest.approx(0.0125 / 100, rel=1e-12)


def test_load_cost_rates_2025_selects_october_2024_version() -> None:
    rates = load_cost_rates("index_option", on=ON_2025)
    assert rates.version == "2024-10-01"
    assert rates.stt_sell_frac == pytest.approx(0.1 / 100, rel=1e-12)


def test_load_cost_rates_effective_date_itself_selects_new_version() -> None:
    assert load_cost_rates("index_future", on=date(2024, 10, 1)).version == "2024-10-01"


def test_load_cost_rates_without_date_selects_latest_version() -> None:
    assert load_cost_rates("index_future").version == "2026-04-01"


def test_load_cost_rates_converts_percent_to_fraction(future_rates: CostRates) -> None:
    assert future_rates.stt_sell_frac == pytest.approx(0.0002, rel=1e-12)
    assert future_rates.gst_frac == pytest.approx(0.18, rel=1e-12)


def test_load_cost_rates_null_cap_becomes_infinite_fraction(option_rates: CostRates) -> None:
    assert math.isinf(option_rates.brokerage_cap_frac)


def test_load_cost_rates_date_before_first_version_raises_naming_date() -> None:
    with pytest.raises(CostScheduleError, match="2020-01-01"):
        load_cost_rates("index_future", on=date(2020, 1, 1))


def test_load_cost_rates_unknown_instrument_raises_naming_it() -> None:
    with pytest.raises(CostScheduleError, match="'stock_future'"):
        load_cost_rates("stock_future", on=ON_2025)


def test_load_cost_rates_datetime_raises_type_error() -> None:
    with pytest.raises(TypeError, match="datetime"):
        load_cost_rates("index_future", on=datetime(2025, 1, 1, 9, 15))  # type: ignore[arg-type]


# --- invalid schedule files ----------------------------------------------------------------


def test_load_cost_rates_valid_tmp_schedule_loads(tmp_path: Path) -> None:
    rates = load_cost_rates(path=_write(tmp_path, _valid_schedule()))
    assert rates.version == "2024-10-01"


def test_load_cost_rates_missing_file_raises_naming_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CostScheduleError, match=r"nope\.yaml"):
        load_cost_rates(path=missing)


def test_load_cost_rates_negative_rate_raises_naming_field(tmp_path: Path) -> None:
    schedule = _valid_schedule()
    _future_rates_of(schedule)["stt_sell_pct"] = -0.02
    with pytest.raises(CostScheduleError, match=r"index_future\.stt_sell_pct.*-0\.02"):
        load_cost_rates(path=_write(tmp_path, schedule))


def test_load_cost_rates_unknown_field_raises_naming_field(tmp_path: Path) -> None:
    schedule = _valid_schedule()
    _future_rates_of(schedule)["clearing_pct"] = 0.001
    with pytest.raises(CostScheduleError, match="clearing_pct"):
        load_cost_rates(path=_write(tmp_path, schedule))


def test_load_cost_rates_missing_field_raises_naming_field(tmp_path: Path) -> None:
    schedule = _valid_schedule()
    del _future_rates_of(schedule)["gst_pct"]
    with pytest.raises(CostScheduleError, match=r"index_future\.gst_pct.*required"):
        load_cost_rates(path=_write(tmp_path, schedule))


def test_load_cost_rates_duplicate_effective_date_raises(tmp_path: Path) -> None:
    schedule = _valid_schedule()
    second = copy.deepcopy(schedule["versions"][0])
    second["version"] = "again"
    schedule["versions"].append(second)
    with pytest.raises(CostScheduleError, match="duplicate effective_from 2024-10-01"):
        load_cost_rates(path=_write(tmp_path, schedule))


def test_load_cost_rates_malformed_yaml_raises(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("versions: [unclosed\n", encoding="utf-8")
    with pytest.raises(CostScheduleError, match="not valid YAML"):
        load_cost_rates(path=path)


def test_cost_rates_gst_above_one_raises_naming_value(future_rates: CostRates) -> None:
    with pytest.raises(CostScheduleError, match=r"gst_frac.*18\.0"):
        dataclasses.replace(future_rates, gst_frac=18.0)


def test_cost_rates_negative_rate_raises_naming_field(future_rates: CostRates) -> None:
    with pytest.raises(CostScheduleError, match=r"exchange_txn_frac.*-1e-05"):
        dataclasses.replace(future_rates, exchange_txn_frac=-1e-5)


# --- numba kernel --------------------------------------------------------------------------


def test_as_array_follows_rate_fields_order(future_rates: CostRates) -> None:
    array = future_rates.as_array()
    assert array.dtype == np.float64
    assert array.shape == (N_RATES,)
    assert list(array) == [getattr(future_rates, name) for name in RATE_FIELDS]


def test_rate_index_constants_match_rate_fields() -> None:
    indices = {
        "brokerage_per_order_inr": IDX_BROKERAGE_PER_ORDER_INR,
        "brokerage_cap_frac": IDX_BROKERAGE_CAP_FRAC,
        "stt_sell_frac": IDX_STT_SELL_FRAC,
        "exchange_txn_frac": IDX_EXCHANGE_TXN_FRAC,
        "sebi_fee_per_crore_inr": IDX_SEBI_FEE_PER_CRORE_INR,
        "stamp_buy_frac": IDX_STAMP_BUY_FRAC,
        "gst_frac": IDX_GST_FRAC,
    }
    assert {name: RATE_FIELDS.index(name) for name in RATE_FIELDS} == indices


@settings(max_examples=200, deadline=None)
@given(
    instrument=st.sampled_from(["index_future", "index_option"]),
    on=st.sampled_from([date(2024, 6, 1), ON_2025, date(2026, 6, 1)]),
    is_buy=st.booleans(),
    notional_inr=st.floats(min_value=0.0, max_value=1e10, allow_nan=False),
)
def test_fill_cost_inr_random_notionals_equals_breakdown_total(
    instrument: str, on: date, is_buy: bool, notional_inr: float
) -> None:
    rates = load_cost_rates(instrument, on=on)
    expected = order_cost_breakdown(rates, is_buy=is_buy, notional_inr=notional_inr).total_inr
    got = fill_cost_inr(rates.as_array(), is_buy, notional_inr)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert got >= 0.0


def test_fill_cost_inr_read_only_rates_array_works(future_rates: CostRates) -> None:
    array = future_rates.as_array()
    array.setflags(write=False)
    got = fill_cost_inr(array, True, NIFTY_BUY_INR)
    assert got == pytest.approx(96.909425, abs=1e-9)


def test_fill_cost_inr_zero_notional_is_zero(option_rates: CostRates) -> None:
    assert fill_cost_inr(option_rates.as_array(), False, 0.0) == 0.0


def test_fill_cost_inr_negative_notional_raises(future_rates: CostRates) -> None:
    with pytest.raises(ValueError, match="notional_inr"):
        fill_cost_inr(future_rates.as_array(), True, -1.0)


def test_fill_cost_inr_wrong_length_rates_raises() -> None:
    with pytest.raises(ValueError, match="as_array"):
        fill_cost_inr(np.zeros(3), True, 1.0)


# --- a version's schedule by name (what live nets its P&L with) ----------------------------


def test_load_cost_rates_version_is_the_named_version_not_the_latest() -> None:
    named = load_cost_rates_version("2024-10-01")
    assert named == load_cost_rates(on=date(2024, 10, 1))
    assert named.version == "2024-10-01" != load_cost_rates().version


def test_load_cost_rates_version_unknown_name_lists_the_versions() -> None:
    with pytest.raises(CostScheduleError, match="2024-10-01"):
        load_cost_rates_version("1999-01-01")
