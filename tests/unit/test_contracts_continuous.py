"""Specification of the synthetic futures and the back-adjusted continuous series
(:mod:`pipelines.datasets.synthetic_futures`), checked by recomputing every roll."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets.instrument_master import build_master
from pipelines.datasets.synthetic_futures import (
    CarryModel,
    contract_bars,
    front_series,
)
from pipelines.datasets.synthetic_nse import generate_nse_index_bars
from strategies.contracts import RollRule, front_contract

MASTER = build_master(date(2025, 1, 1), date(2025, 12, 31))
RULE = RollRule(days_before_expiry=2)
UNDERLYINGS = ("BANKNIFTY", "NIFTY")


@pytest.fixture(scope="module")
def spot() -> pd.DataFrame:
    bars, _ = generate_nse_index_bars(start=date(2025, 1, 1), end=date(2025, 3, 31))
    return bars


@pytest.fixture(scope="module")
def per_contract(spot: pd.DataFrame) -> pd.DataFrame:
    return contract_bars(spot, MASTER, UNDERLYINGS, CarryModel())


@pytest.fixture(scope="module")
def continuous(per_contract: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    adjusted, _, rolls = front_series(per_contract, MASTER, UNDERLYINGS, RULE)
    return adjusted, rolls


def _session(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_localize(None).dt.normalize().dt.date


def test_futures_price_is_spot_times_carry(spot: pd.DataFrame, per_contract: pd.DataFrame
                                           ) -> None:
    fut = per_contract[per_contract["symbol"] == "NIFTY25MARFUT"]
    merged = fut.merge(spot[spot["symbol"] == "NIFTY"], on="ts", suffixes=("_f", "_s"))
    expiry_close = pd.Timestamp("2025-03-27 15:30", tz="Asia/Kolkata")
    days = (expiry_close - merged["ts"]) / pd.Timedelta(days=1)
    carry = np.log(merged["close_f"] / merged["close_s"]) - 0.065 * days / 365
    assert len(merged) == len(fut) > 0
    assert float(carry.abs().max()) < 6 * CarryModel().noise_sd + 1e-5  # noise + tick


def test_futures_bars_keep_ohlc_order_and_tick(per_contract: pd.DataFrame) -> None:
    assert (per_contract["high"] >= per_contract[["open", "close"]].max(axis=1)).all()
    assert (per_contract["low"] <= per_contract[["open", "close"]].min(axis=1)).all()
    ticks = per_contract["close"] / 0.05
    assert np.allclose(ticks, ticks.round(), atol=1e-6)


def test_contract_is_listed_three_months_and_ends_at_expiry(per_contract: pd.DataFrame
                                                            ) -> None:
    days = _session(per_contract["ts"])
    apr = days[per_contract["symbol"] == "NIFTY25APRFUT"]
    assert apr.min() == date(2025, 1, 31)  # the session after the January expiry
    jan = days[per_contract["symbol"] == "NIFTY25JANFUT"]
    assert jan.max() == date(2025, 1, 30)


def test_futures_bars_are_reproducible(spot: pd.DataFrame, per_contract: pd.DataFrame) -> None:
    again = contract_bars(spot, MASTER, UNDERLYINGS, CarryModel())
    pd.testing.assert_frame_equal(again, per_contract)
    other = contract_bars(spot, MASTER, UNDERLYINGS, CarryModel(seed=1))
    assert not other["close"].equals(per_contract["close"])


def test_rolls_table_lists_each_roll_with_its_gap(per_contract: pd.DataFrame,
                                                  continuous: tuple[pd.DataFrame, pd.DataFrame]
                                                  ) -> None:
    _, rolls = continuous
    nifty = rolls[rolls["symbol"] == "NIFTY"].reset_index(drop=True)
    # Jan expiry Thu 30th, 2 sessions before: roll on Tue 28th; Feb expiry 27th, 26th a
    # holiday: roll on Mon 24th.
    assert list(nifty["roll_session"].dt.date) == [date(2025, 1, 28), date(2025, 2, 24),
                                                    date(2025, 3, 25)]
    assert list(nifty["to_contract"]) == ["NIFTY25FEBFUT", "NIFTY25MARFUT", "NIFTY25APRFUT"]
    for roll in nifty.itertuples():
        before = per_contract[(_session(per_contract["ts"]) < roll.roll_session.date())]
        old = before[before["symbol"] == roll.from_contract].iloc[-1]
        new = per_contract[(per_contract["symbol"] == roll.to_contract)
                           & (per_contract["ts"] == old["ts"])].iloc[0]
        assert roll.ref_ts == old["ts"]
        assert roll.gap == pytest.approx(new["close"] - old["close"], abs=1e-9)


def test_continuous_series_is_back_adjusted_by_the_later_gaps(
        per_contract: pd.DataFrame, continuous: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    series, rolls = continuous
    for underlying in UNDERLYINGS:
        mine = series[series["symbol"] == underlying].reset_index(drop=True)
        days = _session(mine["ts"])
        gaps = rolls[rolls["symbol"] == underlying]
        # Independent recomputation: the front contract's own close on each session, plus
        # every gap of a roll that happens after that session.
        front = {d: front_contract(MASTER, underlying, d, RULE).tradingsymbol
                 for d in sorted(set(days))}
        later_gaps = {d: gaps.loc[gaps["roll_session"].dt.date > d, "gap"].sum()
                      for d in front}
        wanted = pd.DataFrame({"ts": mine["ts"], "symbol": days.map(front),
                               "shift": days.map(later_gaps)})
        raw = wanted.merge(per_contract[["ts", "symbol", "close"]], on=["ts", "symbol"],
                           how="left")
        assert raw["close"].notna().all()
        expected = raw["close"] + raw["shift"]
        assert np.allclose(mine["close"], expected, atol=1e-6), underlying


def test_continuous_series_has_no_jump_at_a_roll(continuous: tuple[pd.DataFrame, pd.DataFrame]
                                                 ) -> None:
    series, rolls = continuous
    for roll in rolls.itertuples():
        mine = series[series["symbol"] == roll.symbol].set_index("ts")["close"]
        # Across the roll the adjusted series moves like the new contract did.
        last_old = mine[roll.ref_ts]
        # the adjusted last bar of the old contract is the new contract's close then
        # (adjusted by the later rolls only): no step at the roll.
        later = roll.adjustment_before - roll.gap
        assert last_old == pytest.approx(roll.from_close + roll.adjustment_before, abs=1e-6)
        assert last_old == pytest.approx(roll.to_close + later, abs=1e-6)


def test_last_segment_is_unadjusted(per_contract: pd.DataFrame,
                                    continuous: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    series, _ = continuous
    last = series[series["symbol"] == "NIFTY"].iloc[-1]
    raw = per_contract[(per_contract["symbol"] == "NIFTY25APRFUT")
                       & (per_contract["ts"] == last["ts"])]
    assert last["close"] == raw["close"].iloc[0]


def test_front_series_is_each_session_front_contract_at_its_own_prices(
        per_contract: pd.DataFrame) -> None:
    adjusted, front, rolls = front_series(per_contract, MASTER, UNDERLYINGS, RULE)
    mine = front[front["symbol"] == "NIFTY"].reset_index(drop=True)
    days = _session(mine["ts"])
    symbols = days.map({d: front_contract(MASTER, "NIFTY", d, RULE).tradingsymbol
                        for d in sorted(set(days))})
    raw = pd.DataFrame({"ts": mine["ts"], "symbol": symbols}).merge(
        per_contract[["ts", "symbol", "close"]], on=["ts", "symbol"], how="left")
    assert list(mine["close"]) == list(raw["close"])
    # the adjusted series is the front series shifted by the later gaps
    adj = adjusted[adjusted["symbol"] == "NIFTY"].reset_index(drop=True)
    nifty_rolls = rolls[rolls["symbol"] == "NIFTY"]
    shift = days.map(lambda d: nifty_rolls.loc[nifty_rolls["roll_session"].dt.date > d,
                                               "gap"].sum())
    assert np.allclose(adj["close"], mine["close"] + shift, atol=1e-6)
