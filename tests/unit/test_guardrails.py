"""Guardrails: trigger keys journaled with the action and read back by a restart; the
daily loss and drawdown measured on P&L net of the cost model."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from live.broker import Side
from live.events import OrderFilled
from live.risk.guardrails import (
    SESSION_LOCK,
    GuardAction,
    Guardrails,
    GuardrailsConfigError,
    fired_key,
)
from live.risk.limits import load_risk_limits
from live.state import LiveState
from strategies.costs import CostRates, load_cost_rates, order_cost_breakdown
from tests.unit.test_pretrade import LOT, T0, _intend


def test_journaled_reason_ends_with_the_trigger_key_and_reads_back() -> None:
    action = GuardAction("kill", "ema_cross", "flatten", f"{SESSION_LOCK}: drawdown 5%",
                         "guard:hard:ema_cross")
    assert action.journaled_reason.startswith(SESSION_LOCK)  # lockouts still recognised
    assert fired_key(action.journaled_reason) == "guard:hard:ema_cross"


def test_a_desk_reason_with_brackets_is_no_trigger_key() -> None:
    assert fired_key("K12: halt [desk] per risk officer") is None


# --- P&L net of the cost model ------------------------------------------------------------



LIMITS = load_risk_limits(Path(__file__).resolve().parents[2] / "risk.yaml")
ZERO = CostRates(version="zero", instrument="index_future", brokerage_per_order_inr=0.0,
                 brokerage_cap_frac=0.0, stt_sell_frac=0.0, exchange_txn_frac=0.0,
                 sebi_fee_per_crore_inr=0.0, stamp_buy_frac=0.0, gst_frac=0.0)
BUY_AT, SELL_AT = 24_000.0, 23_603.0  # 2 lots: a gross loss of 397 x 150 = 59,550 INR


def _fill(state: LiveState, guard: Guardrails, key: str, side: Side, price: float) -> None:
    _intend(state, key, side=side, qty=2 * LOT)
    fill = OrderFilled(trace_id=f"t-{key}", ts_event=T0, client_key=key,
                       broker_order_id=f"b-{key}", trade_id=f"x-{key}", symbol="NIFTY",
                       side=side, qty=2 * LOT, price=price)
    state.apply(fill)
    guard.note_fill("ema_cross", fill)
    guard.note_fill("ema_cross", fill)  # the same trade again (at-least-once): counted once


def _session(rates: CostRates) -> tuple[LiveState, list[GuardAction]]:
    state = LiveState()
    guard = Guardrails(LIMITS, {"ema_cross": 10_000_000.0}, costs={"ema_cross": rates})
    guard.new_session(date(2025, 1, 6), state)
    _fill(state, guard, "in", Side.BUY, BUY_AT)
    _fill(state, guard, "out", Side.SELL, SELL_AT)
    return state, guard.on_bar(state, {"NIFTY": SELL_AT}, {})


def test_daily_loss_limit_trips_on_the_loss_net_of_costs() -> None:
    rates = load_cost_rates()
    limit = LIMITS.kill_switch.max_strategy_daily_loss_inr
    charges = sum(order_cost_breakdown(rates, is_buy=buy, notional_inr=2 * LOT * price
                                       ).total_inr for buy, price in ((True, BUY_AT),
                                                                      (False, SELL_AT)))
    state, actions = _session(rates)
    gross = state.stats["ema_cross"].realised_pnl_inr
    assert -gross < limit <= -gross + charges  # above the limit gross, below it net
    kills = [a for a in actions if a.key == "guard:loss:ema_cross"]
    assert len(kills) == 1 and "net of costs" in kills[0].reason


def test_the_same_session_gross_of_costs_would_not_trip() -> None:
    _, actions = _session(ZERO)
    assert not [a for a in actions if a.key == "guard:loss:ema_cross"]


def test_guardrails_refuse_a_strategy_without_cost_rates() -> None:
    with pytest.raises(GuardrailsConfigError, match="ema_cross"):
        Guardrails(LIMITS, {"ema_cross": 1_000_000.0}, costs={})
