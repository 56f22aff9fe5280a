"""The journal: durable appends, group commit, streaming reads, tamper-evident chain."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from live.broker import OrderType, Outcome, Side
from live.canonical import canonical_json
from live.events import (
    BarClosed,
    EventEncodeError,
    GovernanceDecided,
    KillMode,
    KillSwitchChanged,
    Message,
    ModeChanged,
    OrderAcknowledged,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    PositionChanged,
    RiskChecked,
    SignalRaised,
    SignalSide,
    TradeExited,
    TradingMode,
    client_key,
    new_trace_id,
    to_record,
)
from live.hashchain import GENESIS, entry_hash
from live.journal import (
    READ_BATCH_ROWS,
    Journal,
    JournalCorruptError,
    JournalInputError,
    JournalWriteError,
    hashed_body,
    open_journal,
    raw_entry_hash,
)
from live.state import LiveState
from tests.unit.test_events import ANY_MESSAGE

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 1, 6, 9, 15, tzinfo=IST)
STRATEGIES = ("ema_cross", "atr_reversal")


def sample_session(trades: int, *, start: datetime = T0) -> list[Message]:
    """A realistic, deterministic day: modes, bars, signals, checks, round-trip orders with
    fills and position updates (computed by the fold itself), and one intent left in doubt."""
    state = LiveState()
    out: list[Message] = []

    def emit(message: Message) -> None:
        state.apply(message)
        out.append(message)

    for name in STRATEGIES:
        emit(ModeChanged(trace_id="", ts_event=start, strategy=name, mode=TradingMode.CANARY,
                         reason="promoted"))
    emit(KillSwitchChanged(trace_id="", ts_event=start, scope="all", mode=KillMode.OFF,
                           actor="ops", reason="session open"))
    for i in range(trades):
        ts = start + timedelta(minutes=i + 1)
        strategy, symbol = STRATEGIES[i % 2], ("NIFTY25JANFUT", "BANKNIFTY25JANFUT")[i % 2]
        price = 23_500.0 + (i % 17) * 2.5 - (i % 5) * 1.05
        emit(BarClosed(trace_id="", ts_event=ts, symbol=symbol, open=price - 1, high=price + 3,
                       low=price - 4, close=price, volume=1_000.0 + i))
        for leg, (side, fill_price) in enumerate(((Side.BUY, price), (Side.SELL, price + 1.75))):
            trace = new_trace_id(strategy, symbol, ts, leg)
            _round_trip(emit, state, trace, ts + timedelta(seconds=leg * 30), strategy, symbol,
                        side, fill_price)
        emit(TradeExited(trace_id=trace, ts_event=ts + timedelta(seconds=40), strategy=strategy,
                         symbol=symbol, reason="exit", pnl_inr=1.75 * 75))
    trace = new_trace_id("ema_cross", "NIFTY25JANFUT", start + timedelta(hours=6), 0)
    emit(OrderIntended(trace_id=trace, ts_event=start + timedelta(hours=6),
                       client_key=client_key(trace), strategy="ema_cross", version="3",
                       symbol="NIFTY25JANFUT", exchange="NFO", side=Side.BUY, qty=75,
                       order_type=OrderType.MARKET, mode=TradingMode.CANARY))
    return out


def _round_trip(emit: Callable[[Message], None], state: LiveState, trace: str, ts: datetime,
                strategy: str, symbol: str, side: Side, price: float) -> None:
    key = client_key(trace)
    signal = SignalSide.LONG if side is Side.BUY else SignalSide.FLAT
    reason = "entry" if side is Side.BUY else "exit"
    emit(SignalRaised(trace_id=trace, ts_event=ts, strategy=strategy, version="3",
                      symbol=symbol, side=signal, reason=reason))
    emit(GovernanceDecided(trace_id=trace, ts_event=ts, strategy=strategy, version="3",
                           allowed=True, reason="canary within limits"))
    emit(RiskChecked(trace_id=trace, ts_event=ts, strategy=strategy, symbol=symbol,
                     passed=True, check="max_position", reason=""))
    emit(OrderIntended(trace_id=trace, ts_event=ts, client_key=key, strategy=strategy,
                       version="3", symbol=symbol, exchange="NFO", side=side, qty=75,
                       order_type=OrderType.MARKET, mode=TradingMode.CANARY))
    broker_id = f"B{key[2:]}"
    emit(OrderSubmitted(trace_id=trace, ts_event=ts, client_key=key,
                        broker_order_id=broker_id, outcome=Outcome.CONFIRMED))
    emit(OrderAcknowledged(trace_id=trace, ts_event=ts, client_key=key,
                           broker_order_id=broker_id))
    for part, qty in enumerate((50, 25)):
        emit(OrderFilled(trace_id=trace, ts_event=ts + timedelta(seconds=1 + part),
                         client_key=key, broker_order_id=broker_id, trade_id=f"{key}-{part}",
                         symbol=symbol, side=side, qty=qty, price=price))
    pos = state.positions[(strategy, symbol)]
    emit(PositionChanged(trace_id=trace, ts_event=ts + timedelta(seconds=2),
                         strategy=strategy, symbol=symbol, net_qty=pos.net_qty,
                         avg_price=pos.avg_price, realised_pnl_inr=pos.realised_pnl_inr))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture()
def journal(tmp_path: Path) -> Journal:
    return open_journal(sqlite_url(tmp_path / "journal.db"), clock=lambda: T0)


def _raw(journal: Journal, *statements: str) -> None:
    with journal.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _untrigger(journal: Journal) -> None:
    _raw(journal, "DROP TRIGGER journal_no_update", "DROP TRIGGER journal_no_delete")


# --- appending and reading ----------------------------------------------------------------

def test_append_returns_consecutive_seqs_and_read_returns_the_messages(
        journal: Journal) -> None:
    messages = sample_session(2)
    seqs = [journal.append(m) for m in messages]
    assert seqs == list(range(1, len(messages) + 1))
    assert list(journal.read()) == list(zip(seqs, messages, strict=True))


def test_append_many_commits_a_batch_and_returns_its_seqs(journal: Journal) -> None:
    messages = sample_session(3)
    journal.append(messages[0])
    assert journal.append_many(messages[1:]) == list(range(2, len(messages) + 1))
    assert [m for _, m in journal.read()] == messages


def test_append_many_of_nothing_writes_nothing(journal: Journal) -> None:
    assert journal.append_many([]) == []
    assert journal.head() == (0, GENESIS)


def test_read_from_a_seq_starts_there(journal: Journal) -> None:
    messages = sample_session(2)
    journal.append_many(messages)
    assert [seq for seq, _ in journal.read(from_seq=5)] == list(range(5, len(messages) + 1))


def test_read_streams_across_page_boundaries(journal: Journal) -> None:
    bars = [BarClosed(trace_id="", ts_event=T0 + timedelta(seconds=i), symbol="NIFTY",
                      open=1.0, high=2.0, low=0.5, close=1.5, volume=float(i))
            for i in range(2 * READ_BATCH_ROWS + 3)]
    journal.append_many(bars)
    seen = [(seq, m.volume) for seq, m in journal.read()]  # type: ignore[attr-defined]
    assert seen == [(i + 1, float(i)) for i in range(len(bars))]


def test_head_is_genesis_when_empty_and_the_last_hash_after_appends(journal: Journal) -> None:
    assert journal.head() == (0, GENESIS)
    journal.append_many(sample_session(1))
    seq, digest = journal.head()
    with journal.engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT seq, hash FROM journal ORDER BY seq DESC").first()
    assert (seq, digest) == tuple(last)


def test_record_time_comes_from_the_argument_or_the_injected_clock(tmp_path: Path) -> None:
    stamps = iter([T0 + timedelta(seconds=s) for s in (1, 2)])
    journal = open_journal(sqlite_url(tmp_path / "j.db"), clock=lambda: next(stamps))
    mode = ModeChanged(trace_id="", ts_event=T0, strategy="ema", mode="shadow", reason="r")
    journal.append(mode)
    journal.append(mode, ts_record=T0 + timedelta(hours=1))
    journal.append(mode)
    with journal.engine.connect() as conn:
        stamps_stored = [r[0] for r in conn.exec_driver_sql("SELECT ts_record FROM journal")]
    assert stamps_stored == ["2025-01-06T09:15:01+05:30", "2025-01-06T10:15:00+05:30",
                             "2025-01-06T09:15:02+05:30"]


def test_naive_record_time_is_refused_before_writing(journal: Journal) -> None:
    mode = ModeChanged(trace_id="", ts_event=T0, strategy="ema", mode="shadow", reason="r")
    with pytest.raises(JournalInputError, match="naive"):
        journal.append(mode, ts_record=datetime(2025, 1, 6, 9, 15))
    assert journal.head() == (0, GENESIS)


def test_append_without_clock_or_record_time_is_refused(tmp_path: Path) -> None:
    journal = open_journal(sqlite_url(tmp_path / "j.db"))
    mode = ModeChanged(trace_id="", ts_event=T0, strategy="ema", mode="shadow", reason="r")
    with pytest.raises(JournalInputError, match="clock"):
        journal.append(mode)


def test_sqlite_journal_commits_with_synchronous_full_in_wal(journal: Journal) -> None:
    with journal.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_reopened_journal_continues_the_chain(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "j.db")
    messages = sample_session(2)
    open_journal(url, clock=lambda: T0).append_many(messages[:10])
    again = open_journal(url, clock=lambda: T0)
    assert again.append_many(messages[10:])[0] == 11
    assert again.verify().ok
    assert [m for _, m in again.read()] == messages


# --- all or nothing, one writer -----------------------------------------------------------

def test_batch_with_an_unencodable_message_stores_none_and_stays_usable(
        journal: Journal) -> None:
    messages = sample_session(1)
    bad = BarClosed(trace_id="", ts_event=T0, symbol="N", open=1, high=1, low=1, close=1,
                    volume=1)
    object.__setattr__(bad, "close", math.nan)
    with pytest.raises(EventEncodeError, match=r"BarClosed\.close=nan"):
        journal.append_many([*messages[:3], bad, *messages[3:]])
    assert journal.head() == (0, GENESIS)
    assert journal.append_many(messages)[-1] == len(messages)


def test_batch_failing_in_the_store_mid_way_stores_none_and_is_unusable(
        journal: Journal) -> None:
    _raw(journal, "CREATE TRIGGER fail_third BEFORE INSERT ON journal WHEN NEW.seq = 3 "
                  "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    messages = sample_session(1)
    with pytest.raises(JournalWriteError, match=r"seq 1\.\.") as failure:
        journal.append_many(messages)
    assert "disk on fire" in str(failure.value)
    assert journal.head() == (0, GENESIS)
    _raw(journal, "DROP TRIGGER fail_third")
    with pytest.raises(JournalWriteError, match="unusable"):
        journal.append(messages[0])


def test_second_writer_is_detected_and_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "j.db")
    first, second = open_journal(url, clock=lambda: T0), open_journal(url, clock=lambda: T0)
    messages = sample_session(1)
    first.append(messages[0])
    second.append(messages[1])
    with pytest.raises(JournalWriteError, match="another writer"):
        first.append(messages[2])
    assert first.head() == (2, second.head()[1])
    assert first.verify().ok


def test_journal_refuses_update_and_delete(journal: Journal) -> None:
    journal.append_many(sample_session(1))
    for statement in ("UPDATE journal SET kind = 'x' WHERE seq = 1",
                      "DELETE FROM journal WHERE seq = 1"):
        with pytest.raises(sa.exc.IntegrityError, match="append-only"):
            _raw(journal, statement)


# --- verification ---------------------------------------------------------------------------

def test_untouched_journal_verifies(journal: Journal) -> None:
    messages = sample_session(3)
    journal.append_many(messages)
    verdict = journal.verify()
    assert verdict.ok and verdict.entries == len(messages)


def _body(journal: Journal, seq: int) -> dict:
    with journal.engine.connect() as conn:
        text = conn.exec_driver_sql(f"SELECT body FROM journal WHERE seq = {seq}").scalar()
    return json.loads(text)


def _set_body(journal: Journal, seq: int, body: dict) -> None:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with journal.engine.begin() as conn:
        conn.execute(sa.text("UPDATE journal SET body = :b WHERE seq = :s"),
                     {"b": text, "s": seq})


@pytest.fixture()
def tamperable(journal: Journal) -> Journal:
    journal.append_many(sample_session(2))
    _untrigger(journal)
    return journal


def test_edited_body_is_named_by_seq(tamperable: Journal) -> None:
    body = _body(tamperable, 12)
    assert body["kind"] == "OrderFilled"
    body["fields"]["price"] += 0.05
    _set_body(tamperable, 12, body)
    verdict = tamperable.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.entries) == (False, 12, 11)
    assert "edited" in verdict.reason


def test_edited_kind_column_is_named_by_seq(tamperable: Journal) -> None:
    _raw(tamperable, "UPDATE journal SET kind = 'OrderRejected' WHERE seq = 7")
    verdict = tamperable.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 7)
    assert "column kind" in verdict.reason


def test_deleted_row_is_named_by_the_seq_after_the_gap(tamperable: Journal) -> None:
    _raw(tamperable, "DELETE FROM journal WHERE seq = 9")
    verdict = tamperable.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 10)
    assert "missing" in verdict.reason


def test_swapped_rows_are_named_by_the_first_seq(tamperable: Journal) -> None:
    _raw(tamperable, "UPDATE journal SET seq = -1 WHERE seq = 5",
         "UPDATE journal SET seq = 5 WHERE seq = 6", "UPDATE journal SET seq = 6 WHERE seq = -1")
    verdict = tamperable.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)


def test_garbage_body_at_the_tail_is_named_and_stops_read(tamperable: Journal) -> None:
    last, _ = tamperable.head()
    _raw(tamperable, f"UPDATE journal SET body = '{{\"kind\": \"Bar' WHERE seq = {last}")
    verdict = tamperable.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.entries) == (False, last, last - 1)
    assert "not valid JSON" in verdict.reason
    with pytest.raises(JournalCorruptError, match=f"seq {last}") as failure:
        list(tamperable.read())
    assert failure.value.seq == last


def test_undecodable_but_valid_json_body_is_named(tamperable: Journal) -> None:
    body = _body(tamperable, 4)
    body["schema_version"] = 99
    _set_body(tamperable, 4, body)
    verdict = tamperable.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert "schema_version 99" in verdict.reason


# --- the restart's one-pass checked read ---------------------------------------------------------


def _first_bad_of_read_checked(journal: Journal) -> int:
    with pytest.raises(JournalCorruptError) as failure:
        for _ in journal.read_checked():
            pass
    return failure.value.seq


def test_read_checked_of_an_untouched_journal_yields_what_read_yields(journal: Journal) -> None:
    journal.append_many(sample_session(3))
    assert list(journal.read_checked()) == list(journal.read())


@pytest.mark.parametrize(("tamper", "seq"), [
    ("edited_body", 12), ("kind_column", 7), ("deleted_row", 10), ("swapped_rows", 5),
    ("garbage_tail", -1), ("whitespace_in_body", 3),
])
def test_read_checked_names_the_first_bad_row_as_verify_does(tamperable: Journal, tamper: str,
                                                             seq: int) -> None:
    last, _ = tamperable.head()
    if tamper == "edited_body":
        body = _body(tamperable, 12)
        body["fields"]["price"] += 0.05
        _set_body(tamperable, 12, body)
    elif tamper == "kind_column":
        _raw(tamperable, "UPDATE journal SET kind = 'OrderRejected' WHERE seq = 7")
    elif tamper == "deleted_row":
        _raw(tamperable, "DELETE FROM journal WHERE seq = 9")
    elif tamper == "swapped_rows":
        _raw(tamperable, "UPDATE journal SET seq = -1 WHERE seq = 5",
             "UPDATE journal SET seq = 5 WHERE seq = 6",
             "UPDATE journal SET seq = 6 WHERE seq = -1")
    elif tamper == "garbage_tail":
        _raw(tamperable, f"UPDATE journal SET body = '{{\"kind\": \"Bar' WHERE seq = {last}")
    else:  # the same record, not in canonical form: the bytes the hash covers changed
        text = json.dumps(_body(tamperable, 3), sort_keys=True)
        with tamperable.engine.begin() as conn:
            conn.execute(sa.text("UPDATE journal SET body = :b WHERE seq = 3"), {"b": text})
    expected = last if seq == -1 else seq
    assert _first_bad_of_read_checked(tamperable) == expected
    assert tamperable.verify().first_bad_seq == expected


def test_read_checked_refuses_a_rehashed_non_canonical_body_as_verify_does(
        tamperable: Journal) -> None:
    # an attacker who rewrites the last row and its hash: a duplicate key (json.loads keeps
    # the last value, so a kill switch's mode could be read back as "off") decodes fine but
    # is not canonical, and must not pass the restart
    last, _ = tamperable.head()
    with tamperable.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT body, ts_record, prev_hash FROM journal "
                                   "WHERE seq = :s"), {"s": last}).one()
    body = row.body[:-1] + ',"schema_version":1}'
    forged = raw_entry_hash(row.prev_hash, last, body, row.ts_record)
    _raw(tamperable, f"UPDATE journal SET body = '{body}', hash = '{forged}' WHERE seq = {last}")
    assert _first_bad_of_read_checked(tamperable) == last
    assert "canonical" in tamperable.verify().reason


@given(ANY_MESSAGE, st.text(min_size=1, max_size=40), st.integers(1, 10**9))
def test_raw_entry_hash_equals_the_chain_hash_of_the_record(message: Message, stamp: str,
                                                            seq: int) -> None:
    record = to_record(message)
    body = canonical_json(record).decode("utf-8")
    assert raw_entry_hash("ab" * 32, seq, body, stamp) == entry_hash(
        "ab" * 32, seq, hashed_body(record, stamp))


# --- export ----------------------------------------------------------------------------------

def test_export_jsonl_writes_every_row_verifiable_offline(journal: Journal,
                                                          tmp_path: Path) -> None:
    journal.append_many(sample_session(2))
    target = tmp_path / "out" / "journal.jsonl"
    count = journal.export_jsonl(target)
    lines = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert count == len(lines) == journal.head()[0]
    prev = GENESIS
    for line in lines:
        body = hashed_body(line["record"], line["ts_record"])
        assert line["prev_hash"] == prev
        assert entry_hash(prev, line["seq"], body) == line["hash"]
        prev = line["hash"]
    assert prev == journal.head()[1]
    assert [p.name for p in target.parent.iterdir()] == ["journal.jsonl"]


def test_failed_export_leaves_no_file(tamperable: Journal, tmp_path: Path) -> None:
    _raw(tamperable, "UPDATE journal SET body = 'garbage' WHERE seq = 3")
    target = tmp_path / "out.jsonl"
    with pytest.raises(JournalCorruptError, match="seq 3"):
        tamperable.export_jsonl(target)
    assert list(tmp_path.glob("*out.jsonl*")) == []
