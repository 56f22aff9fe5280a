"""A runner restarts from a schema-3 snapshot (state plus everything else the journal's fold
rebuilds) and the journal's tail, and ends exactly where a full fold ends.

The journal is a real paper session over two days on the synthetic NIFTY minute bars: TWAP
parents working entries, exits, a broker rejection, guardrails firing (soft and hard
drawdown, session lockouts), a desk halt and its re-arm. Equality is checked on
:func:`~live.runner.fold_memory.fold_digest` - the state, the bar history, intents, the
risk engine's and guardrails' memory, kill gate, protection facts, entry counts, alerts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.events import (
    AlertRaised,
    KillSwitchChanged,
    OrderRejected,
    OrderSubmitted,
    ParentOrderStarted,
    TradeExited,
)
from live.governance.kill import KillCommand
from live.risk.guardrails import Guardrails
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import build, cost_rates
from live.runner.fold_memory import fold_digest, fold_fingerprint, fold_memory
from live.runner.intent_book import IntentBook
from live.runner.runner import Runner
from live.runner.snapshotting import SnapshotCadence
from live.snapshots import (
    SNAPSHOT_REJECTED,
    SNAPSHOTS,
    encode_state,
    restore_state,
    snapshot_store,
    write_snapshot,
)
from strategies.version_config import VersionConfig
from tests.unit.test_runner_engine import Stores, day_bars, record_clock
from tests.unit.test_runner_parent_orders import ALGOS, algo_stores

LIMITS = load_risk_limits(Path(__file__).resolve().parents[2] / "risk.yaml")
CAPITAL_INR = 40_000.0  # small: a 2-lot position's swings fire the drawdown bands
EVERY = 40

Make = Callable[..., Runner]


def runner_factory(stores: Stores, desk: list[KillCommand]) -> Make:
    """New runners over ``stores`` (a PreTrade risk engine and guardrails of their own)."""

    def make(snapshots: SnapshotCadence | None = None,
             capital_inr: float = CAPITAL_INR) -> Runner:
        exchange = stores.exchange()
        deployed = build(VersionConfig.from_json(stores.config), 1, "live", 1.0, "0" * 64)
        return Runner(journal=stores.journal(), broker=exchange, deployed=[deployed],
                      mode="live", clock=record_clock, risk=PreTradeRiskEngine(LIMITS),
                      guardrails=Guardrails(LIMITS, {"ema_cross": capital_inr},
                                            costs=cost_rates([deployed])),
                      kill_commands=lambda after: [c for c in desk if c.id > after],
                      snapshots=snapshots, market=lambda b: exchange.on_bar(
                          b.symbol, b.ts, b.open, b.high, b.low, b.close))
    return make


def paper_session(folder: Path, *, follow: bool) -> tuple[Stores, Make]:
    """Two days: day 1 with a rejected first submit and a desk halt at bar 80, day 2 after
    the halt's re-arm. ``follow``: snapshots every ``EVERY`` entries with a follower."""
    stores = algo_stores(folder, ALGOS["twap"], lots=2)
    desk: list[KillCommand] = []
    make = runner_factory(stores, desk)

    def cadence() -> SnapshotCadence | None:
        return SnapshotCadence(stores.journal(), every_events=EVERY, keep=100,
                               follower=lambda _: make()) if follow else None

    stores.exchange().set_faults(reject_next=1)
    bars = day_bars(120)
    runner = make(cadence())
    runner.recover()
    runner.run(bars[:80])
    desk.append(KillCommand(1, "ema_cross", "halt", "ops", "test", str(bars[79].ts)))
    runner.run(bars[80:])
    desk.append(KillCommand(2, "ema_cross", "off", "ops", "re-arm", str(bars[-1].ts),
                            after_command=1, nonce="a" * 32))
    runner = make(cadence())
    runner.recover()
    runner.run(day_bars(60, start=date(2025, 3, 4)))
    return stores, make


def full_fold(make: Make) -> str:
    runner = make()
    runner.fold_journal()
    return fold_digest(runner)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, Make, str]:
    stores, make = paper_session(tmp_path_factory.mktemp("fold_session"), follow=False)
    return stores, make, full_fold(make)


@pytest.fixture
def copied(session: tuple[Stores, Make, str], tmp_path: Path) -> tuple[Stores, Make, str]:
    """The session's stores copied: a test may write snapshots and restart runners."""
    stores, _, digest = session
    shutil.copytree(stores.folder, tmp_path / "stores")
    twin = Stores(tmp_path / "stores", stores.config)
    return twin, runner_factory(twin, []), digest


def snapshot_at(make: Make, cut: int) -> None:
    """Fold entries 1..``cut`` and store that fold (state and runner memory) as the only
    snapshot."""
    runner = make()
    runner.fold_journal(upto=cut)
    store = snapshot_store(runner.journal, keep=5)
    store.create()
    with store.engine.begin() as conn:
        conn.execute(SNAPSHOTS.delete())
    seq, entry_hash = runner.journal_position
    fingerprint = fold_fingerprint(runner)
    assert seq == cut and fingerprint is not None
    write_snapshot(runner.state, seq, entry_hash, store, runner=fold_memory(runner),
                   fingerprint=fingerprint)


def restart_from(make: Make) -> tuple[Runner, list[str], int]:
    """A new runner: the newest trusted snapshot, then the tail; with the rejections and
    the seq the fold resumed after (0: a full fold)."""
    runner = make()
    rejected = runner.restore_snapshot(snapshot_store(runner.journal))
    resumed_after = runner.journal_position[0]
    runner.fold_journal()
    return runner, rejected, resumed_after


def restart(make: Make) -> tuple[Runner, list[str]]:
    runner, rejected, _ = restart_from(make)
    return runner, rejected


def test_paper_session_journal_holds_every_kind_of_runner_fact(
        session: tuple[Stores, Make, str]) -> None:
    stores, _, _ = session
    kinds = {type(m) for m in stores.messages()}
    assert {ParentOrderStarted, TradeExited, KillSwitchChanged} <= kinds
    assert kinds & {OrderSubmitted, OrderRejected}
    alerts = {m.code for m in stores.messages(AlertRaised)}  # type: ignore[attr-defined]
    reasons = [m.reason for m in stores.messages(KillSwitchChanged)]  # type: ignore[attr-defined]
    assert {"entry_rejected", "soft_drawdown"} <= alerts
    assert any("[guard:hard:" in r for r in reasons) and any(r.startswith("K1:") for r in reasons)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0.0, 1.0))
def test_runner_restart_from_a_snapshot_at_any_cut_equals_a_full_fold(
        copied: tuple[Stores, Make, str], fraction: float) -> None:
    stores, make, full = copied
    head = stores.journal().head()[0]
    cut = 1 + round(fraction * (head - 1))
    snapshot_at(make, cut)
    runner, rejected = restart(make)
    assert not rejected
    assert fold_digest(runner) == full


def test_runner_restart_from_a_snapshot_folds_only_the_tail(
        copied: tuple[Stores, Make, str]) -> None:
    stores, make, _ = copied
    head = stores.journal().head()[0]
    snapshot_at(make, head - 7)
    runner = make()
    runner.restore_snapshot(snapshot_store(runner.journal))
    assert runner.journal_position[0] == head - 7 and runner.fold_journal() == 7


def test_runner_session_with_a_follower_snapshots_a_restart_equal_to_a_full_fold(
        tmp_path: Path) -> None:
    stores, make = paper_session(tmp_path, follow=True)
    store = snapshot_store(stores.journal())
    seqs = sorted(row.seq for row in store.newest_first())
    assert len(seqs) >= 4 and seqs[-1] == stores.journal().head()[0]
    full = full_fold(make)
    for seq in reversed(seqs[1:]):  # each snapshot in turn the newest: newer ones dropped
        runner, rejected, resumed_after = restart_from(make)
        assert not rejected and resumed_after == seq
        assert fold_digest(runner) == full
        with store.engine.begin() as conn:
            conn.execute(SNAPSHOTS.delete().where(SNAPSHOTS.c.seq == seq))
    runner = make(SnapshotCadence(stores.journal(), every_events=EVERY))
    runner.recover()  # the start path itself: from the oldest one left, no alert
    assert runner.resumed_at == seqs[0]
    assert not [m for m in stores.messages(AlertRaised)
                if m.code == SNAPSHOT_REJECTED]  # type: ignore[attr-defined]


def test_runner_restart_with_a_wrong_hash_snapshot_folds_everything(
        copied: tuple[Stores, Make, str]) -> None:
    stores, make, full = copied
    snapshot_at(make, 100)
    with stores.journal().engine.begin() as conn:
        conn.execute(sa.update(SNAPSHOTS).values(content_hash="0" * 64))
    runner, rejected = restart(make)
    assert len(rejected) == 1 and "content hash mismatch" in rejected[0]
    assert fold_digest(runner) == full


def test_runner_recover_with_a_wrong_hash_snapshot_journals_snapshot_rejected(
        copied: tuple[Stores, Make, str]) -> None:
    stores, make, _ = copied
    snapshot_at(make, 100)
    with stores.journal().engine.begin() as conn:
        conn.execute(sa.update(SNAPSHOTS).values(content_hash="0" * 64))
    make(SnapshotCadence(stores.journal(), every_events=EVERY)).recover()
    (alert,) = [m for m in stores.messages(AlertRaised)
                if m.code == SNAPSHOT_REJECTED]  # type: ignore[attr-defined]
    assert "content hash mismatch" in alert.message  # type: ignore[attr-defined]


def test_runner_restart_over_a_schema_2_snapshot_folds_everything_and_says_why(
        copied: tuple[Stores, Make, str]) -> None:
    stores, make, full = copied
    folded = make()
    folded.fold_journal(upto=100)
    store = snapshot_store(folded.journal)
    store.create()
    store.put(100, folded.journal_position[1], encode_state(folded.state), schema_version=2)
    runner, rejected = restart(make)
    assert len(rejected) == 1 and "schema 2 holds no runner memory" in rejected[0]
    assert fold_digest(runner) == full
    assert restore_state(stores.journal(), store).snapshot_seq == 100  # replay still reads it


def test_runner_restart_under_another_configuration_folds_everything(
        copied: tuple[Stores, Make, str]) -> None:
    _, make, _ = copied
    snapshot_at(make, 100)
    other = make(capital_inr=2 * CAPITAL_INR)
    rejected = other.restore_snapshot(snapshot_store(other.journal))
    assert len(rejected) == 1 and "another runner configuration" in rejected[0]
    assert other.journal_position[0] == 0 and not other.history


def test_runner_restart_over_runner_memory_that_does_not_decode_leaves_the_runner_unchanged(
        copied: tuple[Stores, Make, str]) -> None:
    _, make, full = copied
    folded = make()
    folded.fold_journal(upto=100)
    memory = fold_memory(folded)
    memory["guardrails"]["peak"] = {"ema_cross": "high"}  # read last, after the history
    store = snapshot_store(folded.journal)
    seq, entry_hash = folded.journal_position
    write_snapshot(folded.state, seq, entry_hash, store, runner=memory,
                   fingerprint=fold_fingerprint(folded))
    runner, rejected = restart(make)
    assert len(rejected) == 1 and "runner memory does not decode" in rejected[0]
    assert fold_digest(runner) == full


def test_runner_restored_intents_decode_to_the_journaled_ones(
        copied: tuple[Stores, Make, str]) -> None:
    stores, make, _ = copied
    snapshot_at(make, stores.journal().head()[0])
    restored, _ = restart(make)
    folded = make()
    folded.fold_journal()
    keys = [r["fields"]["client_key"] for r in folded.executor.intents.records()]
    assert len(keys) >= 4
    assert all(restored.executor.intents.get(k) == folded.executor.intents.get(k) for k in keys)


def test_intent_book_refuses_a_record_that_is_not_an_intent() -> None:
    with pytest.raises(ValueError, match="not an OrderIntended"):
        IntentBook().restore([{"kind": "BarClosed", "fields": {"client_key": "k"}}])
