"""``journal verify --against``, ``audit verify --against``, ``audit checkpoint``,
``keys create-service`` and the runner's service identity, in a real project folder."""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from live.checkpoints import read_checkpoints
from live.db import make_engine
from live.governance.audit import AuditLog
from live.journal import Journal
from stratops.checkpoint_ops import (
    audit_checkpoint_file,
    checkpoint_audit,
    journal_checkpoint_file,
    journal_checkpointer,
    service_signer,
)
from stratops.cli import main
from stratops.governance_ops import canary_checkpoint_problem, directory
from stratops.live_ops import LiveSetupError, attach_checkpoints, open_mode_journal
from stratops.settings import Settings, load_settings
from tests.chain_tamper import (
    Identities,
    ceremony,
    identities,
    rechain_audit,
    rechain_journal,
    truncate,
)
from tests.unit.test_journal import T0, sample_session

REPO = Path(__file__).resolve().parents[2]
TS = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)


@dataclass
class Project:
    root: Path
    people: Identities

    @property
    def settings(self) -> Settings:
        return load_settings(self.root)

    def audit(self) -> AuditLog:
        return AuditLog(make_engine(self.settings.governance.db_url, self.root))

    def journal(self, mode: str = "live") -> Journal:
        return open_mode_journal(self.settings, mode)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    people = identities(tmp_path, {"alice": ["quant"], "carol": ["risk_officer"]})
    (tmp_path / "stratops.yaml").write_text(yaml.safe_dump({
        "governance": {"keys_dir": str(people.keys_dir)},
        "live": {"checkpoint_every": 10}}))
    for name in ("gates.yaml", "policy.yaml", "risk.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("STRATOPS_USER", raising=False)
    ceremony(tmp_path, people.keys_dir)
    return Project(tmp_path, people)


@pytest.fixture()
def serviced(project: Project, capsys: pytest.CaptureFixture[str]) -> Project:
    """The runner's service key created by the CLI and listed in the roles file."""
    assert main(["keys", "create-service", "--add-to-roles"]) == 0
    ceremony(project.root, project.people.keys_dir)  # the desk's ceremony lists the runner
    capsys.readouterr()
    return project


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


def _sealed_journal(project: Project, mode: str = "live") -> Journal:
    """43 entries in MODE's journal, checkpointed every 10 by the service key, sealed."""
    settings = project.settings
    journal = project.journal(mode)
    trust = directory(settings)
    journal.checkpoints = journal_checkpointer(settings, mode, journal,
                                               service_signer(settings, trust), trust)
    messages = sample_session(6)[:43]
    for start in range(0, len(messages), 5):
        journal.append_many(messages[start:start + 5])
    journal.seal()
    return journal


def _raise_close(record: dict) -> None:
    record["fields"]["close"] += 100.0


# -- keys create-service ----------------------------------------------------------------------

def test_keys_create_service_writes_a_0600_key_in_a_0700_folder(serviced: Project) -> None:
    key = serviced.root / ".stratops" / "service" / "runner.key"
    assert (stat.S_IMODE(key.stat().st_mode), stat.S_IMODE(key.parent.stat().st_mode)) == \
        (0o600, 0o700)


def test_keys_create_service_lists_the_runner_in_the_roles_file(serviced: Project) -> None:
    assert directory(serviced.settings).require("runner", "runner").name == "runner"


def test_keys_create_service_refuses_to_overwrite_a_key(serviced: Project,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert main(["keys", "create-service"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_service_key_readable_by_group_is_refused(serviced: Project) -> None:
    key = serviced.root / ".stratops" / "service" / "runner.key"
    key.chmod(0o640)
    with pytest.raises(LiveSetupError, match="0640"):
        attach_checkpoints(serviced.settings, "live", serviced.journal(),
                           directory(serviced.settings))


# -- the runner's identity at start -------------------------------------------------------------

def test_live_mode_without_a_service_key_refuses_to_start(project: Project) -> None:
    with pytest.raises(LiveSetupError, match="live refused: no usable service key"):
        attach_checkpoints(project.settings, "live", project.journal(),
                           directory(project.settings))


def test_shadow_mode_without_a_service_key_runs_without_checkpoints_and_says_so(
        project: Project) -> None:
    journal = project.journal("shadow")
    notes = attach_checkpoints(project.settings, "shadow", journal, directory(project.settings))
    assert (journal.checkpoints, "shadow runs without journal checkpoints" in notes[0]) == \
        (None, True)


def test_live_mode_with_a_service_key_opens_the_session_with_a_checkpoint(
        serviced: Project) -> None:
    journal = serviced.journal()
    journal.append_many(sample_session(1))
    attach_checkpoints(serviced.settings, "live", journal, directory(serviced.settings))
    (opened,) = read_checkpoints(journal_checkpoint_file(serviced.settings, "live"))
    assert (opened.seq, opened.sealed, opened.signature.signer) == \
        (journal.head()[0], False, "runner")


def test_live_mode_refuses_a_journal_truncated_below_its_checkpoint(serviced: Project) -> None:
    journal = _sealed_journal(serviced)
    truncate(journal.engine, "journal", 30)
    with pytest.raises(LiveSetupError, match="first bad entry seq 31"):
        attach_checkpoints(serviced.settings, "live", serviced.journal(),
                           directory(serviced.settings))


def test_canary_mode_without_a_key_still_refuses_a_journal_contradicting_its_checkpoints(
        serviced: Project) -> None:
    truncate(_sealed_journal(serviced, "canary").engine, "journal", 30)
    (serviced.root / ".stratops" / "service" / "runner.key").unlink()
    with pytest.raises(LiveSetupError, match="first bad entry seq 31"):
        attach_checkpoints(serviced.settings, "canary", serviced.journal("canary"),
                           directory(serviced.settings))


# -- journal verify --against -------------------------------------------------------------------

def test_cli_journal_verify_of_a_truncated_journal_names_the_first_missing_seq(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    truncate(_sealed_journal(serviced).engine, "journal", 30)
    path = journal_checkpoint_file(serviced.settings, "live")
    code = main(["journal", "verify", "--mode", "live", "--against", str(path)])
    out = _out(capsys)
    assert (code, "journal chain links: 30 entries" in out, "BROKEN at seq 31" in out) == \
        (1, True, True)


def test_cli_journal_verify_checks_the_configured_checkpoint_file_by_default(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    truncate(_sealed_journal(serviced).engine, "journal", 30)
    code = main(["journal", "verify", "--mode", "live"])
    assert (code, "(the configured checkpoint file)" in _out(capsys)) == (1, True)


def test_cli_journal_verify_of_a_rechained_edit_names_the_edited_seq(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    rechain_journal(_sealed_journal(serviced).engine, 24, _raise_close)
    code = main(["journal", "verify", "--mode", "live"])
    assert (code, "BROKEN at seq 24" in _out(capsys)) == (1, True)


def test_cli_journal_verify_of_a_row_forged_after_the_seal_names_it(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    journal = _sealed_journal(serviced)
    Journal(journal.engine, clock=lambda: T0).append(sample_session(1)[3])
    code = main(["journal", "verify", "--mode", "live"])
    assert (code, "BROKEN at seq 44" in _out(capsys)) == (1, True)


def test_cli_journal_verify_of_an_untouched_journal_is_intact(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _sealed_journal(serviced)
    code = main(["journal", "verify", "--mode", "live"])
    assert (code, "journal intact against 6 signed checkpoints" in _out(capsys)) == (0, True)


def test_cli_journal_verify_without_a_checkpoint_file_warns(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.journal().append_many(sample_session(1))
    code = main(["journal", "verify", "--mode", "live"])
    assert (code, "no checkpoint file" in _out(capsys)) == (0, True)


def test_cli_journal_verify_against_a_forged_checkpoint_is_refused(
        serviced: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _sealed_journal(serviced)
    path = journal_checkpoint_file(serviced.settings, "live")
    path.write_text(path.read_text().replace('"sealed":true', '"sealed":false'))
    code = main(["journal", "verify", "--mode", "live"])
    assert (code, "does not verify" in capsys.readouterr().err) == (2, True)


# -- audit ------------------------------------------------------------------------------------

def _sealed_audit(project: Project, records: int = 6) -> AuditLog:
    log = project.audit()
    for i in range(records):
        log.append(ts=TS + timedelta(minutes=i), kind="promotion_requested", actor="alice",
                   strategy="ema_cross", subject=f"R{i}", detail={"i": i})
    checkpoint_audit(project.settings, log, project.people.signer("alice"),
                     directory(project.settings))
    return log


def test_cli_audit_verify_of_a_truncated_log_names_the_first_missing_seq(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    truncate(_sealed_audit(project).engine, "audit_log", 4)
    code = main(["audit", "verify"])
    out = _out(capsys)
    assert (code, "audit chain links: 4 records" in out, "BROKEN at seq 5" in out) == \
        (1, True, True)


def test_cli_audit_verify_of_a_record_forged_after_the_seal_names_it(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    log = _sealed_audit(project)
    log.append(ts=TS, kind="promotion_approved", actor="bob", strategy="ema_cross",
               subject="R0", detail={"forged": True})
    path = audit_checkpoint_file(project.settings)
    code = main(["audit", "verify", "--against", str(path)])
    assert (code, "BROKEN at seq 7" in _out(capsys)) == (1, True)


def test_cli_audit_verify_of_a_rechained_edit_names_the_edited_seq(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    rechain_audit(_sealed_audit(project).engine, 3, lambda d: d.update(i=99))
    code = main(["audit", "verify"])
    assert (code, "BROKEN at seq 3" in _out(capsys)) == (1, True)


def test_cli_audit_checkpoint_seals_the_head_signed_by_the_acting_user(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    log = _sealed_audit(project)
    log.append(ts=TS, kind="refused", actor="unknown", detail={"reason": "no key"})
    code = main(["audit", "checkpoint", "--as", "carol", "--accept-appended"])
    last = read_checkpoints(audit_checkpoint_file(project.settings))[-1]
    assert (code, last.seq, last.sealed, last.signature.signer) == (0, 7, True, "carol")


def test_cli_audit_checkpoint_refuses_records_appended_after_a_seal_unless_accepted(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _sealed_audit(project).append(ts=TS, kind="refused", actor="unknown", detail={})
    code = main(["audit", "checkpoint", "--as", "carol"])
    assert (code, "NOT written" in _out(capsys)) == (1, True)


def test_governance_command_seals_the_audit_log_signed_by_its_user(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "request", "gates", "--reason", "first review", "--as", "alice"])
    opened, sealed = read_checkpoints(audit_checkpoint_file(project.settings))
    assert (code, (opened.seq, opened.sealed), (sealed.seq, sealed.sealed),
            sealed.signature.signer) == (0, (0, False), (1, True), "alice")


def test_refused_governance_command_still_seals_the_audit_log(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "approve", "R9", "--as", "carol"])  # no such request
    sealed = read_checkpoints(audit_checkpoint_file(project.settings))[-1]
    assert (code, project.audit().records()[-1].kind, sealed.seq, sealed.sealed) == \
        (1, "refused", 1, True)


def test_consecutive_governance_commands_each_seal_the_audit_log(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    codes = [main(["config", "request", "gates", "--reason", "review", "--as", "alice"]),
             main(["config", "approve", "R1", "--as", "alice"]),  # refused: not a risk officer
             main(["config", "approve", "R1", "--as", "carol"])]
    found = read_checkpoints(audit_checkpoint_file(project.settings))
    assert (codes, [(c.seq, c.sealed) for c in found if c.sealed]) == \
        ([0, 1, 0], [(1, True), (2, True), (3, True)])


def test_consecutive_governance_commands_leave_an_intact_audit_trail(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    main(["config", "request", "gates", "--reason", "review", "--as", "alice"])
    main(["config", "approve", "R1", "--as", "carol"])
    capsys.readouterr()
    code = main(["audit", "verify"])
    assert (code, "audit trail intact against 4 signed checkpoints" in _out(capsys)) == \
        (0, True)


def test_governance_command_on_a_log_appended_after_its_seal_acts_and_exits_1(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _sealed_audit(project).append(ts=TS, kind="refused", actor="mallory", detail={})
    code = main(["config", "request", "gates", "--reason", "review", "--as", "alice"])
    out = _out(capsys)
    assert (code, "first bad entry seq 7" in out, project.audit().head()[0]) == (1, True, 8)


def test_canary_evidence_from_a_rewritten_journal_is_one_open_break(serviced: Project) -> None:
    from stratops.governance_ops import _evidence

    journal = _sealed_journal(serviced, "canary")
    rechain_journal(journal.engine, 24, _raise_close)
    evidence = _evidence(serviced.settings, registry=None)("ema_cross", 1)
    assert evidence is not None and evidence.open_breaks == 1 and evidence.trades == 0
    assert "contradicts its signed checkpoints" in evidence.source
    assert "seq 24" in evidence.source


def test_cli_audit_checkpoint_accepting_appended_records_needs_a_risk_officer(
        project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    """Alice (a quant) forged a record with SQL and tries to attest it under her own key:
    refused and audited, no checkpoint written, and verify still names the forgery."""
    log = _sealed_audit(project)
    log.append(ts=TS, kind="promotion_approved", actor="bob", strategy="ema_cross",
               subject="R0", detail={"forged": True})
    before = read_checkpoints(audit_checkpoint_file(project.settings))
    code = main(["audit", "checkpoint", "--as", "alice", "--accept-appended"])
    out = _out(capsys)
    assert (code, "needs 'risk_officer'" in out) == (1, True), out
    assert read_checkpoints(audit_checkpoint_file(project.settings)) == before
    assert project.audit().records()[-1].kind == "refused"
    assert main(["audit", "verify"]) == 1


# -- canary evidence rests on signed checkpoints ----------------------------------------------

def test_canary_journal_covered_by_its_sealed_checkpoints_is_evidence(
        serviced: Project) -> None:
    journal = _sealed_journal(serviced, "canary")
    assert canary_checkpoint_problem(serviced.settings, journal) is None


def test_canary_journal_whose_checkpoints_were_deleted_is_not_evidence(
        serviced: Project) -> None:
    """An insider with file and SQL access removes the checkpoints (or writes a journal
    without them): on a desk with a trust lock that journal proves nothing."""
    journal = _sealed_journal(serviced, "canary")
    journal_checkpoint_file(serviced.settings, "canary").unlink()
    problem = canary_checkpoint_problem(serviced.settings, journal)
    assert problem is not None and problem.startswith("it has no signed checkpoint (")


def test_canary_journal_with_entries_past_its_last_checkpoint_is_not_evidence(
        serviced: Project) -> None:
    settings = serviced.settings
    journal = serviced.journal("canary")
    trust = directory(settings)
    journal.checkpoints = journal_checkpointer(settings, "canary", journal,
                                               service_signer(settings, trust), trust)
    messages = sample_session(6)[:43]
    for start in range(0, len(messages), 5):  # checkpoints every 10: 41..43 uncovered
        journal.append_many(messages[start:start + 5])
    problem = canary_checkpoint_problem(settings, serviced.journal("canary"))
    assert problem is not None and "not covered by a checkpoint yet" in problem
    assert problem.endswith("not evidence until a signed checkpoint covers them")


def test_canary_journal_without_checkpoints_on_a_desk_enrolling_no_runner_is_evidence(
        project: Project) -> None:
    """No runner identity in the trust lock: canary runs sign nothing (the runner warns),
    so there is nothing to hold the journal to."""
    journal = project.journal("canary")
    journal.append_many(sample_session(1)[:5])
    assert canary_checkpoint_problem(project.settings, journal) is None
