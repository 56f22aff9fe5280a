"""The runner's strategy health monitor on the synthetic NSE NIFTY bars: each closed trade is
journaled as ``HealthObserved``; a version whose trades fall far below research's
expectation is halted through the kill switch (actor ``health_monitor``), a rollback is
proposed (live mode only), entries are denied and exits flow; a restart folds the same
statistics back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from live.adapters.paper.exchange import PaperExchange
from live.adapters.paper.fill_model import FillModel
from live.db import make_engine
from live.events import (
    AlertRaised,
    GovernanceDecided,
    HealthObserved,
    KillMode,
    KillSwitchChanged,
    TradeExited,
)
from live.runner.deployments import build
from live.runner.health_room import HEALTH_ACTOR, HEALTH_ALERT
from live.runner.runner import Runner
from strategies.health import HealthExpectation, HealthLimits
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in

# research promised 3,000 INR per 75-unit trade, +- 1,000, winning 70 %: the replayed day's
# ema_cross trades fall far short of it - an edge decay of several sigma
PROMISED = HealthExpectation(trades=200, hit_ratio=0.7, pnl_per_trade_inr=3000.0,
                             pnl_std_inr=1000.0, qty=75, slippage_points=0.05)
BARS = 200  # of 2025-03-03: several closed trades
MODEST = HealthExpectation(trades=200, hit_ratio=0.5, pnl_per_trade_inr=0.0,
                           pnl_std_inr=20_000.0, qty=75, slippage_points=0.05)


def health_runner(stores: Stores, proposals: list[tuple[str, int, str]],
                  crash_hook: Callable[[str], None] | None = None,
                  kill_commands: Callable[[int], list] | None = None,
                  slippage_ticks: float | None = None) -> Runner:
    exchange = stores.exchange() if slippage_ticks is None else PaperExchange(
        make_engine(f"sqlite:///{stores.folder / 'exchange.db'}"), seed=3,
        fill_model=FillModel(fill=stores.fill,  # type: ignore[arg-type]
                             slippage_ticks=slippage_ticks, tick_size=0.05))
    deployed = build(VersionConfig.from_json(stores.config), 1, stores.mode, 1.0, "0" * 64)

    def propose(strategy: str, version: int, reason: str) -> str:
        proposals.append((strategy, version, reason))
        return f"R{len(proposals)}"

    return Runner(journal=stores.journal(), broker=exchange, deployed=[deployed],
                  mode=stores.mode, clock=record_clock, risk=PassThroughRisk(),
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close),
                  health_limits=HealthLimits(), propose_rollback=propose,
                  crash_hook=crash_hook, kill_commands=kill_commands)


def run_day(stores: Stores, proposals: list[tuple[str, int, str]]) -> Runner:
    runner = health_runner(stores, proposals)
    runner.recover()
    runner.run(day_bars(BARS))
    return runner


def stores_with(folder: Path, expectation: HealthExpectation, mode: str = "live") -> Stores:
    stores = stores_in(folder, mode=mode)
    stores.config = {**stores.config, "health": expectation.to_json()}
    return stores


@pytest.fixture(scope="module")
def decayed(tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Stores, list[tuple[str, int, str]], Runner]:
    stores = stores_with(tmp_path_factory.mktemp("decayed"), PROMISED)
    proposals: list[tuple[str, int, str]] = []
    runner = run_day(stores, proposals)
    return stores, proposals, runner


def test_each_closed_trade_is_journaled_as_health_observed(
        decayed: tuple[Stores, list, Runner]) -> None:
    stores = decayed[0]
    observed = stores.messages(HealthObserved)
    assert observed and all(o.strategy == "ema_cross" and o.version == 1  # type: ignore[attr-defined]
                            for o in observed)


def test_edge_decay_halts_the_strategy_through_the_kill_switch(
        decayed: tuple[Stores, list, Runner]) -> None:
    stores = decayed[0]
    (halt,) = stores.messages(KillSwitchChanged)
    assert (halt.scope, halt.mode, halt.actor) == ("ema_cross", KillMode.HALT,  # type: ignore[attr-defined]
                                                   HEALTH_ACTOR)
    (breach,) = [o for o in stores.messages(HealthObserved) if o.breach]  # type: ignore[attr-defined]
    assert breach.breach.startswith("P&L per trade CUSUM")  # type: ignore[attr-defined]
    assert breach.trades == 0 and breach.cusum_pnl == 0.0  # type: ignore[attr-defined]


def test_edge_decay_files_one_rollback_proposal_and_alerts_it(
        decayed: tuple[Stores, list, Runner]) -> None:
    stores, proposals, _ = decayed
    (proposal,) = proposals
    assert proposal[:2] == ("ema_cross", 1) and "edge decay" in proposal[2]
    (alert,) = [m for m in stores.messages(AlertRaised) if m.code == HEALTH_ALERT]  # type: ignore[attr-defined]
    assert "rollback request R1 filed" in alert.message  # type: ignore[attr-defined]
    assert "maker/checker re-arm" in alert.message  # type: ignore[attr-defined]


def test_after_the_breach_entries_are_denied_and_exits_flow(
        decayed: tuple[Stores, list, Runner]) -> None:
    stores = decayed[0]
    (halt,) = stores.messages(KillSwitchChanged)
    after = [d for d in stores.messages(GovernanceDecided) if d.ts_event > halt.ts_event]  # type: ignore[attr-defined]
    denied = [d for d in after if not d.allowed]  # type: ignore[attr-defined]
    assert denied and all(d.reason == "kill switch: halt" for d in denied)  # type: ignore[attr-defined]


def test_restart_folds_the_health_statistics_back(
        decayed: tuple[Stores, list, Runner]) -> None:
    stores, _, first = decayed
    again = health_runner(stores, [])
    again.recover()
    assert again.health == first.health and again.health_pending == []


def test_healthy_version_is_observed_without_alarm(tmp_path: Path) -> None:
    stores = stores_with(tmp_path, MODEST)
    proposals: list[tuple[str, int, str]] = []
    run_day(stores, proposals)
    observed = stores.messages(HealthObserved)
    assert observed and not any(o.breach for o in observed)  # type: ignore[attr-defined]
    # every fill's slippage observed (the paper exchange charges research's one tick)
    assert observed[-1].fills == sum(o.fills_observed for o in observed) > len(observed)  # type: ignore[attr-defined]
    assert max(o.cusum_slip for o in observed) == 0.0  # type: ignore[attr-defined]
    assert stores.messages(KillSwitchChanged) == [] and proposals == []


def test_canary_breach_halts_but_proposes_no_rollback(tmp_path: Path) -> None:
    stores = stores_with(tmp_path, PROMISED, mode="canary")
    proposals: list[tuple[str, int, str]] = []
    run_day(stores, proposals)
    assert proposals == [] and len(stores.messages(KillSwitchChanged)) == 1
    (alert,) = [m for m in stores.messages(AlertRaised) if m.code == HEALTH_ALERT]  # type: ignore[attr-defined]
    assert "no rollback proposed: a canary run's version is not the live one" in alert.message  # type: ignore[attr-defined]


def test_version_without_expectation_is_not_monitored(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    run_day(stores, [])
    assert stores.messages(HealthObserved) == []


def test_snapshot_memory_round_trips_the_health_statistics(
        decayed: tuple[Stores, list, Runner]) -> None:
    stores, _, first = decayed
    fresh = health_runner(stores, [])
    fresh.restore_health(first.health_memory())
    assert fresh.health == first.health and fresh.health_memory() == first.health_memory()
    fresh.restore_health(None)  # a snapshot written before the monitor: nothing changes
    assert fresh.health == first.health


class Crash(Exception):
    """The process dies."""


def test_trade_journaled_before_a_crash_is_observed_after_the_restart(tmp_path: Path) -> None:
    stores = stores_with(tmp_path, MODEST)

    def die_after_the_first_exit(point: str) -> None:
        if point == "after_fill" and stores.messages(TradeExited):
            raise Crash

    crashing = health_runner(stores, [], die_after_the_first_exit)
    crashing.recover()
    with pytest.raises(Crash):
        crashing.run(day_bars(BARS))
    assert len(stores.messages(TradeExited)) == 1 and stores.messages(HealthObserved) == []
    restarted = health_runner(stores, [])
    restarted.recover()
    assert len(restarted.health_pending) == 1  # folded back: the exit not yet observed
    restarted.run(day_bars(BARS))
    exits, observed = stores.messages(TradeExited), stores.messages(HealthObserved)
    assert len(observed) == len(exits) > 1
    assert observed[0].trace_id == exits[0].trace_id  # type: ignore[attr-defined]


def test_health_halt_is_lifted_only_by_a_verified_rearm(
        decayed: tuple[Stores, list, Runner], tmp_path: Path) -> None:
    import shutil

    from live.governance.kill import KillCommand

    shutil.copytree(decayed[0].folder, tmp_path / "copy")  # the journal with its WAL files
    stores = Stores(tmp_path / "copy", decayed[0].config)
    forged = KillCommand(1, "ema_cross", "off", "unverified:ops", "lift", "x", verified=False,
                         problem="bad signature")
    good = KillCommand(2, "ema_cross", "off", "ops+risk", "lift", "x", after_command=0,
                       nonce="b" * 32)
    desk: list[KillCommand] = [forged]
    runner = health_runner(stores, [], kill_commands=lambda last: [c for c in desk
                                                                   if c.id > last])
    runner.recover()
    bars = day_bars()
    runner.run(bars[BARS: BARS + 1])
    assert stores.messages(KillSwitchChanged)[-1].mode is KillMode.HALT  # type: ignore[attr-defined]
    desk.append(good)
    runner.run(bars[BARS + 1: BARS + 2])
    assert stores.messages(KillSwitchChanged)[-1].mode is KillMode.OFF  # type: ignore[attr-defined]


def test_injected_extra_slippage_halts_through_the_slippage_cusum(tmp_path: Path) -> None:
    """The broker fills 201 ticks (10.05 points, about 4 bps) from the arrival price where
    research charged one tick: the slippage CUSUM alarms within the day, the P&L and
    hit-ratio ones do not (MODEST's wide P&L expectation); the same breach path - halt,
    rollback proposal, alert; a restart folds the statistics and pending fills back."""
    stores = stores_with(tmp_path, MODEST)
    proposals: list[tuple[str, int, str]] = []
    runner = health_runner(stores, proposals, slippage_ticks=201.0)
    runner.recover()
    runner.run(day_bars(BARS))
    (breach,) = [o for o in stores.messages(HealthObserved) if o.breach]  # type: ignore[attr-defined]
    assert breach.breach.startswith("slippage CUSUM")  # type: ignore[attr-defined]
    assert "P&L per trade" not in breach.breach and "hit-ratio" not in breach.breach  # type: ignore[attr-defined]
    (halt,) = stores.messages(KillSwitchChanged)
    assert (halt.scope, halt.mode, halt.actor) == ("ema_cross", KillMode.HALT,  # type: ignore[attr-defined]
                                                   HEALTH_ACTOR)
    assert len(proposals) == 1 and "slippage CUSUM" in proposals[0][2]
    again = health_runner(stores, [], slippage_ticks=201.0)
    again.recover()
    assert again.health == runner.health and again.health_fills == runner.health_fills
    fresh = health_runner(stores, [], slippage_ticks=201.0)
    fresh.restore_health(runner.health_memory())
    assert fresh.health_memory() == runner.health_memory()
