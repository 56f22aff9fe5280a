"""Specification of front-month selection and the roll rule (:mod:`strategies.contracts`)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.datasets.instrument_master import build_master, monthly_expiry
from strategies.contracts import (
    ExpiredContractError,
    NoFrontContractError,
    RollRule,
    UnknownUnderlyingError,
    contract_for,
    front_contract,
    roll_day,
)
from strategies.errors import BadInputError
from strategies.instruments import UnknownInstrumentError
from strategies.venues import trading_days

MASTER = build_master(date(2025, 1, 1), date(2025, 12, 31))


def test_monthly_expiry_is_last_thursday_until_august_2025() -> None:
    assert monthly_expiry(2025, 1) == date(2025, 1, 30)
    assert monthly_expiry(2025, 8) == date(2025, 8, 28)


def test_monthly_expiry_is_last_tuesday_from_september_2025() -> None:
    assert monthly_expiry(2025, 9) == date(2025, 9, 30)
    assert monthly_expiry(2025, 12) == date(2025, 12, 30)


def test_monthly_expiry_on_a_holiday_moves_to_the_previous_session() -> None:
    # The last Tuesday of March 2026 (the 31st) is an XNSE holiday: the Monday before.
    assert monthly_expiry(2026, 3) == date(2026, 3, 30)


def test_front_contract_holds_until_the_roll_day() -> None:
    rule = RollRule(days_before_expiry=1)  # Jan 2025 expiry Thu 30th: roll on Wed 29th
    assert roll_day(date(2025, 1, 30), rule) == date(2025, 1, 29)
    assert front_contract(MASTER, "NIFTY", date(2025, 1, 28), rule).tradingsymbol == \
        "NIFTY25JANFUT"
    assert front_contract(MASTER, "NIFTY", date(2025, 1, 29), rule).tradingsymbol == \
        "NIFTY25FEBFUT"


def test_roll_rule_counts_trading_days_not_calendar_days() -> None:
    # Expiry Thu 2025-02-27; Wed 02-26 is a holiday (Mahashivratri): 2 sessions before
    # the expiry is Mon 02-24, not Tue 02-25.
    assert roll_day(date(2025, 2, 27), RollRule(days_before_expiry=2)) == date(2025, 2, 24)
    assert front_contract(MASTER, "BANKNIFTY", date(2025, 2, 21),
                          RollRule(days_before_expiry=2)).tradingsymbol == "BANKNIFTY25FEBFUT"
    assert front_contract(MASTER, "BANKNIFTY", date(2025, 2, 24),
                          RollRule(days_before_expiry=2)).tradingsymbol == "BANKNIFTY25MARFUT"


def test_roll_zero_days_rolls_on_the_expiry_day() -> None:
    rule = RollRule(days_before_expiry=0)
    assert front_contract(MASTER, "NIFTY", date(2025, 1, 29), rule).tradingsymbol == \
        "NIFTY25JANFUT"
    assert front_contract(MASTER, "NIFTY", date(2025, 1, 30), rule).tradingsymbol == \
        "NIFTY25FEBFUT"


def test_front_contract_across_the_tuesday_switch() -> None:
    rule = RollRule(days_before_expiry=1)
    assert front_contract(MASTER, "NIFTY", date(2025, 9, 26), rule).expiry == date(2025, 9, 30)
    assert front_contract(MASTER, "NIFTY", date(2025, 9, 29), rule).expiry == \
        date(2025, 10, 28)


def test_missing_underlying_is_refused() -> None:
    with pytest.raises(UnknownUnderlyingError, match=r"'FINNIFTY' has no futures.*NIFTY"):
        front_contract(MASTER, "FINNIFTY", date(2025, 3, 3), RollRule())


def test_stale_master_has_no_front_contract() -> None:
    with pytest.raises(NoFrontContractError, match="NIFTY25DECFUT, expires 2025-12-30"):
        front_contract(MASTER, "NIFTY", date(2025, 12, 30), RollRule(days_before_expiry=0))


def test_expired_contract_is_refused() -> None:
    assert contract_for(MASTER, "NIFTY25JANFUT", date(2025, 1, 30)).lot_size == 75
    with pytest.raises(ExpiredContractError, match="NIFTY25JANFUT expired on 2025-01-30"):
        contract_for(MASTER, "NIFTY25JANFUT", date(2025, 1, 31))


def test_instrument_missing_from_master_is_refused() -> None:
    with pytest.raises(UnknownInstrumentError, match="NFO:NIFTY24DECFUT is not in"):
        contract_for(MASTER, "NIFTY24DECFUT", date(2025, 1, 2))


@pytest.mark.parametrize("days", [-1, 16, True, 1.5])
def test_roll_rule_refuses_bad_days(days: object) -> None:
    with pytest.raises(BadInputError, match="days_before_expiry"):
        RollRule(days_before_expiry=days)  # type: ignore[arg-type]


# sessions that have a front contract under every rule drawn (the master's last future,
# NIFTY25DECFUT, expires 2025-12-30; rolled 5 sessions earlier it is not front from 12-22)
_SESSIONS = [d.date() for d in trading_days("NSE", date(2025, 1, 1), date(2025, 12, 19))]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(_SESSIONS), st.integers(0, 5), st.sampled_from(["NIFTY", "BANKNIFTY"]))
def test_front_contract_is_the_first_whose_roll_day_is_ahead(day: date, days: int,
                                                             underlying: str) -> None:
    rule = RollRule(days_before_expiry=days)
    front = front_contract(MASTER, underlying, day, rule)
    futures = MASTER.futures(underlying)
    earlier = futures[:futures.index(front)]
    assert front.expiry is not None and day <= front.expiry  # never an expired contract
    assert day < roll_day(front.expiry, rule)
    assert all(c.expiry is not None and roll_day(c.expiry, rule) <= day for c in earlier)
