"""``stratops archive export|verify|purge-request|purge-approve``: the retention archive
and the maker/checker deletion of journal entries past the retention period."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratops.cli_common import JsonOpt, print_json
from stratops.cli_governance import AsOpt, ReasonOpt, _signed_call
from stratops.cli_tca import _day

archive_app = typer.Typer(help="Retention: the signed read-only archive (Parquet + SHA-256 "
                               "manifest) and maker/checker deletion after the period.",
                          no_args_is_help=True)
ModeOpt = Annotated[str, typer.Option(help="shadow | canary | live: whose journal")]


@archive_app.command("export")
def export(mode: ModeOpt = "live", as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Export MODE's journal, the audit trail and the reports to a new read-only archive
    under retention.archive_dir, its manifest signed by the acting user; verified, then
    audited (``archive_exported``)."""
    from stratops.archive_ops import export_audited
    from stratops.settings import load_settings

    settings = load_settings()
    checked = _signed_call(as_user, lambda svc, sign: export_audited(settings, svc, sign,
                                                                      mode),
                           "archive_export")
    folder, held = checked.folder, checked.journal
    if as_json:
        print_json({"archive": str(folder), "first_seq": held.first_seq,
                    "last_seq": held.last_seq, "files": len(checked.manifest["files"])})
        return
    typer.echo(f"archive {folder.name}: journal seq {held.first_seq}..{held.last_seq} "
               f"({held.first_ts} .. {held.last_ts}), {len(checked.manifest['files'])} files, "
               f"signed by {checked.signer}; verified")


@archive_app.command("verify")
def verify(folder: Annotated[Path, typer.Argument(help="an archive folder")]) -> None:
    """Check the manifest's signature, every file's SHA-256 and the archived hash chains;
    exit 2 naming the file that fails."""
    from stratops.archive_ops import verify as verify_archive
    from stratops.settings import load_settings

    checked = verify_archive(load_settings(), folder)
    typer.echo(f"{folder}: intact ({len(checked.manifest['files'])} files, journal seq "
               f"{checked.journal.first_seq}..{checked.journal.last_seq}, signed by "
               f"{checked.signer})")


@archive_app.command("purge-request")
def purge_request(
    before: Annotated[str, typer.Option(help="delete entries of days before this, "
                                             "YYYY-MM-DD (outside the retention period)")],
    archive: Annotated[str, typer.Option(help="the archive holding them (its folder name)")],
    reason: ReasonOpt, mode: ModeOpt = "live", as_user: AsOpt = None,
) -> None:
    """Maker: ask to delete the journal's entries before BEFORE (refused, and audited, when
    inside the period, not verifiably archived or not inert)."""
    from stratops.archive_ops import purge_request as request
    from stratops.settings import load_settings

    settings = load_settings()
    day = _day(before)
    row = _signed_call(as_user, lambda svc, sign: request(settings, svc, sign, mode, day,
                                                          archive, reason),
                       "retention_purge_request")
    typer.echo(f"{row.ref}: deletion of journal-{mode} entries through seq "
               f"{row.payload['through_seq']} requested by {row.maker}; a risk officer must "
               f"approve: stratops archive purge-approve {row.ref} --mode {mode}")


@archive_app.command("purge-approve")
def purge_approve(request: Annotated[str, typer.Argument()], mode: ModeOpt = "live",
                  as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Checker (a risk officer, not the maker): check everything again and delete."""
    from stratops.archive_ops import purge_approve as approve
    from stratops.settings import load_settings

    settings = load_settings()
    done = _signed_call(as_user, lambda svc, sign: approve(settings, svc, sign, mode,
                                                           request),
                        "retention_purge_approve")
    if as_json:
        print_json({"request": done.ref, "deleted_from": done.deleted_from,
                    "deleted_through": done.deleted_through, "anchor_hash": done.anchor_hash,
                    "archive": done.archive, "report_folders": done.report_folders})
        return
    typer.echo(f"{done.ref}: deleted {done.chain} seq {done.deleted_from}.."
               f"{done.deleted_through} and {done.report_folders} report day folders; the "
               f"chain now verifies from anchor seq {done.deleted_through} "
               f"({done.anchor_hash[:16]}...), held by archive {done.archive}")
