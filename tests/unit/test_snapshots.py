"""State snapshots: exact round trip, snapshot + tail equals a full fold, faults rejected."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from live.broker import OrderType, Outcome, Side
from live.events import (
    BarClosed,
    KillMode,
    KillSwitchChanged,
    Message,
    ModeChanged,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderModified,
    OrderRejected,
    OrderSubmitted,
    ReconciliationCompleted,
    TradingMode,
    client_key,
)
from live.journal import Journal, JournalCorruptError, open_journal
from live.snapshots import (
    SNAPSHOTS,
    SnapshotInputError,
    SnapshotStore,
    decode_state,
    encode_state,
    load_latest,
    restore_state,
    snapshot_store,
    write_snapshot,
)
from live.state import fold, in_doubt_orders, state_hash
from tests.unit.test_journal import sample_session

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 1, 6, 9, 20, tzinfo=IST)
TRACES = ("t0", "t1", "t2", "t3")
SYMBOLS = ("NIFTY25JANFUT", "BANKNIFTY25JANFUT")


def _event(kind: int, trace: str, n: int, price: float, side: Side, symbol: str) -> Message:
    """One of the fold's event kinds on a small set of traces (so they interact)."""
    ts, key = T0 + timedelta(minutes=n), client_key(trace)
    if kind == 0:
        return OrderIntended(trace_id=trace, ts_event=ts, client_key=key, strategy="ema",
                             version="3", symbol=symbol, exchange="NFO", side=side, qty=75,
                             order_type=OrderType.LIMIT, limit_price=price,
                             mode=TradingMode.LIVE, tradingsymbol=symbol,
                             expiry=date(2025, 1, 30) if n % 2 else None)
    if kind == 1:
        return OrderSubmitted(trace_id=trace, ts_event=ts, client_key=key,
                              broker_order_id=f"B{trace}", outcome=list(Outcome)[n % 3])
    if kind == 2:
        return OrderFilled(trace_id=trace, ts_event=ts, client_key=key,
                           broker_order_id=f"B{trace}", trade_id=f"X{n % 7}", symbol=symbol,
                           side=side, qty=25, price=price)
    if kind == 3:
        return OrderAcknowledged(trace_id=trace, ts_event=ts, client_key=key,
                                 broker_order_id=f"B{trace}")
    if kind == 4:
        return OrderCancelled(trace_id=trace, ts_event=ts, client_key=key,
                              broker_order_id=f"B{trace}", reason="cutoff")
    if kind == 5:
        return OrderRejected(trace_id=trace, ts_event=ts, client_key=key, reason="margin")
    if kind == 6:
        return OrderModified(trace_id=trace, ts_event=ts, client_key=key,
                             broker_order_id=f"B{trace}", trigger_price=price)
    if kind == 7:
        return BarClosed(trace_id="", ts_event=ts, symbol=symbol, open=price, high=price + 1,
                         low=price - 1, close=price, volume=float(n))
    if kind == 8:
        return KillSwitchChanged(trace_id="", ts_event=ts, scope="ema",
                                 mode=list(KillMode)[n % len(KillMode)], actor="ops",
                                 reason="test")
    if kind == 9:
        return ModeChanged(trace_id="", ts_event=ts, strategy="ema", mode=TradingMode.CANARY,
                           reason="start")
    return ReconciliationCompleted(trace_id="", ts_event=ts, clean=n % 2 == 0,
                                   issues=() if n % 2 == 0 else ("x",))


_EVENTS = st.lists(st.tuples(st.integers(0, 10), st.sampled_from(TRACES),
                             st.floats(100.0, 200.0, allow_nan=False).map(lambda p: round(p, 3)),
                             st.sampled_from(list(Side)), st.sampled_from(SYMBOLS)),
                   max_size=60)


@settings(max_examples=60, deadline=None)
@given(_EVENTS, st.integers(0, 60))
def test_snapshot_of_prefix_plus_tail_fold_equals_full_fold(
        spec: list[tuple[int, str, float, Side, str]], cut: int) -> None:
    messages = [_event(k, trace, n, price, side, sym)
                for n, (k, trace, price, side, sym) in enumerate(spec)]
    cut = min(cut, len(messages))
    restored = fold(messages[cut:], decode_state(encode_state(fold(messages[:cut]))))
    full = fold(messages)
    assert state_hash(restored) == state_hash(full)
    assert [o.client_key for o in in_doubt_orders(restored)] == \
        [o.client_key for o in in_doubt_orders(full)]


def _journal(tmp_path: Path, messages: list[Message]) -> Journal:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    journal.append_many(messages, ts_record=T0)
    return journal


def _snapshot_at(journal: Journal, messages: list[Message], seq: int,
                 store: SnapshotStore) -> None:
    entry_hash = dict(journal.hashes(seq, seq))[seq]
    write_snapshot(fold(messages[:seq]), seq, entry_hash, store)


def test_restore_from_snapshot_folds_only_the_tail_to_the_full_state(tmp_path: Path) -> None:
    messages = sample_session(20)
    journal = _journal(tmp_path, messages)
    store = snapshot_store(journal)
    _snapshot_at(journal, messages, 100, store)
    restored = restore_state(journal, store)
    assert (restored.snapshot_seq, restored.tail_events) == (100, len(messages) - 100)
    assert state_hash(restored.state) == state_hash(fold(messages))


def test_restore_without_snapshots_folds_everything(tmp_path: Path) -> None:
    messages = sample_session(5)
    journal = _journal(tmp_path, messages)
    restored = restore_state(journal, snapshot_store(journal))
    assert (restored.snapshot_seq, restored.tail_events, restored.rejected) == \
        (None, len(messages), [])


def _tamper(store: SnapshotStore, **values: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.update(SNAPSHOTS).values(**values))


@pytest.mark.parametrize(("change", "reason"), [
    ({"content_hash": "0" * 64}, "content hash mismatch"),
    ({"body": b'{"positions": []}'}, "content hash mismatch"),
    ({"entry_hash": "f" * 64}, "journal entry 30 has hash"),
    ({"schema_version": 99}, "schema version 99"),
])
def test_restore_with_a_bad_snapshot_rejects_it_and_folds_everything(
        tmp_path: Path, change: dict[str, object], reason: str) -> None:
    messages = sample_session(5)
    journal = _journal(tmp_path, messages)
    store = snapshot_store(journal)
    _snapshot_at(journal, messages, 30, store)
    _tamper(store, **change)
    restored = restore_state(journal, store)
    assert restored.snapshot_seq is None and restored.tail_events == len(messages)
    assert len(restored.rejected) == 1 and reason in restored.rejected[0]
    assert state_hash(restored.state) == state_hash(fold(messages))


def test_load_latest_with_a_snapshot_past_the_journal_head_rejects_it(tmp_path: Path) -> None:
    messages = sample_session(5)
    journal = _journal(tmp_path, messages)
    store = snapshot_store(journal)
    write_snapshot(fold(messages + messages[:2]), len(messages) + 2, "a" * 64, store)
    loaded, rejected = load_latest(store, journal)
    assert loaded is None and "no entry at seq" in rejected[0]


def test_load_latest_with_a_bad_newest_snapshot_uses_the_older_one(tmp_path: Path) -> None:
    messages = sample_session(10)
    journal = _journal(tmp_path, messages)
    store = snapshot_store(journal)
    _snapshot_at(journal, messages, 20, store)
    _snapshot_at(journal, messages, 40, store)
    with store.engine.begin() as conn:
        conn.execute(sa.update(SNAPSHOTS).where(SNAPSHOTS.c.seq == 40)
                     .values(content_hash="0" * 64))
    loaded, rejected = load_latest(store, journal)
    assert loaded is not None and loaded[1] == 20 and len(rejected) == 1


def test_write_snapshot_keeps_only_the_newest_k(tmp_path: Path) -> None:
    messages = sample_session(10)
    journal = _journal(tmp_path, messages)
    store = snapshot_store(journal, keep=2)
    for seq in (10, 20, 30):
        _snapshot_at(journal, messages, seq, store)
    assert [row.seq for row in store.newest_first()] == [30, 20]


def test_write_snapshot_of_a_state_at_another_position_refuses(tmp_path: Path) -> None:
    messages = sample_session(3)
    journal = _journal(tmp_path, messages)
    with pytest.raises(SnapshotInputError, match="folded 5 events"):
        write_snapshot(fold(messages[:5]), 6, "a" * 64, snapshot_store(journal))


def test_restore_with_an_edited_tail_entry_raises_naming_its_seq(tmp_path: Path) -> None:
    messages = sample_session(5)
    journal = _journal(tmp_path, messages)
    store = snapshot_store(journal)
    _snapshot_at(journal, messages, 10, store)
    with journal.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER journal_no_update")
        conn.exec_driver_sql("UPDATE journal SET hash = 'x' WHERE seq = 12")
    with pytest.raises(JournalCorruptError, match="seq 12: hash mismatch"):
        restore_state(journal, store)


def test_snapshot_round_trips_the_execution_algos_parent_orders() -> None:
    from live.events import ParentOrderFinished, ParentOrderStarted

    t0 = datetime(2025, 3, 3, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    started = [ParentOrderStarted(trace_id=f"p{i}", ts_event=t0, strategy="ema_cross",
                                  version="3", symbol="NIFTY", side=Side.BUY, qty=300,
                                  lot_size=75, algo='{"name": "twap"}', arrival_price=24_000.5,
                                  deadline=t0 + timedelta(minutes=20),
                                  schedule=("10:00:00 75", "10:05:00 225"))
               for i in range(2)]
    finished = ParentOrderFinished(trace_id="p0", ts_event=t0, strategy="ema_cross",
                                   symbol="NIFTY", filled_qty=225, remainder_qty=75,
                                   outcome="cancel")
    state = fold([*started, finished])
    restored = decode_state(encode_state(state))
    assert state_hash(restored) == state_hash(state)
    assert restored.parents == state.parents and restored.parent_outcomes == state.parent_outcomes
