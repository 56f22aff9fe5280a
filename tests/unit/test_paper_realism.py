"""The paper exchange's realism mode: a seeded intrabar path and its own impact model, which
the calibration (a different law) recovers."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live.adapters.paper import Bar, FillModel, FillModelError, PaperExchange, RealismParams
from live.adapters.paper.realism import intrabar_path
from live.broker import OrderRequest, OrderType, Side
from live.db import make_engine
from live.impact.calibration import ImpactPrint, fit_impact
from strategies.impact import BPS, parkinson_sigma_bps

IST = timezone(timedelta(hours=5, minutes=30))
T0 = datetime(2025, 1, 6, 9, 15, tzinfo=IST)


def _exchange(**realism: Any) -> PaperExchange:
    model = FillModel(mode="realism", realism=RealismParams(**realism))
    return PaperExchange(make_engine("sqlite:///:memory:"), seed=11,
                         fill_model=model)


@settings(max_examples=60, deadline=None)
@given(o=st.floats(90, 110), c=st.floats(90, 110), up=st.floats(0.01, 5),
       down=st.floats(0.01, 5), seed=st.integers(0, 10_000))
def test_intrabar_path_any_bar_runs_open_to_close_through_high_and_low(
        o: float, c: float, up: float, down: float, seed: int) -> None:
    high, low = max(o, c) + up, min(o, c) - down
    path = intrabar_path(Bar(T0, o, high, low, c, 1.0), 60, seed=seed, symbol="NIFTY")
    assert len(path) == 61
    assert path[0] == pytest.approx(o) and path[-1] == pytest.approx(c)
    assert path.max() == pytest.approx(high) and path.min() == pytest.approx(low)


def test_intrabar_path_same_seed_gives_same_path() -> None:
    bar = Bar(T0, 100, 102, 99, 101, 5.0)
    first = intrabar_path(bar, 60, seed=3, symbol="NIFTY")
    assert (first == intrabar_path(bar, 60, seed=3, symbol="NIFTY")).all()


def test_realism_buy_market_pays_impact_above_the_path() -> None:
    ex = _exchange(eta=1.0, exponent=0.6, kappa=0.0, arrival_max_fraction=0.0)
    ex.on_bar("NIFTY", T0, 100, 100, 100, 100, volume=1000)
    ex.submit(OrderRequest(client_key="b1", symbol="NIFTY", exchange="NFO", side=Side.BUY,
                           qty=250))
    (fill,) = ex.on_bar("NIFTY", T0 + timedelta(minutes=1), 100, 101, 99, 100, volume=1000)
    expected = 100 * (1 + parkinson_sigma_bps(101, 99) * 0.25 ** 0.6 / BPS)
    assert fill.price == pytest.approx(expected)


def test_realism_zero_volume_bar_fills_no_market_order() -> None:
    ex = _exchange()
    ex.on_bar("NIFTY", T0, 100, 100, 100, 100, volume=10)
    ex.submit(OrderRequest(client_key="b1", symbol="NIFTY", exchange="NFO", side=Side.BUY,
                           qty=5))
    assert ex.on_bar("NIFTY", T0 + timedelta(minutes=1), 100, 101, 99, 100, volume=0) == []


def test_realism_permanent_impact_moves_the_next_fill() -> None:
    ex = _exchange(eta=0.0, kappa=1.0, arrival_max_fraction=0.0)
    ex.on_bar("NIFTY", T0, 100, 100, 100, 100, volume=100)
    prices = []
    for minute, key in ((1, "b1"), (2, "b2")):
        ex.submit(OrderRequest(client_key=key, symbol="NIFTY", exchange="NFO", side=Side.BUY,
                               qty=50))
        (fill,) = ex.on_bar("NIFTY", T0 + timedelta(minutes=minute), 100, 101, 99, 100,
                            volume=100)
        prices.append(fill.price)
    assert prices[0] == pytest.approx(100) and prices[1] > 100


def test_realism_params_out_of_domain_are_refused() -> None:
    with pytest.raises(FillModelError, match=r"realism\.exponent"):
        RealismParams(exponent=2.0)


def test_parity_fill_model_json_is_unchanged_by_realism() -> None:
    assert "realism" not in FillModel().to_json()
    realism = FillModel(mode="realism", realism=RealismParams(eta=0.5))
    assert FillModel.from_json(realism.to_json()) == realism


def _realism_prints(n: int) -> list[ImpactPrint]:
    """``n`` isolated market orders (an hour apart, so earlier permanent impact has decayed)
    of random participation on random bars; cost against the fill bar's open."""
    rng = random.Random(5)
    ex = _exchange(eta=0.7, exponent=0.6, kappa=0.3, decay_minutes=5.0)
    prints = []
    ts = T0
    for i in range(n):
        volume = float(rng.randint(2_000, 50_000))
        qty = max(1, int(volume * 10 ** rng.uniform(-1.5, 0)))
        side = rng.choice((Side.BUY, Side.SELL))
        ex.on_bar("NIFTY", ts, 100, 100, 100, 100, volume=volume)
        ex.submit(OrderRequest(client_key=f"k{i}", symbol="NIFTY", exchange="NFO", side=side,
                               qty=qty, order_type=OrderType.MARKET))
        o = 100 + rng.uniform(-1, 1)
        high, low = o + rng.uniform(0.1, 1.5), o - rng.uniform(0.1, 1.5)
        ts += timedelta(minutes=1)
        (fill,) = ex.on_bar("NIFTY", ts, o, high, low, o, volume=volume)
        sign = 1.0 if side is Side.BUY else -1.0
        prints.append(ImpactPrint(qty=qty, minute_volume=volume,
                                  sigma_bps=parkinson_sigma_bps(high, low),
                                  cost_bps=sign * (fill.price - o) / o * BPS))
        ts += timedelta(minutes=60)
    return prints


def test_calibration_on_realism_fills_recovers_eta_and_exponent() -> None:
    params = fit_impact(_realism_prints(400))
    assert params.calibration_source == "prints"
    assert params.exponent == pytest.approx(0.6, abs=0.08)
    assert params.y == pytest.approx(0.7, rel=0.2)


def test_realism_sell_stop_market_fills_at_the_crossing_minus_impact() -> None:
    ex = _exchange(eta=1.0, exponent=0.6, kappa=0.0)
    ex.on_bar("NIFTY", T0, 100, 100, 100, 100, volume=1000)
    ex.submit(OrderRequest(client_key="s1", symbol="NIFTY", exchange="NFO", side=Side.SELL,
                           qty=100, order_type=OrderType.SL_M, trigger_price=99.5))
    (fill,) = ex.on_bar("NIFTY", T0 + timedelta(minutes=1), 100, 100.5, 99, 99.8,
                        volume=1000)
    impact = parkinson_sigma_bps(100.5, 99) * 0.1 ** 0.6 / BPS
    assert 99 * (1 - impact) - 1e-9 <= fill.price <= 99.5 * (1 - impact) + 1e-9


def test_realism_protected_market_order_never_fills_through_its_cap() -> None:
    ex = _exchange(eta=50.0, kappa=0.0, arrival_max_fraction=0.0)
    ex.on_bar("NIFTY", T0, 100, 100, 100, 100, volume=1000)
    ex.submit(OrderRequest(client_key="b1", symbol="NIFTY", exchange="NFO", side=Side.BUY,
                           qty=500, market_protection_pct=1.0))
    (fill,) = ex.on_bar("NIFTY", T0 + timedelta(minutes=1), 100, 101, 99, 100, volume=1000)
    assert fill.price == pytest.approx(101.0)
