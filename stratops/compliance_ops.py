"""``stratops compliance scan|report|verify`` and the day close's compliance report: the
journal of a mode (or a URL), the audit trail's records of the day, the runner's service
key to sign with and the trusted directory to verify against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from live.compliance.findings import Finding
from live.compliance.report import (
    AuditEntry,
    day_bounds,
    report_body,
    signed_report,
    verify_report,
    write_report,
)
from live.compliance.scan import scan_messages
from stratops.settings import Settings


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    document: dict[str, Any]
    json_path: Path
    html_path: Path


def _journal(settings: Settings, mode: str, url: str | None) -> Any:
    from stratops.tca_ops import tca_journal  # the same refusal of a missing journal

    return tca_journal(settings, mode, url)


def compliance_scan(settings: Settings, day: date, *, mode: str = "live",
                    url: str | None = None) -> list[Finding]:
    """The daily batch of the abuse detectors over MODE's journal."""
    journal = _journal(settings, mode, url)
    try:
        return scan_messages((m for _, m in journal.read()), day,
                             settings.compliance.thresholds())
    finally:
        journal.engine.dispose()


def day_audit(settings: Settings, day: date) -> list[AuditEntry] | None:
    """The audit trail's records of ``day`` (config changes, approvals, promotions,
    refusals); None when there is no governance store."""
    from live.db import StoreUnavailableError
    from stratops.governance_ops import audit_log

    start, end = day_bounds(day, settings.compliance.tz)
    try:
        records = audit_log(settings, create=False).records(since=start, until=end)
    except StoreUnavailableError:
        return None
    return [AuditEntry(seq=r.seq, ts=r.ts, kind=r.kind, actor=r.actor, subject=r.subject,
                       hash=r.hash, detail=r.detail) for r in records]


def build_report_body(settings: Settings, journal: Any, day: date,
                      mode: str) -> dict[str, Any]:
    """The report body of ``day`` from ``journal`` and the audit trail (deterministic)."""
    def hash_of(seq: int) -> str:
        return str(next(journal.hashes(seq, seq))[1])

    return report_body(journal.read(), hash_of, day, mode, settings.compliance.thresholds(),
                       day_audit(settings, day))


def compliance_report(settings: Settings, day: date, *, mode: str = "live",
                      url: str | None = None, out: Path | None = None,
                      journal: Any = None) -> ComplianceReport:
    """Build, sign (the runner's service key) and write the day's report under ``out``
    (default ``compliance.report_dir/<mode>/<day>``)."""
    from stratops.checkpoint_ops import service_signer
    from stratops.governance_ops import directory

    signer = service_signer(settings, directory(settings))  # refused before any work
    opened = journal is None
    journal = _journal(settings, mode, url) if opened else journal
    try:
        body = build_report_body(settings, journal, day, mode)
    finally:
        if opened:
            journal.engine.dispose()
    document = signed_report(body, signer)
    folder = out if out is not None else \
        settings.path(settings.compliance.report_dir) / mode / day.isoformat()
    json_path, html_path = write_report(folder, document)
    return ComplianceReport(document, json_path, html_path)


def compliance_verify(settings: Settings, path: Path, *, mode: str | None = None,
                      url: str | None = None) -> dict[str, Any]:
    """Verify a stored report (digest, the runner's signature; with a journal, its
    anchor); returns its body or raises :class:`ReportVerifyError`."""
    from stratops.governance_ops import directory

    trust = directory(settings)
    if mode is None and url is None:
        return verify_report(path, trust)
    journal = _journal(settings, mode or "live", url)

    def anchor_hash(seq: int) -> str | None:
        return next((h for _, h in journal.hashes(seq, seq)), None)

    try:
        return verify_report(path, trust, anchor_hash)
    finally:
        journal.engine.dispose()


def day_close_report(settings: Settings, mode: str, log: Callable[[str], None]
                     ) -> Callable[[Any, date, Path], None]:
    """What the service calls at each day's close, beside the TCA: the signed compliance
    report in the day's report folder (``compliance/``). A failure is logged loudly and
    never stops the service (the journal it is made from is kept; `stratops compliance
    report` makes it again)."""
    def produce(journal: Any, day: date, folder: Path) -> None:
        try:
            made = compliance_report(settings, day, mode=mode, out=folder, journal=journal)
        except Exception as exc:  # the service carries on; the report can be regenerated
            log(f"compliance report {day}: NOT produced ({type(exc).__name__}: {exc}); "
                f"run `stratops compliance report --day {day} --mode {mode}`")
            return
        findings = len(made.document["body"]["findings"])
        log(f"compliance report {day}: {made.json_path} ({findings} findings, signed)")

    return produce
