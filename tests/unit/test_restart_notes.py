"""A restart says which in-doubt orders it settled: read from the journal entries the
startup reconciliation appended, not from anything before them."""

from __future__ import annotations

from pathlib import Path

from live.broker import Outcome
from live.events import OrderSubmitted
from live.journal import open_journal
from live.state import LiveState
from stratops.restart_notes import restart_notes
from tests.unit.test_journal import T0, sample_session, sqlite_url


def _settled(key: str, reason: str) -> OrderSubmitted:
    return OrderSubmitted(trace_id="t", ts_event=T0, client_key=key, broker_order_id="B1",
                          outcome=Outcome.CONFIRMED, reason=reason)


def test_restart_notes_name_each_settled_order_after_the_head(tmp_path: Path) -> None:
    journal = open_journal(sqlite_url(tmp_path / "journal.db"), clock=lambda: T0)
    messages = sample_session(3)
    journal.append_many(messages)
    state = LiveState()
    for message in messages:
        state.apply(message)
    key = next(k for k, o in state.orders.items() if o.strategy == "ema_cross"
               and o.broker_order_id is None)  # the session's intent left in doubt
    journal.append(_settled("an-older-one", "settled by status query: FILLED"))
    before, _ = journal.head()
    journal.append(_settled(key, "settled by status query: OPEN"))
    notes = restart_notes(journal, before, state.orders)
    assert notes == [f"restart: ema_cross NIFTY25JANFUT order {key} was in doubt; settled by "
                     "status query: OPEN (the exchange has it: not sent again)"]


def test_restart_notes_say_nothing_for_ordinary_answers(tmp_path: Path) -> None:
    journal = open_journal(sqlite_url(tmp_path / "journal.db"), clock=lambda: T0)
    journal.append_many(sample_session(3))  # confirmed submits, no settlement
    assert restart_notes(journal, 0, {}) == []
