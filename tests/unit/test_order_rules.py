"""NSE and Kite order rules as data and pure functions (live/orders/): the ``orders:``
section of risk.yaml, the product of a version and of the policy, the MIS square-off
check, prices on the tick grid and in the band, market protection and freeze slicing; and
the paper exchange honouring market protection as Kite does."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, OrderState, OrderType, Side
from live.db import make_engine
from live.events import client_key
from live.governance.policy import PolicyConfigError, load_policy
from live.orders.prices import (
    OrderPriceError,
    PriceBand,
    band_around,
    fit_to_band,
    protection_price,
    round_to_tick,
)
from live.orders.products import mis_refusal
from live.orders.rules import OrderRules
from live.orders.slicing import SLICE_LEG_BASE, SliceError, replan, slice_key, slice_qty
from live.risk.limits import RiskLimitsError, load_risk_limits
from strategies.roster import STRATEGIES
from strategies.version_config import VersionConfig, VersionConfigError
from tests.unit.test_policy import BASE as POLICY_BASE
from tests.unit.test_risk_limits import BASE as RISK_BASE

# --- the orders section of risk.yaml ---------------------------------------------------------


def _risk(tmp_path: Path, orders: dict[str, Any]) -> Path:
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump({**copy.deepcopy(RISK_BASE), "orders": orders}))
    return path


def test_risk_yaml_repo_file_has_nse_freeze_quantities(repo_root: Path) -> None:
    limits = load_risk_limits(repo_root / "risk.yaml", {"NIFTY", "BANKNIFTY"})
    assert (limits.orders.freeze_for("NIFTY"), limits.orders.freeze_for("BANKNIFTY")) == (
        1800, 600)
    assert limits.orders.square_off_for("kite", "NFO") == time(15, 25)


def test_risk_yaml_without_orders_section_takes_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(RISK_BASE))
    assert load_risk_limits(path).orders == OrderRules()


@pytest.mark.parametrize(("orders", "match"), [
    ({"freeze_qty": {"NIFTY": 1800}}, r"orders\.freeze_qty: .*'default'"),
    ({"freeze_qty": {"default": 0}}, r"orders\.freeze_qty: .*>= 1 unit"),
    ({"market_protection_pct": 0}, r"orders\.market_protection_pct"),
    ({"market_protection_pct": 101}, r"orders\.market_protection_pct"),
    ({"mis_square_off": {"kite": {"NFO": 1525}}}, r"orders\.mis_square_off"),
    ({"lot_rule": 1}, r"orders\.lot_rule"),
])
def test_risk_yaml_bad_orders_section_is_refused_naming_the_field(
        tmp_path: Path, orders: dict[str, Any], match: str) -> None:
    with pytest.raises(RiskLimitsError, match=match):
        load_risk_limits(_risk(tmp_path, orders))


def test_risk_yaml_freeze_quantity_of_an_unknown_symbol_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RiskLimitsError, match=r"orders\.freeze_qty\.FINNIFTY"):
        load_risk_limits(_risk(tmp_path, {"freeze_qty": {"default": 1800, "FINNIFTY": 1800}}),
                         {"NIFTY", "BANKNIFTY"})


# --- product: version and policy --------------------------------------------------------------

MINIMAL: dict[str, Any] = {"strategy": "ema_cross", "params": {"fast": 9, "slow": 21},
                           "venue": "NSE"}


def test_version_config_without_product_trades_nrml() -> None:
    assert VersionConfig.from_json(MINIMAL).product == "NRML"


def test_version_config_mis_product_round_trips() -> None:
    config = VersionConfig.from_json({**MINIMAL, "product": "MIS"})
    assert VersionConfig.from_json(config.to_json()).product == "MIS"


@pytest.mark.parametrize("product", ["CNC", "mis", 1, None])
def test_version_config_unknown_product_is_refused_naming_it(product: object) -> None:
    with pytest.raises(VersionConfigError, match=r"model_config\.product=.*NRML"):
        VersionConfig.from_json({**MINIMAL, "product": product})


def _policy(tmp_path: Path, strategies: dict[str, Any]) -> Any:
    data = copy.deepcopy(POLICY_BASE)
    data["strategies"] = {**data["strategies"], **strategies}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_policy(path, set(STRATEGIES))


def _order_rules(policy: Any, strategy: str, product: str) -> list[str]:
    return [v.rule for v in policy.order_allowed(
        strategy=strategy, symbol="NIFTY", product=product, instrument_type="index_future",
        exchange="NFO", lots=1)]


def test_policy_strategy_products_narrow_the_global_products(tmp_path: Path) -> None:
    policy = _policy(tmp_path, {"ema_cross": {"products": ["NRML"]}})
    assert _order_rules(policy, "ema_cross", "MIS") == ["strategy_product"]
    assert _order_rules(policy, "ema_cross", "NRML") == []
    assert _order_rules(policy, "range_breakout", "MIS") == []  # the default: all


def test_policy_strategy_product_outside_the_global_products_is_refused(
        tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match=r"strategies\.ema_cross\.products: \['CNC'\]"):
        _policy(tmp_path, {"ema_cross": {"products": ["CNC"]}})


def test_policy_repo_file_allows_both_futures_products(repo_root: Path) -> None:
    policy = load_policy(repo_root / "policy.yaml", set(STRATEGIES))
    assert policy.limits_for("ema_cross").products == ("NRML", "MIS")


# --- MIS square-off ---------------------------------------------------------------------------


def _mis(cutoff: time | None, product: str = "MIS",
         square_off: time | None = time(15, 25)) -> str | None:
    return mis_refusal(product=product, cutoff=cutoff, square_off=square_off,
                       margin_minutes=10, broker="kite", exchange="NFO")


def test_mis_cutoff_exactly_the_margin_before_the_square_off_is_allowed() -> None:
    assert _mis(time(15, 15)) is None


def test_mis_cutoff_one_minute_inside_the_margin_is_refused() -> None:
    assert "cutoff 15:16" in (_mis(time(15, 16)) or "")


def test_nrml_cutoff_after_the_square_off_is_allowed() -> None:
    assert _mis(time(15, 29), product="NRML") is None


# --- prices -------------------------------------------------------------------------------------


def test_round_to_tick_directions() -> None:
    assert (round_to_tick(100.03, 0.05, "down"), round_to_tick(100.03, 0.05, "up"),
            round_to_tick(100.03, 0.05, "nearest")) == (100.0, 100.05, 100.05)


def test_round_to_tick_price_on_the_grid_is_kept() -> None:
    assert round_to_tick(23456.15, 0.05, "down") == 23456.15


def test_band_around_rounds_its_edges_inwards() -> None:
    band = band_around(20000.03, 10.0, 0.05)
    assert (band.lower, band.upper) == (18000.05, 22000.0)


def test_entry_price_outside_the_band_is_refused() -> None:
    fit = fit_to_band(22100.0, PriceBand(18000.0, 22000.0, "test"), reduces_exposure=False,
                      what="LIMIT")
    assert fit.price is None and "entry refused" in fit.reason


def test_exit_price_outside_the_band_is_clamped_to_the_edge() -> None:
    fit = fit_to_band(17900.0, PriceBand(18000.0, 22000.0, "test"), reduces_exposure=True,
                      what="SL-M")
    assert (fit.price, fit.clamped) == (18000.0, True)


def test_price_inside_the_band_or_without_a_band_is_kept() -> None:
    band = PriceBand(18000.0, 22000.0, "test")
    assert fit_to_band(22000.0, band, reduces_exposure=False, what="LIMIT").price == 22000.0
    assert fit_to_band(99999.0, None, reduces_exposure=False, what="LIMIT").price == 99999.0


def test_protection_price_buy_above_sell_below_on_the_grid() -> None:
    assert protection_price(20000.0, 1, 2.0, 0.05) == 20400.0
    assert protection_price(20000.07, -1, 2.0, 0.05) == 19600.1


@given(st.floats(100.0, 100_000.0), st.sampled_from([1, -1]), st.floats(0.1, 20.0))
def test_protection_price_is_never_looser_than_the_percentage(
        reference: float, side: int, pct: float) -> None:
    cap = protection_price(reference, side, pct, 0.05)
    assert side * (cap - reference) <= reference * pct / 100.0 + 1e-6
    assert side * (cap - reference) >= 0 or abs(cap - reference) <= 0.05


def test_bad_prices_are_refused() -> None:
    with pytest.raises(OrderPriceError, match="nan"):
        round_to_tick(float("nan"), 0.05, "down")
    with pytest.raises(OrderPriceError, match="lower above upper"):
        PriceBand(2.0, 1.0, "test")


# --- freeze slicing -------------------------------------------------------------------------------


def test_slice_qty_under_the_freeze_is_one_slice() -> None:
    assert slice_qty(1800, 1800, 75) == [1800]


def test_slice_qty_splits_in_whole_lots_at_most_the_freeze() -> None:
    assert slice_qty(3000, 1800, 75) == [1800, 1200]  # NIFTY: 24 lots of 75, then 16
    assert slice_qty(1260, 600, 35) == [595, 595, 70]


@given(st.integers(1, 200), st.integers(1, 100), st.integers(1, 5000))
def test_slice_qty_conserves_the_quantity_and_respects_the_freeze(
        lots: int, lot: int, freeze: int) -> None:
    if freeze < lot or lots * lot // (freeze // lot * lot) >= 100:
        return
    slices = slice_qty(lots * lot, freeze, lot)
    assert sum(slices) == lots * lot
    assert all(0 < s <= freeze and s % lot == 0 for s in slices)
    assert replan(lots * lot, slices[0]) == slices


def test_slice_qty_freeze_below_one_lot_is_refused() -> None:
    with pytest.raises(SliceError, match="below one lot"):
        slice_qty(150, 50, 75)


def test_slice_key_zero_is_the_unsliced_key_and_others_are_distinct() -> None:
    keys = [slice_key("trABC", i) for i in range(3)]
    assert keys[0] == client_key("trABC")
    assert keys[1] == client_key("trABC", SLICE_LEG_BASE + 1)
    assert len(set(keys)) == 3


# --- market protection at the paper exchange --------------------------------------------------

T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)


def _exchange(tmp_path: Path) -> PaperExchange:
    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'x.db'}"), seed=1,
                             fill_model=FillModel())
    exchange.on_bar("NIFTY", T0, 100.0, 100.0, 100.0, 100.0)
    return exchange


def _buy(key: str, **fields: Any) -> OrderRequest:
    return OrderRequest(client_key=key, symbol="NIFTY", exchange="NFO", side=Side.BUY,
                        qty=75, **fields)


def test_paper_protected_market_order_fills_at_the_open_within_the_cap(tmp_path: Path) -> None:
    exchange = _exchange(tmp_path)
    exchange.submit(_buy("k1", market_protection_pct=2.0))
    (fill,) = exchange.on_bar("NIFTY", T0 + timedelta(minutes=1), 101.0, 101.5, 100.5, 101.0)
    assert fill.price == 101.0


def test_paper_protected_market_order_does_not_fill_through_its_cap(tmp_path: Path) -> None:
    exchange = _exchange(tmp_path)
    exchange.submit(_buy("k1", market_protection_pct=2.0))  # cap 102.0
    assert exchange.on_bar("NIFTY", T0 + timedelta(minutes=1), 103.0, 104.0, 102.5,
                           103.5) == []
    report = exchange.status(client_key="k1")
    assert report is not None and (report.state, report.limit_price) == (OrderState.OPEN, 102.0)
    (fill,) = exchange.on_bar("NIFTY", T0 + timedelta(minutes=2), 102.5, 102.6, 101.0, 101.2)
    assert fill.price == 102.0  # worked as a limit at the cap


def test_paper_unprotected_market_order_fills_through_anything(tmp_path: Path) -> None:
    exchange = _exchange(tmp_path)
    exchange.submit(_buy("k1"))
    (fill,) = exchange.on_bar("NIFTY", T0 + timedelta(minutes=1), 103.0, 104.0, 102.5, 103.5)
    assert fill.price == 103.0


def test_paper_protected_stop_market_caps_from_its_trigger_and_moves_with_it(
        tmp_path: Path) -> None:
    exchange = _exchange(tmp_path)
    result = exchange.submit(_buy("k1", order_type=OrderType.SL_M, trigger_price=101.0,
                                  market_protection_pct=1.0))
    assert exchange.status(client_key="k1").limit_price == 102.0  # type: ignore[union-attr]
    assert result.broker_order_id is not None
    exchange.modify(result.broker_order_id, trigger_price=100.5)
    assert exchange.status(client_key="k1").limit_price == 101.5  # type: ignore[union-attr]


def test_paper_protected_market_order_without_a_last_price_is_rejected(tmp_path: Path) -> None:
    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'x.db'}"), seed=1,
                             fill_model=FillModel())
    result = exchange.submit(_buy("k1", market_protection_pct=2.0))
    assert "no last price of NIFTY" in result.reason
