"""The execution rules written once (strategies/rules.py) and the three places that call them:
the bar simulator, the live runner's decisions and the paper exchange's parity fill model."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from live.adapters.paper import FillModel, FillModelError, PaperConfigError, PaperExchange
from live.adapters.paper import fill_model as paper_fill_model
from live.adapters.paper import store as paper_store
from live.db import make_engine
from live.runner import decisions
from live.runner.decisions import Rules, UnsupportedVersionError, check_supported
from strategies import rules, sim_kernel
from strategies.params import ParamError
from strategies.simulator import SimConfig

PRICES = st.integers(1_000, 3_000).map(lambda k: k * 0.05)  # on the 0.05 grid
SIDES = st.sampled_from([1.0, -1.0])


@st.composite
def bars(draw: st.DrawFn) -> tuple[float, float, float]:
    """(open, high, low) of a consistent bar."""
    o, a, b = draw(PRICES), draw(PRICES), draw(PRICES)
    return o, max(o, a, b), min(o, a, b)


# --- fills against a bar ----------------------------------------------------------------------


def test_stop_fill_sell_stop_gapped_through_fills_at_the_open() -> None:
    assert rules.stop_fill(-1.0, 95.0, 96.0, 94.0, 97.0) == 95.0


def test_stop_fill_sell_stop_touched_fills_at_the_trigger() -> None:
    assert rules.stop_fill(-1.0, 100.0, 101.0, 96.0, 97.0) == 97.0


def test_stop_fill_untouched_or_unset_is_nan() -> None:
    assert math.isnan(rules.stop_fill(1.0, 100.0, 101.0, 99.0, 102.0))
    assert math.isnan(rules.stop_fill(-1.0, 100.0, 101.0, 99.0, math.nan))


def test_limit_fill_buy_limit_gapped_through_fills_at_the_better_open() -> None:
    assert rules.limit_fill(1.0, 95.0, 96.0, 94.0, 97.0) == 95.0


def test_limit_fill_sell_limit_touched_fills_at_the_limit() -> None:
    assert rules.limit_fill(-1.0, 100.0, 103.5, 99.0, 103.0) == 103.0


@given(bar=bars(), trigger=PRICES, order_side=SIDES)
def test_stop_fill_equals_the_exchange_form_on_every_consistent_bar(
        bar: tuple[float, float, float], trigger: float, order_side: float) -> None:
    """The simulator's gap-first form and an exchange's form (reached -> the worse of the
    open and the trigger) are one rule on a consistent bar."""
    o, h, lo = bar
    if order_side > 0:
        exchange = max(o, trigger) if h >= trigger else None
    else:
        exchange = min(o, trigger) if lo <= trigger else None
    price = rules.stop_fill(order_side, o, h, lo, trigger)
    assert (None if math.isnan(price) else price) == exchange


@given(bar=bars(), limit=PRICES, order_side=SIDES)
def test_limit_fill_equals_the_exchange_form_on_every_consistent_bar(
        bar: tuple[float, float, float], limit: float, order_side: float) -> None:
    o, h, lo = bar
    if order_side > 0:
        exchange = min(o, limit) if lo <= limit else None
    else:
        exchange = max(o, limit) if h >= limit else None
    price = rules.limit_fill(order_side, o, h, lo, limit)
    assert (None if math.isnan(price) else price) == exchange


def test_exit_fill_bar_touching_stop_and_target_exits_at_the_stop() -> None:
    assert rules.exit_fill(1.0, 100.0, 106.0, 96.0, 97.0, rules.R_STOP, 105.0) == (
        97.0, rules.R_STOP)


def test_exit_fill_short_target_touched_fills_at_the_target() -> None:
    assert rules.exit_fill(-1.0, 100.0, 101.0, 94.0, 103.0, rules.R_TRAIL, 95.0) == (
        95.0, rules.R_TARGET)


def test_slipped_moves_the_price_against_the_order() -> None:
    assert (rules.slipped(100.0, 1.0, 0.1), rules.slipped(100.0, -1.0, 0.1)) == (100.1, 99.9)


# --- the decision at a close ------------------------------------------------------------------


def test_decide_long_only_takes_no_short_entry_but_still_exits_the_long() -> None:
    assert rules.decide(1.0, False, False, True, False, 1.0) == (True, 0.0)


def test_decide_short_only_takes_short_entries() -> None:
    assert rules.decide(0.0, False, False, True, False, -1.0) == (False, -1.0)


@pytest.mark.parametrize(("today", "cap", "room"), [(0, 0, True), (5, 0, True), (1, 2, True),
                                                     (2, 2, False)])
def test_room_for_entry_counts_against_the_daily_cap(today: int, cap: int, room: bool) -> None:
    assert rules.room_for_entry(float(today), float(cap)) is room


# --- one path: the three callers use these very functions -------------------------------------


def test_simulator_runner_and_paper_exchange_call_the_shared_rules() -> None:
    assert sim_kernel.decide is rules.decide and decisions.decide_side is rules.decide
    assert sim_kernel.exit_fill is rules.exit_fill
    assert paper_fill_model.stop_fill is rules.stop_fill
    assert paper_fill_model.limit_fill is rules.limit_fill
    assert sim_kernel.slipped is rules.slipped is paper_fill_model.slipped
    assert decisions.entry_levels is sim_kernel.entry_levels is rules.entry_levels
    for copy in ("_decide", "_stop_exit", "_entry_levels", "_trail_level", "_stop_level"):
        assert not hasattr(sim_kernel, copy) and not hasattr(decisions, copy)


# --- one config: SimConfig validates a version's sim for the runner ---------------------------


def test_check_supported_returns_the_validated_sim_config() -> None:
    config = check_supported({"qty_lots": 2, "lot_size": 75, "stop_points": 20})
    assert config == SimConfig(qty_lots=2, lot_size=75, stop_points=20.0)
    assert isinstance(config.stop_points, float)


def test_check_supported_accepts_the_sim_a_registered_version_carries() -> None:
    sim = {k: v for k, v in asdict(SimConfig(lot_size=75, trail_frac=0.002)).items()
           if k != "costs"}
    check_supported({**sim, "cost_schedule": "2024-10-01"})


def test_check_supported_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(UnsupportedVersionError, match="stop_pionts"):
        check_supported({"stop_pionts": 20.0})


def test_check_supported_bad_tick_size_is_refused_naming_it() -> None:
    with pytest.raises(UnsupportedVersionError, match=r"sim\.tick_size=0"):
        check_supported({"tick_size": 0})


def test_sim_config_from_mapping_whole_number_for_an_int_field_only() -> None:
    assert SimConfig.from_mapping({"qty_lots": 2.0}).qty_lots == 2
    with pytest.raises(ParamError, match=r"^sim.qty_lots=2.5"):
        SimConfig.from_mapping({"qty_lots": 2.5})
    with pytest.raises(ParamError, match=r"^sim.round_levels='yes'"):
        SimConfig.from_mapping({"round_levels": "yes"})


def test_runner_rules_refuse_a_stop_given_twice() -> None:
    with pytest.raises(ParamError, match="stop_points and stop_frac are both set"):
        Rules(qty=1, max_trades_per_day=0, cutoff=None, bar=timedelta(minutes=1),
              tz="Asia/Kolkata", stop_points=2.0, stop_frac=0.01)


# --- the paper exchange's fill modes ----------------------------------------------------------


def test_fill_model_default_mode_is_parity() -> None:
    assert FillModel().mode == "parity"


def test_fill_model_unknown_mode_is_refused_with_the_modes_built() -> None:
    with pytest.raises(FillModelError, match=r"mode 'impact'.*\('parity', 'realism'\)"):
        FillModel(mode="impact")  # type: ignore[arg-type]


def _drop_mode_from_stored_model(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        text = conn.execute(sa.select(paper_store.config.c.value)
                            .where(paper_store.config.c.key == "fill_model")).scalar_one()
        old = {k: v for k, v in json.loads(text).items() if k != "mode"}
        conn.execute(paper_store.config.update().where(paper_store.config.c.key == "fill_model")
                     .values(value=json.dumps(old, sort_keys=True)))


def test_store_made_before_fill_modes_reopens_in_parity_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'paper.db'}")
    PaperExchange(engine, seed=1, fill_model=FillModel(slippage_ticks=2))
    _drop_mode_from_stored_model(engine)
    PaperExchange(engine, seed=1, fill_model=FillModel(slippage_ticks=2))
    with pytest.raises(PaperConfigError, match="slippage_ticks"):
        PaperExchange(engine, seed=1, fill_model=FillModel(slippage_ticks=1))
