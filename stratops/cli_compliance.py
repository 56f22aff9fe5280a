"""``stratops compliance scan|report|verify``: surveillance of our own order flow and the
signed daily compliance report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratops.cli_common import JsonOpt, print_json
from stratops.cli_tca import _day
from stratops.errors import EXIT_FAILED

compliance_app = typer.Typer(help="Abuse detectors and the signed daily compliance report.",
                             no_args_is_help=True)

ModeOpt = Annotated[str, typer.Option(help="shadow | canary | live: whose journal")]
JournalOpt = Annotated[str | None, typer.Option(
    help="a journal URL (sqlite:///... | postgresql://...) instead of MODE's")]


@compliance_app.command("scan")
def scan(
    day: Annotated[str, typer.Option(help="the trading day, YYYY-MM-DD")],
    mode: ModeOpt = "live", journal: JournalOpt = None, as_json: JsonOpt = False,
) -> None:
    """Run the abuse detectors (layering/spoofing, wash trades, marking the close, abnormal
    P&L and position build-up) over the day's journal; exit 1 when anything is found."""
    from stratops.compliance_ops import compliance_scan
    from stratops.settings import load_settings

    found = compliance_scan(load_settings(), _day(day), mode=mode, url=journal)
    if as_json:
        print_json({"day": day, "findings": [f.to_json() for f in found]})
    else:
        for f in found:
            typer.echo(f"{f.ts.isoformat()} {f.severity.value.upper():8} {f.detector:18} "
                       f"{f.finding_id}  {f.summary}")
        typer.echo(f"{len(found)} finding(s) on {day}")
    if found:
        raise typer.Exit(EXIT_FAILED)


@compliance_app.command("report")
def report(
    day: Annotated[str, typer.Option(help="the trading day, YYYY-MM-DD")],
    mode: ModeOpt = "live", journal: JournalOpt = None,
    out: Annotated[Path | None, typer.Option(
        help="folder for compliance.json|html (default compliance.report_dir/MODE/DAY)")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the day's report from the journal and the audit trail, sign it with the
    runner's service key and write it (JSON + HTML)."""
    from stratops.compliance_ops import compliance_report
    from stratops.settings import load_settings

    made = compliance_report(load_settings(), _day(day), mode=mode, url=journal, out=out)
    body = made.document["body"]
    if as_json:
        print_json({"json": str(made.json_path), "html": str(made.html_path),
                    "body_sha256": made.document["body_sha256"],
                    "journal_anchor": body["journal_anchor"],
                    "findings": len(body["findings"])})
        return
    anchor = body["journal_anchor"]
    typer.echo(f"{day}: {body['orders']['intended']} orders, {body['orders']['cancelled']} "
               f"cancels, {len(body['findings'])} findings, {len(body['alerts'])} alerts; "
               f"anchor seq {anchor['seq']}")
    typer.echo(f"signed report: {made.json_path} (body sha256 "
               f"{made.document['body_sha256']}) and {made.html_path}")


@compliance_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="a compliance.json")],
    mode: Annotated[str | None, typer.Option(
        help="also check the journal anchor against MODE's journal")] = None,
    journal: JournalOpt = None,
) -> None:
    """Check a report: its body against the signed digest, the runner's signature, and
    (with --mode/--journal) that the journal still has the anchored entry; exit 2 when
    it fails, naming the file and why."""
    from stratops.compliance_ops import compliance_verify
    from stratops.settings import load_settings

    body = compliance_verify(load_settings(), file, mode=mode, url=journal)
    anchor = body["journal_anchor"]
    typer.echo(f"{file}: intact, signed by the runner; day {body['day']} anchor seq "
               f"{anchor['seq']}")
