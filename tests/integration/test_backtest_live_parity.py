"""Backtest-live parity: each strategy replayed through the live runner (mode live, paper
exchange filling market orders at the next open with one tick of slippage) trades exactly
like the bar simulator on the same bars - same entries, exits, sides, sizes and prices -
and the shadow/live reconciliation of that journal finds no break.

NIFTY 1-minute bars of 2025-03-03 .. 2025-03-05 (three NSE sessions), default params,
1 lot x 75.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.events import OrderFilled, OrderIntended
from live.journal import Journal, open_journal
from live.reconciliation import DayReport, reconcile_journal
from live.runner.deployments import build
from live.runner.engine import Runner
from live.runner.feed import replay_bars, replay_frame
from strategies.bars import bars_from_frame
from strategies.params import get_params
from strategies.registry import STRATEGIES, get_strategy
from strategies.simulator import SimConfig, simulate

pytestmark = pytest.mark.integration

DATASET = Path(__file__).resolve().parents[2] / "data" / "datasets" / "nse_index_1m.parquet"
SPAN = (date(2025, 3, 3), date(2025, 3, 5))
SIM = SimConfig(qty_lots=1, lot_size=75, slippage_ticks=1.0, tick_size=0.05)
RoundTrip = tuple[pd.Timestamp, pd.Timestamp, int, int, float, float]


def record_clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return replay_frame(DATASET, ["NIFTY"], *SPAN)


@dataclass(frozen=True)
class LiveRun:
    strategy: str
    params: dict
    journal: Journal


@pytest.fixture(scope="module", params=list(STRATEGIES))
def live_run(request: pytest.FixtureRequest, frame: pd.DataFrame,
             tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    strategy = request.param
    folder = tmp_path_factory.mktemp(strategy)
    params = get_params(get_strategy(strategy).default_params())
    config = {"strategy": strategy, "params": params, "venue": "NSE", "cutoff": "venue",
              "symbols": ["NIFTY"], "sim": {"qty_lots": 1, "lot_size": 75,
                                            "slippage_ticks": 1.0, "tick_size": 0.05}}
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=record_clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))
    runner = Runner(journal=journal, broker=exchange,
                    deployed=[build(config, 1, "live", 1.0, "0" * 64)], mode="live",
                    clock=record_clock,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    runner.run(replay_bars(frame))
    return LiveRun(strategy, params, journal)


def journaled_round_trips(journal: Journal) -> list[RoundTrip]:
    """Round trips folded from the journal's fills (flat -> position -> flat)."""
    trips: list[RoundTrip] = []
    pos, entry = 0, None
    for _, m in journal.read():
        if not isinstance(m, OrderFilled):
            continue
        signed = m.qty if str(m.side) == "BUY" else -m.qty
        if pos == 0:
            entry = (pd.Timestamp(m.ts_event), 1 if signed > 0 else -1, abs(signed), m.price)
        pos += signed
        if pos == 0 and entry is not None:
            trips.append((entry[0], pd.Timestamp(m.ts_event), entry[1], entry[2], entry[3],
                          m.price))
    assert pos == 0, "every session ends flat at the cutoff"
    return trips


def simulated_round_trips(frame: pd.DataFrame, strategy: str) -> list[RoundTrip]:
    spec = get_strategy(strategy)
    bars = bars_from_frame(frame, symbol="NIFTY", venue="NSE")
    t = simulate(bars, spec.signals(bars, spec.default_params()), SIM).trades
    return [(pd.Timestamp(a), pd.Timestamp(b), 1 if s == "long" else -1, int(q), float(ep),
             float(xp))
            for a, b, s, q, ep, xp in zip(t["entry_ts"], t["exit_ts"], t["side"], t["qty"],
                                          t["entry_price"], t["exit_price"], strict=True)]


def reports(run: LiveRun, sim: SimConfig) -> list[DayReport]:
    return reconcile_journal(run.journal, strategy=run.strategy, params=run.params,
                             venue="NSE", symbol="NIFTY", sim=sim)


def test_live_runner_trades_exactly_like_the_simulator(live_run: LiveRun,
                                                       frame: pd.DataFrame) -> None:
    expected = simulated_round_trips(frame, live_run.strategy)
    assert expected, "the span must exercise the strategy"
    assert journaled_round_trips(live_run.journal) == expected


def test_live_runner_orders_one_lot_of_75(live_run: LiveRun) -> None:
    sizes = {m.qty for _, m in live_run.journal.read() if isinstance(m, OrderIntended)}
    assert sizes == {75}


def test_reconcile_journal_of_live_run_reports_no_break_on_any_day(live_run: LiveRun) -> None:
    found = reports(live_run, SIM)
    assert [r.day for r in found] == ["2025-03-03", "2025-03-04", "2025-03-05"]
    assert {r.day: r.breaks for r in found} == {r.day: [] for r in found}


def test_reconcile_journal_against_other_slippage_names_entry_price_breaks(
        live_run: LiveRun) -> None:
    two_ticks = SimConfig(qty_lots=1, lot_size=75, slippage_ticks=2.0, tick_size=0.05)
    breaks = [b for r in reports(live_run, two_ticks) for b in r.breaks]
    trips = journaled_round_trips(live_run.journal)
    assert sum("entry_price" in b for b in breaks) == len(trips)
    assert sum("exit_price" in b for b in breaks) == len(trips)
    assert len(breaks) == 2 * len(trips)  # prices only: no missing, extra or re-timed trade
