"""``stratops archive export|verify|purge-request|purge-approve``: the retention archive of
a mode's journal (with the audit trail and the reports) and the maker/checker deletion of
what the retention period no longer requires."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from live.compliance.archive import VerifiedArchive, export_archive, verify_archive
from live.compliance.retention import (
    PurgeContext,
    PurgeResult,
    approve_purge,
    request_purge,
)
from stratops.settings import Settings


def report_roots(settings: Settings, mode: str) -> dict[str, Path]:
    """MODE's report folders, by the key they are archived under (``reports/<key>/``)."""
    return {"compliance": settings.path(settings.compliance.report_dir) / mode,
            "days": settings.path(settings.live.serve.report_dir) / mode}


def archive_root(settings: Settings) -> Path:
    return settings.path(settings.retention.archive_dir)


def export(settings: Settings, mode: str, signer: Any) -> Path:
    """Export MODE's journal, the audit trail and the reports as a signed, read-only
    archive under ``retention.archive_dir``."""
    from live.db import StoreUnavailableError
    from stratops.checkpoint_ops import journal_chain
    from stratops.clock import utc_now
    from stratops.governance_ops import audit_log
    from stratops.tca_ops import tca_journal

    journal = tca_journal(settings, mode, None)
    try:
        audit = audit_log(settings, create=False)
        audit.head()
    except StoreUnavailableError:
        audit = None
    reports = report_roots(settings, mode)
    try:
        return export_archive(archive_root(settings), journal=journal,
                              chain=journal_chain(mode), signer=signer,
                              created_at=utc_now(), audit=audit, reports=reports)
    finally:
        journal.engine.dispose()


def export_audited(settings: Settings, service: Any, signer: Any, mode: str) -> VerifiedArchive:
    """Export (signed by the acting user), verify the result, and audit it as
    ``archive_exported`` (the manifest's digest and the journal range)."""
    from live.canonical import sha256_hex
    from live.compliance.archive import MANIFEST

    checked = verify_archive(export(settings, mode, signer), service.directory)
    held = checked.journal
    service.audit.append(ts=service.clock(), kind="archive_exported", actor=checked.signer,
                         subject=checked.folder.name, detail={
                             "manifest_sha256": sha256_hex(
                                 (checked.folder / MANIFEST).read_bytes()),
                             "first_seq": held.first_seq, "last_seq": held.last_seq,
                             "last_hash": held.last_hash,
                             "files": len(checked.manifest["files"])})
    return checked


def verify(settings: Settings, folder: Path) -> VerifiedArchive:
    from stratops.governance_ops import directory

    return verify_archive(folder, directory(settings))


def _context(settings: Settings, service: Any, mode: str) -> PurgeContext:
    from stratops.checkpoint_ops import journal_chain
    from stratops.clock import utc_now
    from stratops.tca_ops import tca_journal

    tz = settings.compliance.tz
    return PurgeContext(service=service, journal=tca_journal(settings, mode, None),
                        chain=journal_chain(mode), archive_root=archive_root(settings),
                        today=utc_now().astimezone(ZoneInfo(tz)).date(),
                        years=settings.retention.years, tz=tz,
                        report_roots=report_roots(settings, mode))


def purge_request(settings: Settings, service: Any, signer: Any, mode: str, before: date,
                  archive: str, reason: str) -> Any:
    ctx = _context(settings, service, mode)
    try:
        return request_purge(ctx, before, archive, reason, signer)
    finally:
        ctx.journal.engine.dispose()


def purge_approve(settings: Settings, service: Any, signer: Any, mode: str,
                  ref: str) -> PurgeResult:
    ctx = _context(settings, service, mode)
    try:
        return approve_purge(ctx, ref, signer)
    finally:
        ctx.journal.engine.dispose()
