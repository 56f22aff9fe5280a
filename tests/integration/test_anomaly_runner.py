"""The anomaly detectors on the runtime path: the runner over the synthetic NSE minute bars
(2025-03-03 NIFTY), a SQLite journal and the paper exchange. EMA cross goes short at bar 22,
long at 30 and short again at 32 (two direction changes within ten minutes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from live.adapters.paper import FillModel, PaperExchange
from live.anomaly.base import ALERT_CODES, ORDER_STUCK, SIGNAL_FLIP_FLOP, AnomalyThresholds
from live.anomaly.flip_flop import FlipFlop
from live.db import make_engine
from live.events import AlertRaised, SignalRaised
from live.journal import open_journal
from live.runner.deployments import build
from live.runner.feed import FeedBar, Idle, replay_bars, replay_frame
from live.runner.runner import Runner
from live.runner.snapshotting import SnapshotCadence
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.synthetic_datasets import nse_index_1m_path


def clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def runner_in(folder: Path, thresholds: AnomalyThresholds | None) -> Runner:
    spec = get_strategy("ema_cross")
    config = {"strategy": "ema_cross", "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0,
                      "tick_size": 0.05}}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    runner = Runner(journal=open_journal(f"sqlite:///{folder / 'journal.db'}", clock=clock),
                    broker=exchange, deployed=[deployed], mode="live", clock=clock,
                    risk=PassThroughRisk(), anomaly=thresholds,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    return runner


def bars(count: int) -> list[FeedBar]:
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], date(2025, 3, 3), date(2025, 3, 3))
    return list(replay_bars(frame))[:count]


def alerts(runner: Runner) -> list[AlertRaised]:
    return [m for _, m in runner.journal.read() if isinstance(m, AlertRaised)]


def test_flip_flop_fires_through_the_runner_and_is_journaled_under_its_trace(
        tmp_path: Path) -> None:
    runner = runner_in(tmp_path, AnomalyThresholds(max_direction_changes=1))
    runner.run(bars(40))
    found = [a for a in alerts(runner) if a.code == SIGNAL_FLIP_FLOP]
    signals = {m.trace_id: m for _, m in runner.journal.read() if isinstance(m, SignalRaised)}
    assert len(found) == 1
    assert found[0].severity is ALERT_CODES[SIGNAL_FLIP_FLOP][0]
    assert signals[found[0].trace_id].ts_event == found[0].ts_event  # the third entry's


def test_default_thresholds_find_nothing_in_a_normal_session(tmp_path: Path) -> None:
    runner = runner_in(tmp_path, None)
    runner.run(bars(120))
    assert [a.code for a in alerts(runner) if a.code in ALERT_CODES] == []


def test_restart_does_not_raise_a_journaled_anomaly_again(tmp_path: Path) -> None:
    first = runner_in(tmp_path, AnomalyThresholds(max_direction_changes=1))
    first.run(bars(40))
    second = runner_in(tmp_path, AnomalyThresholds(max_direction_changes=1))
    second.run(bars(45)[39:])  # the last journaled bar again, then new ones
    assert [a.code for a in alerts(second)].count(SIGNAL_FLIP_FLOP) == 1


def test_stuck_order_found_between_bars_on_an_idle_marker(tmp_path: Path) -> None:
    runner = runner_in(tmp_path, AnomalyThresholds(stuck_order_seconds=300))
    feed = bars(23)  # the first entry is intended at the close of bar 22: nothing fills it
    runner.run([*feed, Idle(feed[-1].ts + timedelta(seconds=299))])
    assert [a.code for a in alerts(runner)] == []
    runner.run([Idle(feed[-1].ts + timedelta(seconds=301))])
    (stuck,) = [a for a in alerts(runner) if a.code == ORDER_STUCK]
    (working,) = runner.state.working.values()
    assert stuck.trace_id == working.trace_id


def test_restart_from_a_snapshot_does_not_raise_a_journaled_anomaly_again(
        tmp_path: Path) -> None:
    """The detectors are not in a snapshot: a restart from one re-learns the entries before
    it (live.runner.recovery.WARM_ENTRIES), so the flip-flop alerted before the snapshot is
    not alerted again when the same bars come back."""
    from live.runner.fold_memory import fold_fingerprint, fold_memory
    from live.snapshots import snapshot_store, write_snapshot

    first = runner_in(tmp_path, AnomalyThresholds(max_direction_changes=1))
    first.run(bars(40))
    fingerprint = fold_fingerprint(first)
    assert fingerprint is not None
    store = snapshot_store(first.journal, keep=2)
    store.create()
    folded = runner_in(tmp_path, AnomalyThresholds(max_direction_changes=1))  # a full fold
    seq, entry_hash = folded.journal.head()
    write_snapshot(folded.state, seq, entry_hash, store, runner=fold_memory(folded),
                   fingerprint=fingerprint)
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=clock)
    second = Runner(journal=journal, broker=folded.broker, deployed=folded.deployed,
                    mode="live", clock=clock, risk=PassThroughRisk(),
                    anomaly=AnomalyThresholds(max_direction_changes=1),
                    snapshots=SnapshotCadence(journal, every_events=10_000),
                    market=lambda b: None)
    second.recover()
    assert second.resumed_at == seq  # restored from the snapshot, not a full fold
    (flips,) = [d for d in second.anomaly.detectors if isinstance(d, FlipFlop)]
    (folded_flips,) = [d for d in folded.anomaly.detectors if isinstance(d, FlipFlop)]
    assert flips.alerted == folded_flips.alerted == {("ema_cross", "NIFTY")}
    assert flips.last == folded_flips.last
    second.run(bars(45)[39:])
    assert [a.code for a in alerts(second)].count(SIGNAL_FLIP_FLOP) == 1
