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
from live.backtest_reconciliation import DayReport, expectation_config, reconcile_journal
from live.db import make_engine
from live.events import OrderFilled, OrderIntended
from live.journal import Journal, open_journal
from live.runner.decisions import LEVEL_KEYS
from live.runner.deployments import build
from live.runner.feed import replay_bars, replay_frame
from live.runner.runner import Runner
from strategies.bars import bars_from_frame
from strategies.params import get_params
from strategies.roster import STRATEGIES, get_strategy
from strategies.simulator import SimConfig, simulate
from strategies.version_config import SimRules, VersionConfig
from tests.doubles import PassThroughRisk

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


def run_live(frame: pd.DataFrame, folder: Path, strategy: str, levels: dict[str, float]
             ) -> LiveRun:
    """Replay ``frame`` through a live-mode runner over a paper exchange in ``folder``."""
    params = get_params(get_strategy(strategy).default_params())
    config = {"strategy": strategy, "params": params, "venue": "NSE", "cutoff": "venue",
              "symbols": ["NIFTY"], "sim": {"qty_lots": 1, "lot_size": 75,
                                            "slippage_ticks": 1.0, "tick_size": 0.05,
                                            **levels}}
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=record_clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))
    runner = Runner(journal=journal, broker=exchange,
                    deployed=[build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)],
                    mode="live",
                    clock=record_clock, risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    runner.run(replay_bars(frame))
    return LiveRun(strategy, params, journal)


@pytest.fixture(scope="module", params=list(STRATEGIES))
def live_run(request: pytest.FixtureRequest, frame: pd.DataFrame,
             tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    return run_live(frame, tmp_path_factory.mktemp(request.param), request.param, {})


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


def simulated_trades(frame: pd.DataFrame, strategy: str, sim: SimConfig = SIM
                     ) -> pd.DataFrame:
    spec = get_strategy(strategy)
    bars = bars_from_frame(frame, symbol="NIFTY", venue="NSE")
    return simulate(bars, spec.signals(bars, spec.default_params()), sim).trades


def simulated_round_trips(frame: pd.DataFrame, strategy: str, sim: SimConfig = SIM
                          ) -> list[RoundTrip]:
    t = simulated_trades(frame, strategy, sim)
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


# --- protective exits: stop-loss, trailing stop, target as resting orders ----------------------

LEVELS = {
    "stop_trail_target_points": {"stop_points": 12.0, "trail_points": 18.0,
                                 "target_points": 30.0},
    "stop_and_target_fractions": {"stop_frac": 0.0006, "target_frac": 0.0012},
    "trailing_fraction_only": {"trail_frac": 0.0008},
}


@pytest.fixture(scope="module", params=[(s, lv) for s in ("ema_cross", "range_breakout")
                                        for lv in LEVELS], ids=lambda p: f"{p[0]}-{p[1]}")
def protected_run(request: pytest.FixtureRequest, frame: pd.DataFrame,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[LiveRun, SimConfig]:
    strategy, name = request.param
    sim = SimConfig(qty_lots=1, lot_size=75, slippage_ticks=1.0, tick_size=0.05,
                    **LEVELS[name])
    folder = tmp_path_factory.mktemp(f"{strategy}-{name}")
    return run_live(frame, folder, strategy, LEVELS[name]), sim


def test_live_runner_with_protective_exits_trades_exactly_like_the_simulator(
        protected_run: tuple[LiveRun, SimConfig], frame: pd.DataFrame) -> None:
    run, sim = protected_run
    reasons = set(simulated_trades(frame, run.strategy, sim)["exit_reason"])
    assert reasons & {"stop", "trail", "target"}, "the span must exercise the levels"
    expected = simulated_round_trips(frame, run.strategy, sim)
    assert journaled_round_trips(run.journal) == expected


def test_live_runner_protective_orders_rest_at_the_broker_as_sl_m_and_limit(
        protected_run: tuple[LiveRun, SimConfig]) -> None:
    run, sim = protected_run
    intents = [m for _, m in run.journal.read() if isinstance(m, OrderIntended)]
    protective = {str(m.order_type) for m in intents if m.after_trade is not None}
    wanted = ({"SL-M"} if sim.stop_points or sim.stop_frac or sim.trail_points or
              sim.trail_frac else set()) | ({"LIMIT"} if sim.target_points or sim.target_frac
                                            else set())
    assert protective == wanted
    keys = [m.client_key for m in intents]
    assert len(keys) == len(set(keys))


def test_reconcile_journal_with_protective_exits_reports_no_break(
        protected_run: tuple[LiveRun, SimConfig]) -> None:
    run, sim = protected_run
    config = expectation_config(SimRules.from_json(
        {"lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05,
         **{k: getattr(sim, k) for k in LEVEL_KEYS}}), 75)
    assert config == sim
    found = reports(run, config)
    assert {r.day: r.breaks for r in found} == {r.day: [] for r in found}
