"""Retention: the signed read-only archive (export, verify, a flipped byte named), and the
maker/checker deletion of journal entries past the period (refused inside it, refused to
one person, refused when not archived; after approval only the archived, expired prefix
goes and the chain verifies from the retained anchor)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from live.broker import Side
from live.compliance.archive import (
    JOURNAL_FILE,
    MANIFEST,
    ArchiveVerifyError,
    verify_archive,
)
from live.compliance.retention import retention_cutoff
from live.events import KillMode, KillSwitchChanged
from live.journal import Journal
from stratops.archive_ops import export
from stratops.cli import main
from stratops.governance_ops import directory
from tests.compliance_flows import Flow
from tests.unit.test_chain_verify_cli import Project, project, serviced

__all__ = ["project", "serviced"]  # fixtures used here
IST = timezone(timedelta(hours=5, minutes=30))
OLD = datetime(2019, 3, 4, 10, 0, tzinfo=IST)  # outside any period of up to 7 years
RECENT = datetime.now(UTC).astimezone(IST).replace(hour=10, minute=0, second=0,
                                                   microsecond=0) - timedelta(days=1)


def _old_days(flow: Flow, days: int = 3) -> Flow:
    """Round trips (flat at each day's end) on old days."""
    for d in range(days):
        ts = OLD + timedelta(days=d)
        flow.bar(ts, 100.0)
        flow.trade(ts + timedelta(minutes=1), Side.BUY, 50, 100.0)
        flow.trade(ts + timedelta(minutes=5), Side.SELL, 50, 100.5)
    return flow


def _fill_journal(project: Project, flow: Flow) -> Journal:
    journal = project.journal()
    journal.append_many(flow.messages, ts_record=datetime.now(UTC))
    return journal


@pytest.fixture()
def archived(project: Project) -> tuple[Project, Path, int]:
    """Old days then a recent one in the live journal, exported; the old rows' count."""
    old = _old_days(Flow())
    recent = Flow().bar(RECENT, 100.0).bar(RECENT + timedelta(minutes=1), 100.1)
    journal = _fill_journal(project, Flow())
    journal.append_many(old.messages + recent.messages, ts_record=datetime.now(UTC))
    folder = export(project.settings, "live", project.people.signer("alice"))
    return project, folder, len(old.messages)


def _cli(*args: str) -> int:
    return main(list(args))


# --- export and verify --------------------------------------------------------------------

def test_archive_export_verifies_and_is_read_only(archived: tuple[Project, Path, int]) -> None:
    project, folder, old_rows = archived
    checked = verify_archive(folder, directory(project.settings))
    assert (checked.journal.first_seq, checked.journal.last_seq) == (1, old_rows + 2)
    assert checked.signer == "alice"
    assert not os.access(folder / JOURNAL_FILE, os.W_OK) or os.geteuid() == 0
    assert oct((folder / JOURNAL_FILE).stat().st_mode & 0o777) == "0o444"


def test_archive_flipped_byte_fails_verify_naming_the_file(
        archived: tuple[Project, Path, int]) -> None:
    project, folder, _ = archived
    target = folder / JOURNAL_FILE
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ArchiveVerifyError, match=rf"{target}: SHA-256 .* differs"):
        verify_archive(folder, directory(project.settings))


def test_archive_edited_manifest_fails_on_its_signature(
        archived: tuple[Project, Path, int]) -> None:
    project, folder, _ = archived
    manifest = folder / MANIFEST
    folder.chmod(0o755)
    manifest.chmod(0o644)
    data = json.loads(manifest.read_text())
    data["journal"]["last_seq"] += 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(ArchiveVerifyError, match=r"manifest\.json: signature refused"):
        verify_archive(folder, directory(project.settings))


def test_archive_verify_cli_exits_2_on_a_missing_file(
        archived: tuple[Project, Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    _, folder, _ = archived
    folder.chmod(0o755)
    (folder / JOURNAL_FILE).unlink()
    assert _cli("archive", "verify", str(folder)) == 2
    assert "journal.parquet" in capsys.readouterr().err


# --- maker/checker deletion ---------------------------------------------------------------

def _request(folder: Path, before: str, user: str = "alice") -> int:
    return _cli("archive", "purge-request", "--before", before, "--archive", folder.name,
                "--reason", "retention period over", "--as", user)


def _refusals(project: Project) -> list[str]:
    return [r.detail["reason"] for r in project.audit().records(kind="refused")]


def test_retention_cutoff_is_years_before_today() -> None:
    from datetime import date

    assert retention_cutoff(date(2026, 12, 6), 5) == date(2021, 12, 6)
    assert retention_cutoff(date(2028, 2, 29), 5) == date(2023, 2, 28)


def test_purge_inside_the_period_is_refused_and_audited(
        archived: tuple[Project, Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    project, folder, _ = archived
    assert _request(folder, RECENT.date().isoformat()) == 1
    assert "inside the retention period" in " ".join(capsys.readouterr().out.split())
    assert any("inside the retention period" in r for r in _refusals(project))


def test_purge_approved_by_its_maker_is_refused(archived: tuple[Project, Path, int],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    project, folder, _ = archived
    assert _request(folder, "2020-01-01", user="carol") == 0
    assert _cli("archive", "purge-approve", "R1", "--as", "carol") == 1
    out = " ".join(capsys.readouterr().out.split())  # the console wraps to its width
    assert "maker and checker must be different people" in out
    assert project.journal().anchor()[0] == 0  # nothing deleted


def test_purge_approved_deletes_only_the_archived_expired_prefix(
        archived: tuple[Project, Path, int]) -> None:
    project, folder, old_rows = archived
    before = project.journal().hashes(old_rows, old_rows)
    anchor = next(before)
    assert _request(folder, "2020-01-01") == 0
    assert _cli("archive", "purge-approve", "R1", "--as", "carol") == 0
    journal = project.journal()
    assert journal.anchor() == anchor
    assert [seq for seq, _ in journal.read()] == [old_rows + 1, old_rows + 2]
    assert journal.verify().ok
    purged = project.audit().records(kind="retention_purged")
    assert purged[0].detail["deleted_through"] == old_rows


def test_purged_journal_stays_append_only(archived: tuple[Project, Path, int]) -> None:
    import sqlalchemy as sa

    project, folder, old_rows = archived
    assert _request(folder, "2020-01-01") == 0
    assert _cli("archive", "purge-approve", "R1", "--as", "carol") == 0
    journal = project.journal()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), journal.engine.begin() as c:
        c.execute(sa.text(f"DELETE FROM journal WHERE seq = {old_rows + 1}"))


def test_purge_keeps_the_chain_verifiable_for_a_restart_replay(
        archived: tuple[Project, Path, int]) -> None:
    project, folder, old_rows = archived
    assert _request(folder, "2020-01-01") == 0
    assert _cli("archive", "purge-approve", "R1", "--as", "carol") == 0
    replayed = [seq for seq, _ in project.journal().read_checked()]
    assert replayed == [old_rows + 1, old_rows + 2]
    assert _cli("journal", "verify", "--mode", "live") == 0


def test_purge_of_rows_not_in_the_archive_is_refused(project: Project,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    journal = _fill_journal(project, _old_days(Flow(), days=1))
    folder = export(project.settings, "live", project.people.signer("alice"))
    journal.append_many(_old_days(Flow(), days=1).messages[:1] +
                        Flow().bar(RECENT, 100.0).messages, ts_record=datetime.now(UTC))
    # the archive holds seq 1..5; seq 6 is old too but was journaled after the export
    assert _request(folder, "2020-01-01") == 1
    assert "not all of 1..6" in capsys.readouterr().out


def test_purge_of_a_prefix_with_a_kill_switch_on_is_refused(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    flow = _old_days(Flow(), days=1)
    flow.messages.append(KillSwitchChanged(trace_id="", ts_event=OLD + timedelta(hours=1),
                                           scope="all", mode=KillMode.HALT, actor="carol",
                                           reason="K1"))
    flow.bar(RECENT, 100.0)
    _fill_journal(project, flow)
    folder = export(project.settings, "live", project.people.signer("alice"))
    assert _request(folder, "2020-01-01") == 1
    assert "kill switches still on" in capsys.readouterr().out


# --- the retained anchor against the signed checkpoints -----------------------------------

def _purge_through(journal: Journal, seq: int) -> None:
    from live.compliance.retention import PurgePlan, delete_prefix

    anchor = next(journal.hashes(seq, seq))
    delete_prefix(journal, PurgePlan("journal-live", OLD.date(), 1, seq, anchor[1]),
                  archive="journal-live-0000000001-0000000043", purged_at="2026-12-06")


def test_purged_journal_still_verifies_against_its_signed_checkpoints(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.test_chain_verify_cli import _sealed_journal

    _purge_through(_sealed_journal(serviced), 20)
    assert _cli("journal", "verify", "--mode", "live") == 0
    assert "intact" in capsys.readouterr().out


def test_purged_journal_with_a_forged_anchor_fails_verify(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlalchemy as sa

    from live.journal import JOURNAL_ANCHOR
    from tests.unit.test_chain_verify_cli import _sealed_journal

    journal = _sealed_journal(serviced)
    _purge_through(journal, 20)
    with journal.engine.begin() as conn:  # someone with write access forges the anchor
        conn.execute(sa.update(JOURNAL_ANCHOR).values(hash="f" * 64))
    assert _cli("journal", "verify", "--mode", "live") == 1
    assert "seq 21" in capsys.readouterr().out


def test_archive_export_cli_verifies_and_audits(project: Project,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _fill_journal(project, _old_days(Flow(), days=1).bar(RECENT, 100.0))
    assert _cli("archive", "export", "--mode", "live", "--as", "alice", "--json") == 0
    text = capsys.readouterr().out  # the JSON document, then the audit checkpoint's line
    out = json.loads(text[text.index("{"):text.rindex("}") + 1])
    (record,) = project.audit().records(kind="archive_exported")
    assert record.subject == Path(out["archive"]).name and record.actor == "alice"
    assert record.detail["last_seq"] == out["last_seq"] == 6


def test_purge_deletes_only_archived_expired_report_days(project: Project) -> None:
    reports = project.root / "reports" / "compliance" / "live"
    for day in ("2019-03-04", RECENT.date().isoformat()):
        (reports / day).mkdir(parents=True)
        (reports / day / "compliance.json").write_text(f'{{"day": "{day}"}}')
    _fill_journal(project, _old_days(Flow()).bar(RECENT, 100.0))
    folder = export(project.settings, "live", project.people.signer("alice"))
    (reports / "2019-03-05").mkdir()  # old, but written after the export: not archived
    (reports / "2019-03-05" / "compliance.json").write_text("{}")
    assert _request(folder, "2020-01-01") == 0
    assert _cli("archive", "purge-approve", "R1", "--as", "carol") == 0
    assert sorted(p.name for p in reports.iterdir()) == ["2019-03-05",
                                                         RECENT.date().isoformat()]
    (record,) = project.audit().records(kind="retention_purged")
    assert record.detail["report_folders"] == ["live/2019-03-04"]
