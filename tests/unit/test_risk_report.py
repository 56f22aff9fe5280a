"""The risk report assembles limits, VaR/CVaR, stress, exposure and margin for positions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from live.events import BarClosed
from live.risk.limits import load_risk_limits
from live.risk.risk_report import Row, exposure_caps, risk_report
from live.state import LiveState, Position
from pipelines.datasets.schema import read_dataset
from tests.synthetic_datasets import nse_index_1m_path

ROOT = Path(__file__).resolve().parents[2]
LOTS = {"NIFTY": 75, "BANKNIFTY": 30}
# The reviewed risk.yaml read as plain YAML (not through load_risk_limits): the limits the
# report must show, so an approved change of the file does not break these tests.
RAW = yaml.safe_load((ROOT / "risk.yaml").read_text())
CAPITAL_INR = RAW["margin"]["available_capital_inr"]


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    frame = read_dataset(nse_index_1m_path())
    state = LiveState()
    state.positions[("ema_cross", "NIFTY")] = Position(net_qty=150, avg_price=24_000.0)
    state.positions[("atr_reversal", "BANKNIFTY")] = Position(net_qty=-30, avg_price=52_000.0)
    ts = pd.Timestamp("2025-12-31 15:29", tz="Asia/Kolkata").to_pydatetime()
    for symbol in LOTS:
        last = frame[frame["symbol"] == symbol].iloc[-1]
        state.last_bars[symbol] = BarClosed(trace_id="", ts_event=ts, symbol=symbol,
                                            open=last.open, high=last.high, low=last.low,
                                            close=last.close, volume=last.volume)
    limits = load_risk_limits(ROOT / "risk.yaml")
    return risk_report(state, limits, frame, LOTS, ROOT, date(2025, 12, 31))


def _row(rows: list[Row], item: str) -> Row:
    return next(r for r in rows if r.item == item)


def test_risk_report_counts_net_lots_against_the_symbol_limit(rows: list[Row]) -> None:
    nifty = _row(rows, "NIFTY net lots")
    limit = RAW["positions"]["max_net_lots_per_symbol"].get(
        "NIFTY", RAW["positions"]["max_net_lots_per_symbol"]["default"])
    assert nifty.value == 150 / LOTS["NIFTY"]  # the position set up in ``rows``
    assert nifty.limit == limit and nifty.utilisation == pytest.approx(nifty.value / limit)


def test_risk_report_var_is_positive_and_cvar_not_below_var(rows: list[Row]) -> None:
    var = _row(rows, "historical VaR 99%")
    cvar = _row(rows, "historical CVaR 99%")
    assert 0 < var.value <= cvar.value
    assert var.limit == pytest.approx(CAPITAL_INR * RAW["portfolio"]["max_var_utilisation"])


def test_risk_report_has_every_stress_scenario(rows: list[Row]) -> None:
    names = {r.item for r in rows if r.area == "stress"}
    assert names == {s["name"] for s in RAW["portfolio"]["stress_scenarios"]}


def test_risk_report_margin_and_exposure_have_limits(rows: list[Row]) -> None:
    margin = _row(rows, "SPAN-like total")
    assert margin.value > 0 and margin.limit == CAPITAL_INR
    gross = _row(rows, "gross_inr/symbol/NIFTY")
    assert gross.limit == RAW["exposure"]["gross_inr"]["symbol"]["default"] and gross.value > 0


def test_exposure_caps_map_defaults_to_wildcards() -> None:
    caps = exposure_caps(load_risk_limits(ROOT / "risk.yaml"))
    assert caps["gross_inr/symbol/*"] == RAW["exposure"]["gross_inr"]["symbol"]["default"]
    assert caps["delta_units/underlying/BANKNIFTY"] == (
        RAW["exposure"]["greeks"]["BANKNIFTY"]["delta_units"])
