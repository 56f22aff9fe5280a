"""Exposure buckets (INR notional by symbol, sector, strategy, expiry), greeks per underlying,
an order's effect, and cap checks."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy.stats import norm

from live.risk.exposure import (
    CapViolation,
    ExposureContext,
    ExposureInputError,
    exposure_after,
    exposure_of,
    exposure_violations,
)
from live.risk.margin import Instrument, Position

TODAY = date(2025, 1, 6)
JAN = date(2025, 1, 30)
F, VOL, RATE, LOT = 23_500.0, 0.14, 0.065, 75
BANK_F, BANK_LOT = 51_000.0, 30
CONTEXT = ExposureContext(
    market={"NIFTY": (F, VOL), "BANKNIFTY": (BANK_F, 0.16)},
    today=TODAY,
    sector_by_underlying={"NIFTY": "index", "BANKNIFTY": "financials"},
    rate=RATE,
)
NIFTY_FUT = Instrument(symbol="NIFTY25JANFUT", underlying="NIFTY", kind="future", expiry=JAN,
                       lot_size=LOT)
BANK_FUT = Instrument(symbol="BANKNIFTY25JANFUT", underlying="BANKNIFTY", kind="future",
                      expiry=JAN, lot_size=BANK_LOT)


def nifty_option(kind: str, strike: float, expiry: date = JAN) -> Instrument:
    return Instrument(symbol=f"NIFTY25JAN{strike:.0f}{'CE' if kind == 'call' else 'PE'}",
                      underlying="NIFTY", kind=kind, expiry=expiry, lot_size=LOT,  # type: ignore[arg-type]
                      strike=strike)


def hand_delta(kind: str, f: float, k: float, t: float, s: float, r: float) -> float:
    """Black-76 delta written out independently: e^{-rT} N(d1), or -e^{-rT} N(-d1)."""
    d1 = (math.log(f / k) + s * s * t / 2) / (s * math.sqrt(t))
    return math.exp(-r * t) * (norm.cdf(d1) if kind == "call" else -norm.cdf(-d1))


def test_long_and_short_across_strategies_net_out_but_gross_adds() -> None:
    book = [Position(NIFTY_FUT, 2, "ema_cross"), Position(NIFTY_FUT, -2, "range_breakout")]
    exposure = exposure_of(book, CONTEXT)
    buckets = exposure.buckets()
    two_lots_inr = 2 * LOT * F
    assert buckets["gross_inr/symbol/NIFTY25JANFUT"] == pytest.approx(2 * two_lots_inr)
    assert buckets["net_inr/symbol/NIFTY25JANFUT"] == pytest.approx(0.0)
    assert buckets["net_inr/sector/index"] == pytest.approx(0.0)
    assert buckets["net_inr/expiry/2025-01-30"] == pytest.approx(0.0)
    assert buckets["net_inr/strategy/ema_cross"] == pytest.approx(two_lots_inr)
    assert buckets["net_inr/strategy/range_breakout"] == pytest.approx(-two_lots_inr)
    assert exposure.greeks["NIFTY"].delta_units == pytest.approx(0.0)


def test_sectors_group_underlyings() -> None:
    book = [Position(NIFTY_FUT, 1), Position(BANK_FUT, -1)]
    buckets = exposure_of(book, CONTEXT).buckets()
    assert buckets["net_inr/sector/index"] == pytest.approx(LOT * F)
    assert buckets["net_inr/sector/financials"] == pytest.approx(-BANK_LOT * BANK_F)


def test_order_adds_its_notional_and_delta_to_the_book() -> None:
    book = [Position(NIFTY_FUT, 1, "ema_cross")]
    after = exposure_after(book, Position(NIFTY_FUT, 2, "ema_cross"), CONTEXT)
    assert after.buckets()["net_inr/strategy/ema_cross"] == pytest.approx(3 * LOT * F)
    assert after.greeks["NIFTY"].delta_units == pytest.approx(3 * LOT)
    assert after.greeks["NIFTY"].delta_inr == pytest.approx(3 * LOT * F)
    assert book == [Position(NIFTY_FUT, 1, "ema_cross")]  # the book itself is untouched


def test_closing_order_removes_the_bucket() -> None:
    book = [Position(NIFTY_FUT, 1, "ema_cross")]
    after = exposure_after(book, Position(NIFTY_FUT, -1, "ema_cross"), CONTEXT)
    assert after.buckets() == {}


@pytest.mark.parametrize("kind", ["call", "put"])
def test_option_delta_is_black_76_delta_in_units(kind: str) -> None:
    strike = 23_000.0
    t = (JAN - TODAY).days / 365
    greeks = exposure_of([Position(nifty_option(kind, strike), 2)], CONTEXT).greeks["NIFTY"]
    expected_units = 2 * LOT * hand_delta(kind, F, strike, t, VOL, RATE)
    assert greeks.delta_units == pytest.approx(expected_units, rel=1e-12)
    assert greeks.delta_inr == pytest.approx(expected_units * F, rel=1e-12)
    assert (greeks.delta_units > 0) == (kind == "call")


def test_short_straddle_has_negative_gamma_and_vega_in_inr_per_vol_point() -> None:
    strike = 23_500.0
    t = (JAN - TODAY).days / 365
    book = [Position(nifty_option("call", strike), -1), Position(nifty_option("put", strike), -1)]
    greeks = exposure_of(book, CONTEXT).greeks["NIFTY"]
    d1 = (math.log(F / strike) + VOL**2 * t / 2) / (VOL * math.sqrt(t))
    vega_per_point = math.exp(-RATE * t) * F * norm.pdf(d1) * math.sqrt(t) / 100
    gamma = math.exp(-RATE * t) * norm.pdf(d1) / (F * VOL * math.sqrt(t))
    assert greeks.vega_inr_per_vol_pt == pytest.approx(-2 * LOT * vega_per_point, rel=1e-12)
    assert greeks.gamma_units_per_point == pytest.approx(-2 * LOT * gamma, rel=1e-12)


def test_option_on_its_expiry_day_has_finite_greeks() -> None:
    held = [Position(nifty_option("call", 23_500.0, expiry=TODAY), -1)]
    greeks = exposure_of(held, CONTEXT).greeks["NIFTY"]
    values = [greeks.delta_units, greeks.gamma_units_per_point, greeks.vega_inr_per_vol_pt]
    assert all(np.isfinite(values))
    assert greeks.gamma_units_per_point < 0.0


# --- caps ----------------------------------------------------------------------------------


def test_cap_equal_to_the_value_passes() -> None:
    exposure = exposure_of([Position(NIFTY_FUT, 2, "ema_cross")], CONTEXT)
    value = exposure.buckets()["gross_inr/strategy/ema_cross"]
    assert exposure_violations(exposure, {"gross_inr/strategy/ema_cross": value}) == []


def test_cap_just_below_the_value_fails_naming_bucket_value_and_cap() -> None:
    exposure = exposure_of([Position(NIFTY_FUT, 2, "ema_cross")], CONTEXT)
    value = exposure.buckets()["gross_inr/strategy/ema_cross"]
    cap = float(np.nextafter(value, 0.0))
    assert exposure_violations(exposure, {"gross_inr/strategy/ema_cross": cap}) == [
        CapViolation("gross_inr/strategy/ema_cross", value, cap)
    ]


def test_net_cap_applies_to_the_absolute_value_of_a_short() -> None:
    exposure = exposure_of([Position(NIFTY_FUT, -1)], CONTEXT)
    violations = exposure_violations(exposure, {"net_inr/underlying/NIFTY": LOT * F - 1})
    assert [v.bucket for v in violations] == ["net_inr/underlying/NIFTY"]
    assert violations[0].value == pytest.approx(-LOT * F)


def test_wildcard_cap_covers_every_name_and_a_named_cap_overrides_it() -> None:
    book = [Position(NIFTY_FUT, 1, "ema_cross"), Position(NIFTY_FUT, 3, "range_breakout")]
    exposure = exposure_of(book, CONTEXT)
    caps = {"gross_inr/strategy/*": 2 * LOT * F, "gross_inr/strategy/range_breakout": 4 * LOT * F}
    assert exposure_violations(exposure, caps) == []
    caps["gross_inr/strategy/range_breakout"] = 2 * LOT * F
    assert [v.bucket for v in exposure_violations(exposure, caps)] == [
        "gross_inr/strategy/range_breakout"
    ]


def test_greeks_cap_on_delta_units() -> None:
    exposure = exposure_of([Position(NIFTY_FUT, 3)], CONTEXT)
    caps = {"delta_units/underlying/*": 200.0}
    assert exposure_violations(exposure, caps) == [
        CapViolation("delta_units/underlying/NIFTY", 225.0, 200.0)
    ]


def test_cap_on_a_bucket_not_held_is_met() -> None:
    exposure = exposure_of([Position(NIFTY_FUT, 1)], CONTEXT)
    assert exposure_violations(exposure, {"gross_inr/symbol/BANKNIFTY25JANFUT": 0.0}) == []


@pytest.mark.parametrize("key", ["gross_inr/strategy", "gross/strategy/x", "delta_units/sector/x",
                                 "net_inr/strategy/"])
def test_malformed_cap_key_raises_naming_it(key: str) -> None:
    exposure = exposure_of([Position(NIFTY_FUT, 1)], CONTEXT)
    with pytest.raises(ExposureInputError, match="cap key"):
        exposure_violations(exposure, {key: 1.0})


@pytest.mark.parametrize("cap", [-1.0, math.nan, math.inf])
def test_negative_or_non_finite_cap_raises(cap: float) -> None:
    exposure = exposure_of([Position(NIFTY_FUT, 1)], CONTEXT)
    with pytest.raises(ExposureInputError, match="gross_inr/symbol/NIFTY25JANFUT"):
        exposure_violations(exposure, {"gross_inr/symbol/NIFTY25JANFUT": cap})


# --- inputs --------------------------------------------------------------------------------


def test_underlying_without_a_sector_raises() -> None:
    context = ExposureContext(market=CONTEXT.market, today=TODAY,
                              sector_by_underlying={"NIFTY": "index"}, rate=RATE)
    with pytest.raises(ExposureInputError, match="BANKNIFTY"):
        exposure_of([Position(BANK_FUT, 1)], context)


def test_nan_futures_price_raises() -> None:
    context = ExposureContext(market={"NIFTY": (math.nan, VOL)}, today=TODAY,
                              sector_by_underlying={"NIFTY": "index"}, rate=RATE)
    with pytest.raises(ExposureInputError, match="futures price"):
        exposure_of([Position(NIFTY_FUT, 1)], context)


def test_expired_option_raises() -> None:
    old = nifty_option("call", 23_000.0, expiry=date(2025, 1, 2))
    with pytest.raises(ExposureInputError, match="expired"):
        exposure_of([Position(old, 1)], CONTEXT)
