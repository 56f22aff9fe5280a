"""The signed checkpoints' off-host copy on a real PostgreSQL server: a journal re-chained
together with its local checkpoint file is caught from the copy; the copy is append-only;
an unreachable store is a clear error with nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from live.checkpoint_offhost import TABLE, OffhostCheckpointError, OffhostCheckpoints
from live.checkpoint_writer import Checkpointer
from live.checkpoints import Signer, read_checkpoints, verify_against
from live.journal import Journal, open_journal
from stratops.checkpoint_ops import check_offhost, offhost_mirror, service_signer, sync_offhost
from stratops.cli import main
from stratops.governance_ops import directory
from stratops.settings import Settings
from tests.chain_tamper import Identities, identities, rechain_journal
from tests.integration.postgres import fresh_database
from tests.unit.test_chain_verify_cli import (  # noqa: F401 - fixtures: a real project
    Project,
    _sealed_journal,
    project,
    serviced,
)
from tests.unit.test_chain_verify_cli import _raise_close as _raise_close_bar
from tests.unit.test_journal import T0, sample_session

pytestmark = [pytest.mark.integration, pytest.mark.services]
MODE = "live"
CHAIN = f"journal-{MODE}"


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Identities:
    return identities(tmp_path_factory.mktemp("ids"), {"runner": ["runner"]})


@pytest.fixture()
def pg_url() -> Iterator[str]:
    yield from fresh_database("stratops_offhost")


def _settings(root: Path, url: str) -> Settings:
    return Settings(root=root, offhost_checkpoints={"url": url})


def _session(settings: Settings, people: Identities, path: Path) -> Journal:
    """43 journal entries checkpointed every 10 (each copied off the host), then sealed."""
    journal = open_journal(f"sqlite:///{settings.root / 'journal.db'}", clock=lambda: T0)
    checkpointer = Checkpointer(path, CHAIN, people.signer("runner"), people.directory,
                                role="runner", every=10, mirror=offhost_mirror(settings))
    checkpointer.resume(journal)
    journal.checkpoints = checkpointer
    messages = sample_session(6)[:43]
    for start in range(0, len(messages), 5):
        journal.append_many(messages[start:start + 5])
    journal.seal()
    return journal


def _rewrite_local_checkpoints(journal: Journal, path: Path, people: Identities, *,
                              signer: Signer | None = None) -> None:
    """What an attacker holding the runner's key on its host does after re-chaining the
    journal: throw the checkpoint file away and sign the rewritten chain afresh."""
    path.unlink()
    forger = Checkpointer(path, CHAIN, signer or people.signer("runner"), people.directory,
                          role="runner", every=10)
    forger.resume(journal)
    forger.checkpoint(sealed=True)


def _raise_close(record: dict) -> None:
    """Raise the entry's first number (a price, a quantity) by 100."""
    fields = record["fields"]
    key = next(k for k, v in fields.items()
               if isinstance(v, int | float) and not isinstance(v, bool))
    fields[key] += 100


def test_offhost_copy_catches_a_rechained_journal_whose_local_checkpoints_were_rewritten(
        tmp_path: Path, pg_url: str, people: Identities) -> None:
    settings = _settings(tmp_path, pg_url)
    path = tmp_path / "cp" / f"{CHAIN}.jsonl"
    journal = _session(settings, people, path)
    rechain_journal(journal.engine, 12, _raise_close)
    _rewrite_local_checkpoints(journal, path, people)
    assert journal.verify().ok  # the chain's own links and ...
    local = verify_against(journal, read_checkpoints(path), people.directory, chain=CHAIN,
                           role="runner")
    assert local.ok  # ... its local checkpoints both pass
    result = check_offhost(settings, journal, path, people.directory, chain=CHAIN,
                           role="runner")
    assert result.verdict is not None and result.verdict.finding == "rewritten"
    assert result.verdict.first_bad_seq == 12
    assert result.copy.first_mismatch == 1 and "rewritten" in result.copy.reason


def test_offhost_sync_never_overwrites_the_copy_with_a_rewritten_local_file(
        tmp_path: Path, pg_url: str, people: Identities) -> None:
    settings = _settings(tmp_path, pg_url)
    path = tmp_path / "cp" / f"{CHAIN}.jsonl"
    journal = _session(settings, people, path)
    held = OffhostCheckpoints(pg_url).lines(CHAIN)
    assert held == path.read_text().splitlines()  # the same signed lines, byte for byte
    rechain_journal(journal.engine, 12, _raise_close)
    _rewrite_local_checkpoints(journal, path, people)
    (report,) = sync_offhost(settings.model_copy(update={
        "live": settings.live.model_copy(update={"checkpoint_dir": path.parent})}))
    assert report.first_mismatch == 1 and report.copied == 0
    assert OffhostCheckpoints(pg_url).lines(CHAIN) == held


def test_offhost_copy_missing_lines_are_reported_then_synced(
        tmp_path: Path, pg_url: str, people: Identities) -> None:
    path = tmp_path / "cp" / f"{CHAIN}.jsonl"
    journal = _session(Settings(root=tmp_path), people, path)  # no copy configured
    settings = _settings(tmp_path, pg_url)
    result = check_offhost(settings, journal, path, people.directory, chain=CHAIN,
                           role="runner")
    assert result.verdict is None and result.copy.offhost_lines == 0
    store = OffhostCheckpoints(pg_url)
    assert store.sync(path, CHAIN).copied == result.copy.local_lines > 0
    again = check_offhost(settings, journal, path, people.directory, chain=CHAIN,
                          role="runner")
    assert again.copy.ok and again.verdict is not None and again.verdict.finding == "ok"


def test_offhost_store_unreachable_is_a_clear_error_after_the_local_line(
        tmp_path: Path, people: Identities) -> None:
    settings = _settings(tmp_path, "postgresql://postgres@127.0.0.1:1/nowhere")
    path = tmp_path / "cp" / f"{CHAIN}.jsonl"
    with pytest.raises(OffhostCheckpointError, match=r"unreachable.*nothing was half-written"):
        _session(settings, people, path)
    assert len(path.read_text().splitlines()) == 1  # the local checkpoint is durable


def test_offhost_store_survives_a_dropped_connection(tmp_path: Path, pg_url: str,
                                                     people: Identities) -> None:
    path = tmp_path / "cp" / f"{CHAIN}.jsonl"
    _session(Settings(root=tmp_path), people, path)
    store = OffhostCheckpoints(pg_url)
    store.lines(CHAIN)  # a pooled connection now exists
    name = sa.make_url(pg_url).database
    admin = sa.create_engine(sa.make_url(pg_url).set(database="postgres",
                                                     drivername="postgresql+psycopg2"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
    admin.dispose()
    assert store.sync(path, CHAIN).copied == len(path.read_text().splitlines())
    with store.engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one() > 0


def test_cli_checkpoints_verify_from_offhost_names_what_the_local_verify_misses(
        serviced: Project, pg_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_OFFHOST_CHECKPOINTS__URL", pg_url)
    journal = _sealed_journal(serviced)  # the runner's checkpointer copies each line
    assert main(["checkpoints", "verify", "--mode", "live", "--from", "offhost"]) == 0
    rechain_journal(journal.engine, 24, _raise_close_bar)
    path = serviced.root / ".stratops" / "checkpoints" / f"{CHAIN}.jsonl"
    settings = serviced.settings
    _rewrite_local_checkpoints(journal, path, Identities(
        settings.path(".stratops/service"), directory(settings)), signer=service_signer(
            settings, directory(settings)))
    capsys.readouterr()
    assert main(["journal", "verify", "--mode", "live"]) == 0  # the local file agrees
    assert main(["checkpoints", "verify", "--mode", "live", "--from", "offhost"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "journal-live BROKEN at seq 24 against the off-host copy" in out
    assert "local checkpoint file MISMATCH" in out
