"""The risk report assembles limits, VaR/CVaR, stress, exposure and margin for positions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from live.events import BarClosed
from live.risk.limits import load_risk_limits
from live.risk.report import Row, exposure_caps, risk_report
from live.state import LiveState, Position
from pipelines.datasets.schema import read_dataset
from tests.synthetic_datasets import nse_index_1m_path

ROOT = Path(__file__).resolve().parents[2]
LOTS = {"NIFTY": 75, "BANKNIFTY": 30}


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
    assert nifty.value == 2 and nifty.limit == 8 and nifty.utilisation == 0.25


def test_risk_report_var_is_positive_and_cvar_not_below_var(rows: list[Row]) -> None:
    var = _row(rows, "historical VaR 99%")
    cvar = _row(rows, "historical CVaR 99%")
    assert 0 < var.value <= cvar.value and var.limit == 250_000


def test_risk_report_has_every_stress_scenario(rows: list[Row]) -> None:
    names = {r.item for r in rows if r.area == "stress"}
    assert names == {"gap_down_10pct", "gap_up_10pct", "vol_up_50pct",
                     "all_down_together_7pct"}


def test_risk_report_margin_and_exposure_have_limits(rows: list[Row]) -> None:
    margin = _row(rows, "SPAN-like total")
    assert margin.value > 0 and margin.limit == 5_000_000
    gross = _row(rows, "gross_inr/symbol/NIFTY")
    assert gross.limit == 30_000_000 and gross.value > 0


def test_exposure_caps_map_defaults_to_wildcards() -> None:
    caps = exposure_caps(load_risk_limits(ROOT / "risk.yaml"))
    assert caps["gross_inr/symbol/*"] == 30_000_000
    assert caps["delta_units/underlying/BANKNIFTY"] == 210
