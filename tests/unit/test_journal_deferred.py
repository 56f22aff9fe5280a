"""Deferred journal appends (a bar's own events ride the next commit) and the SQLite
durability mode: what is stored when, what a crash keeps, what listeners hear."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from live.db import DurabilityModeError, make_engine
from live.events import Message
from live.journal import Journal, open_journal
from tests.unit.test_journal import T0, sample_session


def _journal(path: Path, synchronous: str = "full") -> Journal:
    return open_journal(f"sqlite:///{path}", clock=lambda: T0, synchronous=synchronous)


def _stored(path: Path) -> list[Message]:
    """What another process reading the file finds (committed rows only)."""
    return [m for _, m in _journal(path).read()]


def test_deferred_rows_are_not_stored_before_a_commit(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.db")
    journal.append_many(sample_session(1)[:3], defer=True)
    assert journal.pending == 3
    assert _stored(tmp_path / "j.db") == []


def test_a_durable_append_commits_the_deferred_rows_first_in_one_transaction(
        tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.db")
    messages = sample_session(1)
    assert journal.append_many(messages[:3], defer=True) == [1, 2, 3]
    assert journal.append(messages[3]) == 4
    assert (journal.commits, journal.pending) == (1, 0)
    assert _stored(tmp_path / "j.db") == messages[:4]
    assert journal.verify().ok


def test_flush_commits_the_deferred_rows_and_is_a_no_op_without_any(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.db")
    messages = sample_session(1)
    journal.append_many(messages[:2], defer=True)
    journal.flush()
    journal.flush()
    assert journal.commits == 1
    assert _stored(tmp_path / "j.db") == messages[:2]


def test_a_crash_loses_only_the_deferred_rows_and_the_chain_continues(tmp_path: Path) -> None:
    messages = sample_session(1)
    journal = _journal(tmp_path / "j.db")
    journal.append_many(messages[:2])
    journal.append_many(messages[2:4], defer=True)  # then the process dies: never committed
    restarted = _journal(tmp_path / "j.db")
    assert restarted.head()[0] == 2
    assert restarted.append_many(messages[2:5]) == [3, 4, 5]
    assert restarted.verify().ok
    assert _stored(tmp_path / "j.db") == messages[:5]


def test_listeners_hear_each_commit_once_it_has_returned_in_order(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.db")
    heard: list[tuple[list[Message], int]] = []

    def listen(committed: Sequence[Message]) -> None:
        heard.append((list(committed), len(_stored(tmp_path / "j.db"))))

    journal.listeners.append(listen)
    messages = sample_session(1)
    journal.append_many(messages[:2], defer=True)
    assert heard == []
    journal.append(messages[2])
    assert heard == [(messages[:3], 3)]


def test_seal_commits_the_deferred_rows(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.db")
    messages = sample_session(1)
    journal.append_many(messages[:2], defer=True)
    journal.seal()  # a session's end
    assert _stored(tmp_path / "j.db") == messages[:2]


def test_normal_durability_sets_sqlite_synchronous_normal(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.db", synchronous="normal")
    with journal.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_an_unknown_durability_mode_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DurabilityModeError, match="synchronous='off'"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}", synchronous="off")
