"""``stratops checkpoints verify|sync``: the signed checkpoints' off-host copy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from stratops.errors import EXIT_FAILED

if TYPE_CHECKING:
    from live.checkpoints import ChainReader
    from stratops.checkpoint_ops import OffhostResult

console = Console()
checkpoints_app = typer.Typer(help="Signed checkpoints: verify from the off-host copy, sync it.",
                              no_args_is_help=True)


@checkpoints_app.command("verify")
def verify(
    mode: Annotated[str | None, typer.Option(
        help="the journal of this mode (shadow | canary | live)")] = None,
    audit: Annotated[bool, typer.Option("--audit", help="the audit trail instead")] = False,
    source: Annotated[Literal["offhost", "local"], typer.Option(
        "--from", help="offhost: the copy in offhost_checkpoints.url; local: the file")]
    = "offhost",
) -> None:
    """Verify a journal's or the audit trail's chain against its signed checkpoints, read
    from the off-host copy; report a missing or mismatching copy; exit 1 on any finding."""
    from stratops.checkpoint_ops import (
        AUDIT_CHAIN,
        RUNNER_ROLE,
        audit_checkpoint_file,
        check_offhost,
        journal_chain,
        journal_checkpoint_file,
    )
    from stratops.governance_ops import directory_or_none
    from stratops.settings import load_settings

    if audit == (mode is not None):
        raise typer.BadParameter("give one of --mode MODE or --audit")
    if source == "local":  # the existing commands verify against the local file
        from stratops.cli_governance import audit_verify
        from stratops.cli_live import verify as journal_verify

        audit_verify(None) if audit else journal_verify(str(mode), None)
        return
    settings = load_settings()
    reader: ChainReader
    if audit:
        from stratops.cli_governance import _audit

        reader, chain, local, role = (_audit(settings, create=False), AUDIT_CHAIN,
                                      audit_checkpoint_file(settings), None)
    else:
        from stratops.cli_live import existing_journal

        reader, chain, local, role = (existing_journal(str(mode)), journal_chain(str(mode)),
                                      journal_checkpoint_file(settings, str(mode)),
                                      RUNNER_ROLE)
    result = check_offhost(settings, reader, local, directory_or_none(settings),
                           chain=chain, role=role)
    _report(chain, result)


def _report(chain: str, result: OffhostResult) -> None:
    copy, verdict, failed = result.copy, result.verdict, False
    if verdict is None:
        console.print(f"[red]{chain}: the off-host copy holds no checkpoint[/] "
                      f"(local file: {copy.local_lines} lines)")
        raise typer.Exit(EXIT_FAILED)
    if verdict.ok:
        console.print(f"[green]{chain} intact[/] against {verdict.checkpoints} off-host "
                      f"checkpoints (signed by {', '.join(verdict.signers)}), up to seq "
                      f"{verdict.checkpoint_seq}")
    else:
        console.print(f"[red]{chain} BROKEN[/] at seq {verdict.first_bad_seq} against the "
                      f"off-host copy: {verdict.reason}")
        failed = True
    if copy.first_mismatch is not None:
        console.print(f"[red]local checkpoint file MISMATCH[/]: {copy.reason}")
        failed = True
    elif copy.reason:  # local lines not copied yet
        console.print(f"[red]off-host copy MISSING lines[/]: {copy.reason} "
                      "(stratops checkpoints sync)")
        failed = True
    if failed:
        raise typer.Exit(EXIT_FAILED)


@checkpoints_app.command("sync")
def sync() -> None:
    """Copy the lines the off-host copy lacks (after an outage); exit 1 when a local file
    disagrees with the copy (it is never overwritten)."""
    from stratops.checkpoint_ops import sync_offhost
    from stratops.settings import load_settings

    failed = False
    for report in sync_offhost(load_settings()):
        if report.first_mismatch is not None:
            console.print(f"[red]{report.chain}: NOT copied[/]: {report.reason}")
            failed = True
        else:
            console.print(f"{report.chain}: {report.copied} lines copied, "
                          f"{report.local_lines} in the copy")
    if failed:
        raise typer.Exit(EXIT_FAILED)
