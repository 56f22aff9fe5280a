"""Signed checkpoints: truncation, forged appends and re-chained rewrites pass the chain's own
verify but not the checkpoints; the first bad entry is named; untrusted checkpoints refused."""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from live.checkpoint_writer import Checkpointer
from live.checkpoints import (
    MARK_HEX,
    CheckpointChainError,
    CheckpointError,
    CheckpointFormatError,
    CheckpointMismatchError,
    CheckpointSignatureError,
    make_checkpoint,
    read_checkpoints,
    verify_against,
)
from live.events import BarClosed
from live.journal import Journal, open_journal
from tests.chain_tamper import Identities, identities, rechain_journal, truncate
from tests.unit.test_journal import T0, sample_session

CHAIN = "journal-live"


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Identities:
    return identities(tmp_path_factory.mktemp("ids"), {"runner": ["runner"], "alice": ["quant"]})


@dataclass
class Setup:
    journal: Journal
    checkpointer: Checkpointer
    people: Identities

    @property
    def path(self) -> Path:
        return self.checkpointer.path

    def against(self):
        return verify_against(self.journal, read_checkpoints(self.path),
                              self.people.directory, chain=CHAIN, role="runner")


def _setup(folder: Path, people: Identities, *, every: int = 10) -> Setup:
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=lambda: T0)
    checkpointer = Checkpointer(folder / "cp" / f"{CHAIN}.jsonl", CHAIN, people.signer("runner"),
                                people.directory, role="runner", every=every)
    checkpointer.resume(journal)
    journal.checkpoints = checkpointer
    return Setup(journal, checkpointer, people)


@pytest.fixture()
def sealed(tmp_path: Path, people: Identities) -> Setup:
    """43 entries appended 5 at a time, checkpointed every 10 and sealed at the end."""
    setup = _setup(tmp_path, people)
    messages = sample_session(6)[:43]
    for start in range(0, len(messages), 5):
        setup.journal.append_many(messages[start:start + 5])
    setup.journal.seal()
    return setup


def _bar_seqs(journal: Journal) -> list[int]:
    return [seq for seq, m in journal.read() if isinstance(m, BarClosed)]


def _raise_close(record: dict) -> None:
    record["fields"]["close"] += 100.0


# -- the three rewrites ------------------------------------------------------------------------

def test_verify_against_untouched_sealed_journal_is_ok(sealed: Setup) -> None:
    verdict = sealed.against()
    head = sealed.journal.head()[0]
    assert (verdict.ok, verdict.finding, verdict.checkpoint_seq, verdict.signers) == \
        (True, "ok", head, ("runner",))


def test_truncated_journal_passes_chain_verify(sealed: Setup) -> None:
    truncate(sealed.journal.engine, "journal", 30)
    assert sealed.journal.verify().ok


def test_truncated_journal_fails_against_naming_the_first_missing_seq(sealed: Setup) -> None:
    truncate(sealed.journal.engine, "journal", 30)
    verdict = sealed.against()
    assert (verdict.ok, verdict.finding, verdict.first_bad_seq) == (False, "truncated", 31)


def test_forged_row_appended_after_a_seal_passes_chain_verify(sealed: Setup) -> None:
    Journal(sealed.journal.engine, clock=lambda: T0).append(sample_session(1)[3])
    assert sealed.journal.verify().ok


def test_forged_row_appended_after_a_seal_fails_against_naming_it(sealed: Setup) -> None:
    head = sealed.journal.head()[0]
    Journal(sealed.journal.engine, clock=lambda: T0).append(sample_session(1)[3])
    verdict = sealed.against()
    assert (verdict.ok, verdict.finding, verdict.first_bad_seq) == (False, "appended", head + 1)


def test_edit_rechained_to_the_end_passes_chain_verify(sealed: Setup) -> None:
    rechain_journal(sealed.journal.engine, _bar_seqs(sealed.journal)[1], _raise_close)
    assert sealed.journal.verify().ok


@pytest.mark.parametrize("which", [0, 1])
def test_edit_rechained_to_the_end_fails_against_naming_the_edited_seq(sealed: Setup,
                                                                       which: int) -> None:
    edited = _bar_seqs(sealed.journal)[which]
    rechain_journal(sealed.journal.engine, edited, _raise_close)
    verdict = sealed.against()
    assert (verdict.ok, verdict.finding, verdict.first_bad_seq) == (False, "rewritten", edited)


def test_truncation_then_forged_rows_to_the_old_length_is_named_at_the_first_forged_seq(
        sealed: Setup) -> None:
    head = sealed.journal.head()[0]
    truncate(sealed.journal.engine, "journal", 25)
    forger = Journal(sealed.journal.engine, clock=lambda: T0)
    forger.append_many(sample_session(6)[:head - 25])
    verdict = sealed.against()
    assert (verdict.finding, verdict.first_bad_seq, sealed.journal.head()[0]) == \
        ("rewritten", 26, head)


# -- open tails, untrusted checkpoints ------------------------------------------------------

def test_entries_after_an_unsealed_checkpoint_are_an_open_tail_not_a_failure(
        tmp_path: Path, people: Identities) -> None:
    setup = _setup(tmp_path, people, every=10)
    setup.journal.append_many(sample_session(6)[:15])  # crosses 10: a checkpoint at 15
    setup.journal.append_many(sample_session(6)[15:18])
    verdict = setup.against()
    assert (verdict.ok, verdict.finding, verdict.checkpoint_seq, verdict.head_seq) == \
        (True, "open_tail", 15, 18)


def _rewrite_line(path: Path, change: dict) -> None:
    lines = path.read_text().splitlines()
    data = json.loads(lines[-1]) | change
    lines[-1] = json.dumps(data)
    path.write_text("\n".join(lines) + "\n")


def test_checkpoint_with_a_forged_signature_is_refused(sealed: Setup) -> None:
    truncate(sealed.journal.engine, "journal", 30)
    forged = sealed.journal.head()
    _rewrite_line(sealed.path, {"seq": forged[0], "hash": forged[1], "from_seq": forged[0],
                                "marks": [forged[1][:MARK_HEX]]})
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        sealed.against()


def test_checkpoint_signed_by_a_user_without_the_runner_role_is_refused(
        sealed: Setup, people: Identities) -> None:
    made = make_checkpoint(CHAIN, sealed.journal.head(), [sealed.journal.head()], sealed=True,
                           signer=people.signer("alice"))
    with pytest.raises(CheckpointSignatureError, match="alice"):
        verify_against(sealed.journal, [made], people.directory, chain=CHAIN, role="runner")


def test_checkpoint_signed_by_a_key_not_in_the_directory_is_refused(
        sealed: Setup, tmp_path: Path) -> None:
    stranger = identities(tmp_path / "other", {"runner": ["runner"]})
    made = make_checkpoint(CHAIN, sealed.journal.head(), [sealed.journal.head()], sealed=True,
                           signer=stranger.signer("runner"))
    with pytest.raises(CheckpointSignatureError, match="runner"):
        verify_against(sealed.journal, [made], sealed.people.directory, chain=CHAIN,
                       role="runner")


def test_checkpoint_of_another_chain_is_refused(sealed: Setup) -> None:
    with pytest.raises(CheckpointChainError, match="journal-shadow"):
        verify_against(sealed.journal, read_checkpoints(sealed.path), sealed.people.directory,
                       chain="journal-shadow", role="runner")


def test_checkpoint_file_without_checkpoints_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(CheckpointFormatError, match="no checkpoint"):
        read_checkpoints(tmp_path / "empty.jsonl")


def test_exported_single_checkpoint_json_is_accepted(sealed: Setup, tmp_path: Path) -> None:
    last = read_checkpoints(sealed.path)[-1]
    (tmp_path / "one.json").write_text(json.dumps(last.to_dict(), indent=2))
    truncate(sealed.journal.engine, "journal", 30)
    verdict = verify_against(sealed.journal, read_checkpoints(tmp_path / "one.json"),
                             sealed.people.directory, chain=CHAIN, role="runner")
    assert (verdict.finding, verdict.first_bad_seq) == ("truncated", 31)


# -- the writer ---------------------------------------------------------------------------------

def test_journal_checkpointer_writes_one_every_n_entries_and_a_sealed_one_at_the_end(
        sealed: Setup) -> None:
    found = read_checkpoints(sealed.path)
    assert [(c.seq, c.sealed) for c in found] == \
        [(10, False), (20, False), (30, False), (40, False), (43, True)]


def test_checkpoint_marks_cover_every_entry_since_the_previous_one(sealed: Setup) -> None:
    found = read_checkpoints(sealed.path)
    assert [(c.from_seq, len(c.marks)) for c in found[:2]] == [(1, 10), (11, 10)]


def test_checkpoint_file_is_created_0600_in_a_0700_folder(sealed: Setup) -> None:
    assert (stat.S_IMODE(sealed.path.stat().st_mode),
            stat.S_IMODE(sealed.path.parent.stat().st_mode)) == (0o600, 0o700)


def test_checkpointer_resume_refuses_a_truncated_journal(sealed: Setup) -> None:
    truncate(sealed.journal.engine, "journal", 30)
    again = Checkpointer(sealed.path, CHAIN, sealed.people.signer("runner"),
                         sealed.people.directory, role="runner")
    with pytest.raises(CheckpointMismatchError, match="seq 31"):
        again.resume(sealed.journal)


def test_checkpointer_resume_refuses_entries_appended_after_a_seal(sealed: Setup) -> None:
    Journal(sealed.journal.engine, clock=lambda: T0).append(sample_session(1)[3])
    again = Checkpointer(sealed.path, CHAIN, sealed.people.signer("runner"),
                         sealed.people.directory, role="runner")
    with pytest.raises(CheckpointMismatchError, match="appended"):
        again.resume(sealed.journal)


def test_checkpointer_resume_accepting_appended_entries_attests_them(sealed: Setup) -> None:
    Journal(sealed.journal.engine, clock=lambda: T0).append(sample_session(1)[3])
    again = Checkpointer(sealed.path, CHAIN, sealed.people.signer("runner"),
                         sealed.people.directory, role="runner")
    again.resume(sealed.journal, accept_appended=True)
    again.checkpoint(sealed=True)
    assert sealed.against().finding == "ok"


def test_checkpointer_refuses_to_write_a_checkpoint_the_trust_does_not_verify(
        tmp_path: Path, people: Identities) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}", clock=lambda: T0)
    journal.append_many(sample_session(1))
    writer = Checkpointer(tmp_path / "cp.jsonl", CHAIN, people.signer("alice"),
                          people.directory, role="runner")
    writer.resume(journal)
    with pytest.raises(CheckpointSignatureError, match="alice"):
        writer.checkpoint(sealed=True)
    assert not (tmp_path / "cp.jsonl").exists()


def test_checkpointer_before_resume_refuses_to_write(tmp_path: Path, people: Identities) -> None:
    writer = Checkpointer(tmp_path / "cp.jsonl", CHAIN, people.signer("runner"),
                          people.directory, role="runner")
    with pytest.raises(CheckpointError, match="resume"):
        writer.checkpoint(sealed=True)
