"""SPAN-like margin: the scenario table, futures and options requirements, parameters file,
and the pre-trade margin check."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from live.risk.margin import (
    RISK_SCENARIOS,
    Instrument,
    MarginInputError,
    MarginParams,
    MarginParamsError,
    Position,
    apply_change,
    load_margin_params,
    margin_required,
    post_trade_margin_ok,
)

TODAY = date(2025, 1, 6)
JAN = date(2025, 1, 30)
FEB = date(2025, 2, 27)
F, VOL = 23_500.0, 0.14
MARKET = {"NIFTY": (F, VOL)}
LOT = 75
PSR, EXPOSURE, SOMC, RATE = 0.093, 0.02, 0.03, 0.065  # the 2025-01-01 file, as fractions


@pytest.fixture(scope="module")
def params(repo_root: Path) -> MarginParams:
    return load_margin_params(repo_root / "live/risk/margin_params/2025-01-01.yaml")


def future(expiry: date = JAN, underlying: str = "NIFTY", lot: int = LOT) -> Instrument:
    return Instrument(symbol=f"{underlying}{expiry:%y%b}FUT".upper(), underlying=underlying,
                      kind="future", expiry=expiry, lot_size=lot)


def option(kind: str, strike: float, expiry: date = JAN) -> Instrument:
    suffix = "CE" if kind == "call" else "PE"
    return Instrument(symbol=f"NIFTY{expiry:%y%b}{strike:.0f}{suffix}".upper(),
                      underlying="NIFTY", kind=kind, expiry=expiry, lot_size=LOT,  # type: ignore[arg-type]
                      strike=strike)


def hand_black76(kind: str, f: float, k: float, t: float, s: float, r: float) -> float:
    """Black (1976), written out independently of live.risk.black76."""
    d1 = (math.log(f / k) + s * s * t / 2) / (s * math.sqrt(t))
    d2 = d1 - s * math.sqrt(t)
    if kind == "call":
        return math.exp(-r * t) * (f * norm.cdf(d1) - k * norm.cdf(d2))
    return math.exp(-r * t) * (k * norm.cdf(-d2) - f * norm.cdf(-d1))


# --- the scenario table --------------------------------------------------------------------


def test_scenario_table_is_the_16_span_scenarios_with_their_weights() -> None:
    third = 1 / 3
    expected = [
        (0, +1, 1.0), (0, -1, 1.0),
        (+third, +1, 1.0), (+third, -1, 1.0), (-third, +1, 1.0), (-third, -1, 1.0),
        (+2 * third, +1, 1.0), (+2 * third, -1, 1.0), (-2 * third, +1, 1.0),
        (-2 * third, -1, 1.0),
        (+1, +1, 1.0), (+1, -1, 1.0), (-1, +1, 1.0), (-1, -1, 1.0),
        (+2, 0, 0.35), (-2, 0, 0.35),
    ]
    assert [s.number for s in RISK_SCENARIOS] == list(range(1, 17))
    got = [(s.price_move_scan_multiple, s.vol_move_scan_multiple, s.loss_weight)
           for s in RISK_SCENARIOS]
    assert len(got) == 16
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want)


# --- futures -------------------------------------------------------------------------------


def test_single_long_future_margin_is_scan_range_plus_exposure(params: MarginParams) -> None:
    notional_inr = LOT * F
    breakdown = margin_required([Position(future(), 1)], MARKET, params, TODAY)
    assert breakdown.scan_risk_inr == pytest.approx(PSR * notional_inr)
    assert breakdown.exposure_inr == pytest.approx(EXPOSURE * notional_inr)
    assert breakdown.total_inr == pytest.approx((PSR + EXPOSURE) * notional_inr)
    assert breakdown.nov_inr == 0.0
    assert breakdown.worst_scenario == {"NIFTY": 13}  # price down 3/3 (ties 14, first wins)


def test_short_future_worst_scenario_is_the_full_up_move(params: MarginParams) -> None:
    breakdown = margin_required([Position(future(), -2)], MARKET, params, TODAY)
    assert breakdown.worst_scenario == {"NIFTY": 11}
    assert breakdown.scan_risk_inr == pytest.approx(PSR * 2 * LOT * F)


def test_long_and_short_future_in_two_months_have_zero_scan_risk(params: MarginParams) -> None:
    book = [Position(future(JAN), 1), Position(future(FEB), -1)]
    breakdown = margin_required(book, MARKET, params, TODAY)
    assert breakdown.scan_risk_inr == pytest.approx(0.0, abs=1e-6)
    # exposure margin is on gross open positions: both legs pay it
    assert breakdown.exposure_inr == pytest.approx(EXPOSURE * 2 * LOT * F)


def test_margin_adds_up_across_underlyings(params: MarginParams) -> None:
    market = {"NIFTY": (F, VOL), "BANKNIFTY": (51_000.0, 0.16)}
    nifty = Position(future(), 1)
    bank = Position(future(underlying="BANKNIFTY", lot=30), -1)
    both = margin_required([nifty, bank], market, params, TODAY)
    alone = [margin_required([p], market, params, TODAY).total_inr for p in (nifty, bank)]
    assert both.total_inr == pytest.approx(sum(alone))
    assert set(both.by_underlying) == {"NIFTY", "BANKNIFTY"}


# --- options -------------------------------------------------------------------------------


def test_long_call_needs_no_margin_beyond_its_premium(params: MarginParams) -> None:
    breakdown = margin_required([Position(option("call", 23_500.0), 2)], MARKET, params, TODAY)
    assert 0.0 < breakdown.scan_risk_inr <= breakdown.nov_inr
    assert breakdown.exposure_inr == 0.0
    assert breakdown.total_inr == 0.0


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["call", "put"]), strike=st.floats(18_000.0, 29_000.0),
       vol=st.floats(0.05, 0.6), lots=st.integers(1, 20))
def test_long_option_margin_is_always_zero(
    params: MarginParams, kind: str, strike: float, vol: float, lots: int
) -> None:
    held = [Position(option(kind, round(strike, -2)), lots)]
    assert margin_required(held, {"NIFTY": (F, vol)}, params, TODAY).total_inr == 0.0


def test_short_straddle_scan_risk_is_worst_of_16_scenarios_by_hand(
    params: MarginParams,
) -> None:
    strike, t = 23_500.0, (JAN - TODAY).days / 365
    book = [Position(option("call", strike), -1), Position(option("put", strike), -1)]
    price_scan = PSR * F
    vol_scan = max(0.25 * VOL, 0.04)  # 25 % of vol, at least 4 vol points -> 0.04 here
    moves = [(0, 1, 1), (0, -1, 1), (1, 1, 1), (1, -1, 1), (-1, 1, 1), (-1, -1, 1),
             (2, 1, 1), (2, -1, 1), (-2, 1, 1), (-2, -1, 1), (3, 1, 1), (3, -1, 1),
             (-3, 1, 1), (-3, -1, 1), (6, 0, 0.35), (-6, 0, 0.35)]  # price in thirds

    def straddle(f: float, s: float) -> float:
        return sum(hand_black76(k, f, strike, t, s, RATE) for k in ("call", "put"))

    now = straddle(F, VOL)
    losses = [w * LOT * (straddle(F + thirds / 3 * price_scan, VOL + v * vol_scan) - now)
              for thirds, v, w in moves]
    breakdown = margin_required(book, MARKET, params, TODAY)
    nifty = breakdown.by_underlying["NIFTY"]
    assert nifty.scenario_losses_inr == pytest.approx(losses, rel=1e-9)
    assert breakdown.scan_risk_inr == pytest.approx(max(losses), rel=1e-9)
    assert breakdown.worst_scenario["NIFTY"] == losses.index(max(losses)) + 1
    assert breakdown.nov_inr == pytest.approx(-LOT * now, rel=1e-9)
    assert breakdown.short_option_min_inr == pytest.approx(SOMC * 2 * LOT * F)
    expected_total = (max(max(losses), SOMC * 2 * LOT * F) + LOT * now
                      + EXPOSURE * 2 * LOT * F)
    assert breakdown.total_inr == pytest.approx(expected_total, rel=1e-9)


def test_far_out_of_the_money_short_call_pays_the_short_option_minimum(
    params: MarginParams,
) -> None:
    breakdown = margin_required([Position(option("call", 32_000.0), -1)], MARKET, params, TODAY)
    somc_inr = SOMC * LOT * F
    assert breakdown.scan_risk_inr < somc_inr
    assert breakdown.short_option_min_inr == pytest.approx(somc_inr)
    expected = somc_inr - breakdown.nov_inr + EXPOSURE * LOT * F
    assert breakdown.total_inr == pytest.approx(expected)


def test_short_option_on_its_expiry_day_pays_the_extra_exposure(params: MarginParams) -> None:
    short_put = [Position(option("put", 23_000.0, expiry=TODAY), -1)]
    breakdown = margin_required(short_put, MARKET, params, TODAY)
    assert breakdown.exposure_inr == pytest.approx((EXPOSURE + 0.02) * LOT * F)
    assert breakdown.nov_inr == 0.0  # out of the money at intrinsic value on expiry day


# --- inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("market", [{"NIFTY": (math.nan, VOL)}, {"NIFTY": (F, math.nan)},
                                    {"NIFTY": (-1.0, VOL)}, {"NIFTY": (F, 0.0)}])
def test_nan_or_non_positive_market_data_raises(
    params: MarginParams, market: dict[str, tuple[float, float]]
) -> None:
    with pytest.raises(MarginInputError, match="NIFTY"):
        margin_required([Position(future(), 1)], market, params, TODAY)


def test_missing_market_data_raises(params: MarginParams) -> None:
    with pytest.raises(MarginInputError, match="no market data"):
        margin_required([Position(future(), 1)], {"BANKNIFTY": (F, VOL)}, params, TODAY)


def test_underlying_without_parameters_raises_at_use(params: MarginParams) -> None:
    sensex = Instrument(symbol="SENSEX25JANFUT", underlying="SENSEX", kind="future",
                        expiry=JAN, lot_size=20)
    with pytest.raises(MarginInputError, match="SENSEX"):
        margin_required([Position(sensex, 1)], {"SENSEX": (77_000.0, 0.13)}, params, TODAY)


def test_expired_instrument_raises(params: MarginParams) -> None:
    with pytest.raises(MarginInputError, match="expired"):
        margin_required([Position(future(date(2025, 1, 2)), 1)], MARKET, params, TODAY)


def test_date_before_the_parameters_take_effect_raises(params: MarginParams) -> None:
    with pytest.raises(MarginInputError, match="2025-01-01"):
        margin_required([Position(future(), 1)], MARKET, params, date(2024, 12, 31))


def test_future_with_a_strike_or_option_without_one_is_refused() -> None:
    with pytest.raises(MarginInputError, match="strike"):
        Instrument(symbol="X", underlying="NIFTY", kind="future", expiry=JAN, lot_size=LOT,
                   strike=23_000.0)
    with pytest.raises(MarginInputError, match="strike"):
        Instrument(symbol="Y", underlying="NIFTY", kind="call", expiry=JAN, lot_size=LOT)


# --- parameters file -----------------------------------------------------------------------


def test_parameters_load_as_fractions(params: MarginParams) -> None:
    nifty = params.for_underlying("NIFTY")
    assert params.effective_from == date(2025, 1, 1)
    assert params.discount_rate == pytest.approx(RATE)
    assert nifty.price_scan_range_frac == pytest.approx(PSR)
    assert nifty.vol_scan_range(0.10) == pytest.approx(0.04)  # the 4 vol point floor
    assert nifty.vol_scan_range(0.40) == pytest.approx(0.10)  # 25 % of the vol


def _write(tmp_path: Path, name: str, body: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _valid_body(repo_root: Path) -> dict:
    source = repo_root / "live/risk/margin_params/2025-01-01.yaml"
    return yaml.safe_load(source.read_text(encoding="utf-8"))


def test_parameters_file_named_unlike_its_effective_date_is_refused(
    tmp_path: Path, repo_root: Path
) -> None:
    path = _write(tmp_path, "2025-02-01.yaml", _valid_body(repo_root))
    with pytest.raises(MarginParamsError, match="2025-01-01"):
        load_margin_params(path)


def test_parameters_file_with_unknown_field_is_refused(tmp_path: Path, repo_root: Path) -> None:
    body = _valid_body(repo_root)
    body["underlyings"]["NIFTY"]["price_scan_pct"] = 5.0
    with pytest.raises(MarginParamsError, match="price_scan_pct"):
        load_margin_params(_write(tmp_path, "2025-01-01.yaml", body))


def test_parameters_file_with_negative_percentage_is_refused(
    tmp_path: Path, repo_root: Path
) -> None:
    body = _valid_body(repo_root)
    body["underlyings"]["NIFTY"]["exposure_margin_pct"] = -2.0
    with pytest.raises(MarginParamsError, match="exposure_margin_pct"):
        load_margin_params(_write(tmp_path, "2025-01-01.yaml", body))


def test_missing_parameters_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MarginParamsError, match="cannot read"):
        load_margin_params(tmp_path / "2025-01-01.yaml")


# --- positions and the pre-trade check -----------------------------------------------------


def test_apply_change_nets_per_instrument_and_strategy_and_drops_flat() -> None:
    book = (Position(future(), 2, "ema_cross"), Position(future(), 1, "range_breakout"))
    after = apply_change(book, Position(future(), -2, "ema_cross"))
    assert after == (Position(future(), 1, "range_breakout"),)
    assert book[0].qty_lots == 2  # inputs untouched


def test_order_within_capital_passes_and_one_above_is_denied(params: MarginParams) -> None:
    one_lot_inr = (PSR + EXPOSURE) * LOT * F
    book = [Position(future(), 1)]
    ok = post_trade_margin_ok(book, Position(future(), 1), MARKET, params, 2 * one_lot_inr + 1,
                              TODAY)
    denied = post_trade_margin_ok(book, Position(future(), 1), MARKET, params,
                                  2 * one_lot_inr - 1, TODAY)
    assert ok.ok and ok.required_inr == pytest.approx(2 * one_lot_inr)
    assert not denied.ok and denied.available_inr == pytest.approx(2 * one_lot_inr - 1)


def test_closing_order_frees_margin(params: MarginParams) -> None:
    check = post_trade_margin_ok([Position(future(), 1)], Position(future(), -1), MARKET,
                                 params, 0.0, TODAY)
    assert check == (True, 0.0, 0.0)


def test_option_buy_is_denied_without_capital_for_its_premium(params: MarginParams) -> None:
    call = option("call", 23_500.0)
    premium_inr = LOT * hand_black76("call", F, 23_500.0, (JAN - TODAY).days / 365, VOL, RATE)
    short = post_trade_margin_ok([], Position(call, 1), MARKET, params, premium_inr - 1, TODAY)
    enough = post_trade_margin_ok([], Position(call, 1), MARKET, params, premium_inr + 1, TODAY)
    assert not short.ok and short.available_inr == pytest.approx(-1.0, abs=1e-6)
    assert enough.ok and enough.required_inr == 0.0


def test_non_finite_capital_raises(params: MarginParams) -> None:
    with pytest.raises(MarginInputError, match="available_capital_inr"):
        post_trade_margin_ok([], Position(future(), 1), MARKET, params, math.nan, TODAY)
