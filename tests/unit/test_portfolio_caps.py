"""Portfolio caps at order time (VaR utilisation, margin, INR/sector/greeks exposure,
max_open_positions), each with the order's effect: the order that just passes and the one
that just fails, the boundary computed here from first principles; a cap that cannot be
computed, or a Kite margin answer that cannot be parsed, denies."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from live.adapters.kite.margins import KiteMargins
from live.governance.policy import Policy, load_policy
from live.risk.daily_history import DailyCloses
from live.risk.interface import RiskDecision
from live.risk.limits import RiskLimits, load_risk_limits
from live.risk.margin import load_margin_params
from live.risk.margin_source import MarginSource, PaperMargins
from live.risk.portfolio_caps import PortfolioCaps
from live.risk.pretrade import PreTradeRiskEngine
from live.state import LiveState
from tests.unit.test_pretrade import LIMITS, LOT, NIFTY, POLICY, T0, _hold, _proposal, _state

PARAMS = Path(__file__).resolve().parents[2] / "live/risk/margin_params/2025-01-01.yaml"
SCAN_PLUS_EXPOSURE = 0.093 + 0.02  # a future's SPAN-like margin: the 3/3 scan move + ELM
HISTORY_DAYS = 160
SEED = 20250106


def _closes(days: int = HISTORY_DAYS, seed: int = SEED) -> pd.DataFrame:
    """Seeded daily closes of NIFTY and BANKNIFTY for the business days before T0."""
    rng = np.random.default_rng(seed)
    index = [d.date() for d in pd.bdate_range(end=T0.date() - timedelta(days=1),
                                              periods=days)]
    moves = rng.normal(0.0, 0.01, size=(days, 2))
    closes = np.array([24_000.0, 51_000.0]) * np.cumprod(1.0 + moves, axis=0)
    return pd.DataFrame(closes, index=index, columns=["NIFTY", "BANKNIFTY"])


def _limits(tmp_path: Path, **sections: Any) -> RiskLimits:
    raw = copy.deepcopy(LIMITS)
    for dotted, value in sections.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_risk_limits(path)


def _policy(tmp_path: Path, max_open_positions: int = 1) -> Policy:
    raw = copy.deepcopy(POLICY)
    raw["strategies"]["defaults"]["max_open_positions"] = max_open_positions
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_policy(path)


def _engine(limits: RiskLimits, policy: Policy, *, capital: float = 5_000_000.0,
            margins: MarginSource | None = None, history: pd.DataFrame | None = None
            ) -> PreTradeRiskEngine:
    caps = PortfolioCaps(limits, policy, history=DailyCloses(_closes() if history is None
                                                            else history),
                         margins=margins or PaperMargins(load_margin_params(PARAMS), capital))
    return PreTradeRiskEngine(limits, policy, caps=caps)


def _denied_by(decision: RiskDecision, check: str) -> None:
    assert (decision.passed, decision.check) == (False, check), decision.reason


def _passes(decision: RiskDecision) -> None:
    assert decision.passed, f"{decision.check}: {decision.reason}"


def _at(price: float, lots: int = 2, **changes: Any) -> tuple[Any, LiveState]:
    """An entry of ``lots`` NIFTY lots at ``price`` and a state whose last trade is it."""
    return _proposal(qty=lots * LOT, reference_price=price, **changes), \
        _state(bars={"NIFTY": price, "BANKNIFTY": 51_000.0})


# --- max_open_positions --------------------------------------------------------------------


@pytest.mark.parametrize(("cap", "passed"), [(2, True), (1, False)])
def test_max_open_positions_the_order_opening_one_more(tmp_path: Path, cap: int,
                                                       passed: bool) -> None:
    engine = _engine(_limits(tmp_path), _policy(tmp_path, cap))
    proposal = _proposal(qty=LOT, symbol="BANKNIFTY", reference_price=51_000.0)
    state = _state(bars={"NIFTY": NIFTY, "BANKNIFTY": 51_000.0})
    _hold(state, 1)  # one position open (NIFTY); BANKNIFTY would be the second
    decision = engine.check(proposal, state)
    if passed:
        _passes(decision)
    else:
        _denied_by(decision, "max_open_positions")
        assert "max_open_positions=1" in decision.reason


def test_max_open_positions_counts_a_working_entry_as_open(tmp_path: Path) -> None:
    from tests.unit.test_pretrade import _intend

    engine = _engine(_limits(tmp_path), _policy(tmp_path, 1))
    state = _state(bars={"NIFTY": NIFTY, "BANKNIFTY": 51_000.0})
    _intend(state, "w1")  # a NIFTY entry not filled yet
    decision = engine.check(_proposal(qty=LOT, symbol="BANKNIFTY",
                                      reference_price=51_000.0), state)
    _denied_by(decision, "max_open_positions")


def test_max_open_positions_adding_to_an_open_position_passes(tmp_path: Path) -> None:
    engine = _engine(_limits(tmp_path), _policy(tmp_path, 1))
    proposal, state = _at(NIFTY, lots=1)
    _hold(state, 1)
    _passes(engine.check(proposal, state))


# --- exposure ------------------------------------------------------------------------------

TWO_LOTS_INR = 2 * LOT * NIFTY  # the notional a 2-lot NIFTY entry at NIFTY adds


@pytest.mark.parametrize(("section", "value", "bucket"), [
    ("exposure__gross_inr__symbol", {"default": 30e6, "NIFTY": TWO_LOTS_INR},
     "gross_inr/underlying/NIFTY"),
    ("exposure__gross_inr__sector", {"default": TWO_LOTS_INR}, "gross_inr/sector/index"),
    ("exposure__gross_inr__strategy", {"default": TWO_LOTS_INR},
     "gross_inr/strategy/ema_cross"),
    ("exposure__gross_inr__expiry", TWO_LOTS_INR, "gross_inr/expiry/"),
])
@pytest.mark.parametrize(("price", "passed"), [(NIFTY, True), (NIFTY + 0.05, False)])
def test_inr_exposure_caps_with_the_order(tmp_path: Path, section: str, value: Any,
                                          bucket: str, price: float, passed: bool) -> None:
    small = {"default": min(TWO_LOTS_INR, 15e6)}  # net caps may not exceed gross ones
    limits = _limits(tmp_path, **{section: value, "exposure__net_inr__symbol": small,
                                  "exposure__net_inr__sector": small,
                                  "exposure__net_inr__strategy": small,
                                  "exposure__net_inr__expiry": small["default"]})
    proposal, state = _at(price)
    decision = _engine(limits, _policy(tmp_path)).check(proposal, state)
    if passed:
        _passes(decision)
    else:
        _denied_by(decision, "exposure")
        assert bucket in decision.reason


@pytest.mark.parametrize(("held_lots", "passed"), [(0, True), (1, False)])
def test_net_exposure_counts_the_book_before_the_order(tmp_path: Path, held_lots: int,
                                                       passed: bool) -> None:
    cap = 2 * LOT * NIFTY  # a 2-lot entry fits alone, not on top of a held lot
    limits = _limits(tmp_path, exposure__net_inr__strategy={"default": cap})
    proposal, state = _at(NIFTY)
    if held_lots:
        _hold(state, held_lots)
    decision = _engine(limits, _policy(tmp_path)).check(proposal, state)
    if passed:
        _passes(decision)
    else:
        _denied_by(decision, "exposure")
        assert "net_inr/strategy/ema_cross" in decision.reason


@pytest.mark.parametrize(("lots", "passed"), [(2, True), (3, False)])
def test_greeks_delta_cap_in_units(tmp_path: Path, lots: int, passed: bool) -> None:
    greeks = {"default": {"delta_units": 2 * LOT, "gamma_units_per_point": 50,
                          "vega_inr_per_vol_pt": 200_000}}  # a future's delta: its units
    decision = _engine(_limits(tmp_path, exposure__greeks=greeks), _policy(tmp_path)).check(
        *_at(NIFTY, lots=lots))
    if passed:
        _passes(decision)
    else:
        _denied_by(decision, "exposure")
        assert "delta_units/underlying/NIFTY" in decision.reason


# --- margin --------------------------------------------------------------------------------


@pytest.mark.parametrize(("price", "passed"), [(24_005.85, True), (24_006.0, False)])
def test_paper_margin_against_available_capital(tmp_path: Path, price: float,
                                                passed: bool) -> None:
    capital = 406_900.0
    # 2 lots of a future: 9.3 % scan + 2 % exposure margin of 150 x price; > capital above
    # price 24_005.9
    boundary = capital / (SCAN_PLUS_EXPOSURE * 2 * LOT)
    assert 24_005.85 < boundary < 24_006.0
    limits = _limits(tmp_path, portfolio__max_var_utilisation=1.0,
                     kill_switch__max_daily_loss_inr=100_000,
                     kill_switch__max_strategy_daily_loss_inr=60_000)
    decision = _engine(limits, _policy(tmp_path), capital=capital).check(*_at(price))
    if passed:
        _passes(decision)
    else:
        _denied_by(decision, "margin")


class FakeKite:
    """Answers ``order_margins`` and ``margins`` with given payloads (or raises one)."""

    def __init__(self, order: object, account: object) -> None:
        self.order, self.account = order, account
        self.asked: list[Any] = []
        self.balances = 0

    def order_margins(self, params: Any) -> Any:
        self.asked.append(params)
        if isinstance(self.order, Exception):
            raise self.order
        return self.order

    def margins(self, segment: str | None = None) -> Any:
        self.balances += 1
        if isinstance(self.account, Exception):
            raise self.account
        return self.account


@pytest.mark.parametrize(("available", "passed"), [(210_000.0, True), (209_999.99, False)])
def test_kite_margin_against_available_cash(tmp_path: Path, available: float,
                                            passed: bool) -> None:
    kite = FakeKite([{"type": "equity", "total": 210_000.0}],
                    {"equity": {"enabled": True, "net": available}})
    limits = _limits(tmp_path, portfolio__max_var_utilisation=1.0)  # VaR: its own test
    engine = _engine(limits, _policy(tmp_path), margins=KiteMargins(kite))
    decision = engine.check(*_at(NIFTY))
    assert kite.asked[0][0]["transaction_type"] == "BUY"
    assert kite.asked[0][0]["quantity"] == 2 * LOT
    assert (len(kite.asked), kite.balances) == (1, 1)  # one call each per check (rate limits)
    if passed:
        _passes(decision)
    else:
        _denied_by(decision, "margin")


@pytest.mark.parametrize(("order", "account"), [
    ([{"total": "210000"}], {"equity": {"net": 5e6}}),
    ([{"span": 1.0}], {"equity": {"net": 5e6}}),
    ([], {"equity": {"net": 5e6}}),
    ({"total": 1.0}, {"equity": {"net": 5e6}}),
    ([{"total": float("nan")}], {"equity": {"net": 5e6}}),
    ([{"total": -5.0}], {"equity": {"net": 5e6}}),
    ([{"total": 1.0}], {"equity": {"available": {"cash": 5e6}}}),
    ([{"total": 1.0}], "<html>502 Bad Gateway</html>"),
    ([{"total": 1.0}], {"equity": {"net": True}}),
])
def test_kite_margin_answer_that_cannot_be_parsed_denies(tmp_path: Path, order: object,
                                                          account: object) -> None:
    engine = _engine(_limits(tmp_path), _policy(tmp_path),
                     margins=KiteMargins(FakeKite(order, account)))
    decision = engine.check(*_at(NIFTY))
    _denied_by(decision, "margin")
    assert "cannot be parsed" in decision.reason


def test_kite_margin_call_that_fails_denies(tmp_path: Path) -> None:
    kite = FakeKite(TimeoutError("read timed out"), {"equity": {"net": 5e6}})
    engine = _engine(_limits(tmp_path), _policy(tmp_path), margins=KiteMargins(kite))
    decision = engine.check(*_at(NIFTY))
    _denied_by(decision, "margin")
    assert "order_margins failed: TimeoutError" in decision.reason


# --- VaR -----------------------------------------------------------------------------------


def _var_per_inr(closes: pd.DataFrame, confidence: float) -> float:
    """The 1-day historical VaR of 1 INR long NIFTY: the lower confidence-quantile of the
    loss sample (numpy's inverted CDF), from the closes' daily simple returns."""
    prices = closes["NIFTY"].to_numpy()
    losses = -(prices[1:] / prices[:-1] - 1.0)
    return float(np.quantile(losses, confidence, method="inverted_cdf"))


@pytest.mark.parametrize(("price", "passed"), [(NIFTY, True), (NIFTY + 0.05, False)])
def test_var_utilisation_of_the_book_after_the_order(tmp_path: Path, price: float,
                                                     passed: bool) -> None:
    capital = 5_000_000.0
    per_inr = _var_per_inr(_closes(), 0.99)
    # the cap sits between the VaR of 2 lots at NIFTY and at NIFTY + 0.05
    cap = 2 * LOT * (NIFTY + 0.02) * per_inr / capital
    limits = _limits(tmp_path, portfolio__max_var_utilisation=cap,
                     portfolio__var_confidence=0.99, portfolio__horizon_days=1,
                     portfolio__lookback_days=250)
    decision = _engine(limits, _policy(tmp_path), capital=capital).check(*_at(price))
    if passed:
        _passes(decision)
        assert "max_var_utilisation" in decision.reason
    else:
        _denied_by(decision, "max_var_utilisation")


def test_var_counts_working_orders_in_the_order_direction(tmp_path: Path) -> None:
    from tests.unit.test_pretrade import _intend

    per_inr = _var_per_inr(_closes(), 0.99)
    cap = 2 * LOT * (NIFTY + 0.02) * per_inr / 5_000_000.0  # 2 lots fit, 3 do not
    limits = _limits(tmp_path, portfolio__max_var_utilisation=cap)
    proposal, state = _at(NIFTY, lots=1)
    engine = _engine(limits, _policy(tmp_path, 2))
    _passes(engine.check(proposal, state))
    _intend(state, "w1", qty=2 * LOT)  # a working 2-lot buy: the 1-lot buy is the third
    _denied_by(engine.check(_proposal(qty=LOT, ts=T0 + timedelta(seconds=5),
                                      reference_ts=T0), state), "max_var_utilisation")


# --- fail closed ---------------------------------------------------------------------------


def test_too_little_history_denies(tmp_path: Path) -> None:
    engine = _engine(_limits(tmp_path), _policy(tmp_path), history=_closes(days=60))
    decision = engine.check(*_at(NIFTY))
    assert not decision.passed
    assert decision.check in ("exposure", "margin", "max_var_utilisation")
    assert "cannot be computed" in decision.reason and "too few" in decision.reason


def test_held_symbol_without_a_price_denies(tmp_path: Path) -> None:
    engine = _engine(_limits(tmp_path), _policy(tmp_path, 2))
    proposal = _proposal(qty=LOT)
    state = _state(bars={"NIFTY": NIFTY})  # no BANKNIFTY trade in state
    _hold(state, 1, symbol="BANKNIFTY")
    decision = engine.check(proposal, state)
    assert not decision.passed
    assert "cannot be computed" in decision.reason and "BANKNIFTY" in decision.reason


def test_history_with_a_bad_close_is_refused() -> None:
    closes = _closes()
    closes.iloc[3, 0] = float("nan")
    with pytest.raises(ValueError, match="NIFTY"):
        DailyCloses(closes)


def test_history_never_includes_the_trading_day() -> None:
    closes = _closes()
    today = closes.index[-1]
    returns = DailyCloses(closes).returns_before(["NIFTY"], today, 250)
    assert returns.index[-1] == closes.index[-2]


# --- reducing orders and the journaled pass ---------------------------------------------------


def test_reducing_order_is_not_held_by_the_caps(tmp_path: Path) -> None:
    limits = _limits(tmp_path, portfolio__max_var_utilisation=1e-6)
    proposal, state = _at(NIFTY, lots=1, side=-1, reduces_exposure=True)
    _hold(state, 2)
    _passes(_engine(limits, _policy(tmp_path)).check(proposal, state))


def test_a_passing_decision_lists_every_cap_evaluated(tmp_path: Path) -> None:
    decision = _engine(_limits(tmp_path), _policy(tmp_path)).check(*_at(NIFTY, lots=1))
    _passes(decision)
    for cap in ("max_open_positions 1/1", "exposure", "margin", "max_var_utilisation"):
        assert cap in decision.reason


def test_daily_closes_from_bars_take_each_day_last_close() -> None:
    ts = pd.to_datetime(["2025-01-02 09:15", "2025-01-02 15:29", "2025-01-03 15:29"]
                        ).tz_localize("Asia/Kolkata")
    frame = pd.DataFrame({"ts": ts, "symbol": "NIFTY", "close": [1.0, 2.0, 3.0]})
    closes = DailyCloses.from_bars(frame).closes
    assert closes["NIFTY"].to_dict() == {date(2025, 1, 2): 2.0, date(2025, 1, 3): 3.0}
