"""Entries worked by execution algos in the runner, on the synthetic NIFTY minute bars, a
SQLite journal and the paper exchange: children on the parent's trace, limit first, the
deadline's remainder, exits at market, refusals, and a crash/restart sending no child twice.

EMA cross (defaults) enters short at the close of 2025-03-03's bar 22 (09:37) and exits at
bar 30 (09:45); the warmed runs trade 2025-03-04 after a warm-up of 2025-03-03's first hour
(the volume profile VWAP and POV learn from).
"""

from __future__ import annotations

import functools
import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from live.broker import OrderType, Side
from live.events import (
    AlertRaised,
    BarClosed,
    Message,
    OrderIntended,
    ParentOrderFinished,
    ParentOrderStarted,
)
from live.governance.kill import KillCommand
from live.runner.feed import FeedItem, WarmBar
from live.runner.parent_orders import child_key
from live.runner.runner import Runner
from live.state import trading_state_hash
from tests.doubles import submitted_count
from tests.unit.test_runner_engine import (
    FIRST_ENTRY,
    ProcessKilled,
    Stores,
    day_bars,
    strategy_config,
)

ALGOS: dict[str, dict[str, Any]] = {
    "twap": {"name": "twap", "horizon_minutes": 10, "child_count": 4, "randomise_pct": 20.0},
    "vwap": {"name": "vwap", "horizon_minutes": 10, "child_count": 4, "randomise_pct": 20.0},
    "pov": {"name": "pov", "horizon_minutes": 10, "child_count": 5, "participation_pct": 5.0},
    "is": {"name": "is", "horizon_minutes": 12, "child_count": 4, "risk_aversion": 500.0},
}
WARM_BARS, DAY2_BARS = 45, 30


def algo_stores(folder: Path, execution: dict[str, Any], lots: int = 4) -> Stores:
    folder.mkdir(parents=True, exist_ok=True)
    config = strategy_config()
    config["sim"] = {**config["sim"], "qty_lots": lots}
    config["execution"] = execution
    return Stores(folder, config)


def warmed_feed() -> list[FeedItem]:
    """2025-03-03's first hour as warm-up bars, then 2025-03-04's first bars."""
    warm: list[FeedItem] = [WarmBar(b) for b in day_bars(WARM_BARS)]
    return warm + list(day_bars(DAY2_BARS, start=date(2025, 3, 4)))


def run_feed(stores: Stores, feed: list[FeedItem]) -> Runner:
    """A new process's runner over ``stores``, recovered, fed ``feed``."""
    runner = stores.runner()
    runner.recover()
    runner.run(feed)
    return runner


def _of(stores: Stores, kind: type) -> list[Any]:
    return stores.messages(kind)


@functools.cache
def clean_run(algo: str) -> tuple[str, list[Message], dict[str, int]]:
    """An uninterrupted warmed run of ``algo``: trading-state hash, journal, submits per key."""
    stores = algo_stores(Path(tempfile.mkdtemp(prefix=f"algo-{algo}-")), ALGOS[algo])
    runner = run_feed(stores, warmed_feed())
    exchange = stores.exchange()
    submits = {k: submitted_count(exchange, k) for k in runner.state.orders}
    return trading_state_hash(runner.state), stores.messages(), submits


@pytest.mark.parametrize("algo", list(ALGOS))
def test_runner_algo_entry_children_on_parent_trace_sum_to_parent(algo: str) -> None:
    _, messages, submits = clean_run(algo)
    parents = [m for m in messages if isinstance(m, ParentOrderStarted)]
    finished = {m.trace_id: m for m in messages if isinstance(m, ParentOrderFinished)}
    assert parents and all(p.trace_id in finished for p in parents[:-1])
    for parent in parents:
        children = [m for m in messages if isinstance(m, OrderIntended)
                    and m.trace_id == parent.trace_id]
        assert children and all(c.qty % 75 == 0 for c in children)
        assert sum(c.qty for c in children) >= sum(
            int(s.partition("@")[0]) for s in parent.schedule[:1])
        assert {c.client_key for c in children} <= {
            child_key(parent.trace_id, i) for i in [*range(len(parent.schedule)), 999_999]}
        end = finished.get(parent.trace_id)
        if end is not None and end.outcome == "complete":
            assert end.filled_qty == parent.qty and end.remainder_qty == 0
    assert set(submits.values()) == {1}


@pytest.mark.parametrize("algo", list(ALGOS))
def test_runner_algo_children_limit_first_within_slippage_guard(algo: str) -> None:
    _, messages, _ = clean_run(algo)
    arrival = {m.trace_id: m for m in messages if isinstance(m, ParentOrderStarted)}
    limits = [m for m in messages if isinstance(m, OrderIntended) and m.trace_id in arrival
              and m.order_type is OrderType.LIMIT]
    assert limits
    for child in limits:
        parent = arrival[child.trace_id]
        guard = parent.arrival_price * 50.0 / 10_000.0  # the default slippage_guard_bps
        assert child.limit_price is not None
        if child.side is Side.BUY:
            assert child.limit_price <= parent.arrival_price + guard
        else:
            assert child.limit_price >= parent.arrival_price - guard


def test_runner_pov_child_within_participation_of_bar_volume() -> None:
    _, messages, _ = clean_run("pov")
    volume = {m.ts_event: m.volume for m in messages if isinstance(m, BarClosed)}
    parents = {m.trace_id for m in messages if isinstance(m, ParentOrderStarted)}
    children = [m for m in messages if isinstance(m, OrderIntended)
                and m.trace_id in parents and m.order_type is OrderType.LIMIT]
    assert children
    assert all(c.qty <= 0.05 * volume[c.ts_event] for c in children)


class CrashAfter:
    """A crash hook standing for a SIGKILL the ``count``-th time ``point`` is reached."""

    def __init__(self, point: str, count: int) -> None:
        self.point, self.count, self.seen = point, count, 0

    def __call__(self, point: str) -> None:
        if point == self.point:
            self.seen += 1
            if self.seen == self.count:
                raise ProcessKilled


@pytest.mark.parametrize("algo", list(ALGOS))
def test_runner_algo_crash_restart_sends_no_child_twice(algo: str, tmp_path: Path) -> None:
    clean_hash, _, _ = clean_run(algo)
    stores = algo_stores(tmp_path, ALGOS[algo])
    with pytest.raises(ProcessKilled):  # between a child's intent and its submit
        dying = stores.runner(crash_hook=CrashAfter("after_intent", 3))
        dying.recover()
        dying.run(warmed_feed())
    restarted = run_feed(stores, warmed_feed())
    exchange = stores.exchange()
    assert {submitted_count(exchange, k) for k in restarted.state.orders} == {1}
    assert trading_state_hash(restarted.state) == clean_hash


def _day1(execution: dict[str, Any], bars: int, folder: Path) -> Stores:
    stores = algo_stores(folder, execution)
    stores.run(day_bars(bars))
    return stores


def test_runner_algo_exit_goes_at_market_and_stops_the_parent(tmp_path: Path) -> None:
    stores = _day1(ALGOS["twap"], FIRST_ENTRY + 9, tmp_path)  # the exit at bar 30 (09:45)
    (first, *_) = _of(stores, ParentOrderStarted)
    (end, *_) = _of(stores, ParentOrderFinished)
    assert end.trace_id == first.trace_id and end.outcome == "stopped"
    exits = [m for m in _of(stores, OrderIntended) if m.trace_id != first.trace_id
             and m.side is not first.side]
    assert exits and exits[0].order_type is OrderType.MARKET
    assert end.filled_qty + end.remainder_qty == first.qty


def _deadline_run(on_deadline: str, folder: Path) -> Stores:
    return _day1({"name": "twap", "horizon_minutes": 4, "child_count": 2,
                  "limit_offset_ticks": 100, "on_deadline": on_deadline}, FIRST_ENTRY + 7,
                 folder)


def test_runner_algo_deadline_cancel_reports_remainder_and_alerts(tmp_path: Path) -> None:
    stores = _deadline_run("cancel", tmp_path)
    (end,) = _of(stores, ParentOrderFinished)
    assert end.outcome == "cancel" and end.remainder_qty > 0
    assert end.filled_qty + end.remainder_qty == 300
    assert any(a.code == "parent_remainder" for a in _of(stores, AlertRaised))
    assert all(m.order_type is OrderType.LIMIT for m in _of(stores, OrderIntended))


def test_runner_algo_deadline_market_sends_remainder_at_market(tmp_path: Path) -> None:
    stores = _deadline_run("market", tmp_path)
    (end,) = _of(stores, ParentOrderFinished)
    final = [m for m in _of(stores, OrderIntended) if m.order_type is OrderType.MARKET]
    assert end.outcome == "market" and [m.qty for m in final] == [end.remainder_qty]
    assert final[0].client_key == child_key(end.trace_id, 999_999)


@pytest.mark.parametrize(("execution", "why"), [
    ({"name": "twap", "horizon_minutes": 375, "child_count": 5}, "after the cutoff"),
    ({"name": "vwap", "horizon_minutes": 10, "child_count": 2}, "no volume history"),
])
def test_runner_algo_refused_plan_sends_nothing_and_alerts(
        execution: dict[str, Any], why: str, tmp_path: Path) -> None:
    stores = _day1(execution, FIRST_ENTRY + 2, tmp_path)  # day 1: no earlier session
    refused = [a for a in _of(stores, AlertRaised) if a.code == "parent_refused"]
    assert refused and why in refused[0].message
    assert not _of(stores, OrderIntended) and not _of(stores, ParentOrderStarted)


def test_runner_algo_halt_kill_stops_the_parent_and_its_children(tmp_path: Path) -> None:
    bars = day_bars(FIRST_ENTRY + 6)
    stores = algo_stores(tmp_path, ALGOS["twap"])
    desk: list[KillCommand] = []
    runner = stores.runner(kill_commands=lambda after: [c for c in desk if c.id > after])
    runner.recover()
    runner.run(bars[:FIRST_ENTRY + 3])  # the parent started at bar 22, a child or two sent
    desk.append(KillCommand(1, "ema_cross", "halt", "ops", "test", str(bars[-3].ts)))
    runner.run(bars[FIRST_ENTRY + 3:])
    (end,) = _of(stores, ParentOrderFinished)
    assert end.outcome == "stopped" and "kill switch" in next(
        a.message for a in _of(stores, AlertRaised) if a.code == "parent_remainder")
    assert not [m for m in _of(stores, OrderIntended) if m.ts_event > end.ts_event]


def test_runner_algo_protective_stop_fill_stops_the_parent(tmp_path: Path) -> None:
    stores = algo_stores(tmp_path, {"name": "twap", "horizon_minutes": 10, "child_count": 4})
    stores.config["sim"] = {**stores.config["sim"], "stop_points": 30.0}
    stores.run(day_bars(FIRST_ENTRY + 8))  # the short's stop fills at 09:44, a child due
    (end,) = _of(stores, ParentOrderFinished)
    assert end.outcome == "stopped" and end.remainder_qty > 0
    assert not [m for m in _of(stores, OrderIntended) if m.ts_event >= end.ts_event
                and not m.protective]


def test_runner_market_version_journals_no_parent(tmp_path: Path) -> None:
    stores = algo_stores(tmp_path, {"name": "market"})
    stores.run(day_bars(FIRST_ENTRY + 2))
    (intent,) = _of(stores, OrderIntended)
    assert intent.order_type is OrderType.MARKET and not _of(stores, ParentOrderStarted)


def test_runner_algo_spec_journaled_with_parent(tmp_path: Path) -> None:
    stores = _day1(ALGOS["twap"], FIRST_ENTRY + 2, tmp_path)
    (parent,) = _of(stores, ParentOrderStarted)
    assert json.loads(parent.algo)["name"] == "twap" and parent.qty == 300

