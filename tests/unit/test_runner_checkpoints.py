"""A real runner session signs journal checkpoints every N entries and seals at its end."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from live.checkpoint_writer import Checkpointer
from live.checkpoints import Checkpoint, read_checkpoints, verify_against
from live.runner.runner import Runner
from tests.chain_tamper import Identities, identities, truncate
from tests.unit.test_runner_engine import Stores, day_bars, stores_in

EVERY = 25


def _checkpointed_runner(stores: Stores, people: Identities) -> Runner:
    runner = stores.runner()
    checkpointer = Checkpointer(stores.folder / "checkpoints" / "journal-live.jsonl",
                                "journal-live", people.signer("runner"), people.directory,
                                role="runner", every=EVERY)
    checkpointer.resume(runner.journal)
    runner.journal.checkpoints = checkpointer
    return runner


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, Runner, list[Checkpoint]]:
    folder = tmp_path_factory.mktemp("runner_checkpoints")
    people = identities(folder, {"runner": ["runner"]})
    stores = stores_in(folder / "stores")
    runner = _checkpointed_runner(stores, people)
    runner.recover()
    runner.run(day_bars(120))
    found = read_checkpoints(runner.journal.checkpoints.path)  # type: ignore[union-attr]
    return stores, runner, found


def test_runner_session_writes_a_checkpoint_every_n_journal_entries(
        session: tuple[Stores, Runner, list[Checkpoint]]) -> None:
    _, runner, found = session
    head = runner.journal.head()[0]
    periodic = [c.seq // EVERY for c in found if not c.sealed]
    assert (periodic, head > 2 * EVERY) == (list(range(1, head // EVERY + 1)), True)


def test_runner_session_end_seals_the_journal_head(
        session: tuple[Stores, Runner, list[Checkpoint]]) -> None:
    _, runner, found = session
    assert (found[-1].seq, found[-1].hash, found[-1].sealed) == (*runner.journal.head(), True)


def test_runner_session_journal_truncated_afterwards_is_named(
        session: tuple[Stores, Runner, list[Checkpoint]], tmp_path: Path) -> None:
    stores, runner, found = session
    copy = stores_in(tmp_path / "copy")
    with sqlite3.connect(stores.folder / "journal.db") as source, \
            sqlite3.connect(copy.folder / "journal.db") as target:
        source.backup(target)  # the WAL's pages too
    journal = copy.journal()
    truncate(journal.engine, "journal", EVERY + 3)
    trust = runner.journal.checkpoints.trust  # type: ignore[union-attr]
    verdict = verify_against(journal, found, trust, chain="journal-live", role="runner")
    assert (verdict.finding, verdict.first_bad_seq) == ("truncated", EVERY + 4)
