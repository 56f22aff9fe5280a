"""``stratops eod signoff``: the end-of-day sign-off of a mode's journal against the
broker's trade book (README, Operating runbook); exit 1 on any break."""

from __future__ import annotations

import getpass
import hashlib
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stratops.cli_common import JsonOpt, print_json
from stratops.errors import EXIT_FAILED

eod_app = typer.Typer(help="End-of-day sign-off.", no_args_is_help=True)
console = Console()


@eod_app.command("signoff")
def signoff(
    tradebook: Annotated[Path, typer.Argument(help="the broker's trade book CSV for the day "
                                                   "(Kite Console: Reports > Tradebook)")],
    day: Annotated[str, typer.Option(help="the session, YYYY-MM-DD")],
    mode: Annotated[str, typer.Option(help="canary | live")] = "live",
    as_json: JsonOpt = False,
) -> None:
    """Journal fills of DAY against the broker's trades by trade id; the totals to tick
    against the contract note; a clean sign-off is recorded in the audit trail."""
    from live.events import OrderFilled
    from live.tradebook import read_tradebook, sign_off
    from stratops.cli_live import existing_journal
    from stratops.errors import LiveSetupError
    from stratops.governance_ops import audit_log, utc_now
    from stratops.settings import load_settings

    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise LiveSetupError(f"--day {day!r}: not a YYYY-MM-DD date") from exc
    book = read_tradebook(tradebook)
    journal = existing_journal(mode)
    verdict = journal.verify()
    if not verdict.ok:
        raise LiveSetupError(f"the {mode} journal does not verify at seq "
                             f"{verdict.first_bad_seq}: {verdict.reason}; no sign-off")
    fills = [m for _, m in journal.read(verified=True) if isinstance(m, OrderFilled)]
    result = sign_off(when, fills, book)
    totals = {"trades": result.trades, "bought_units": result.bought_units,
              "bought_value_inr": round(result.bought_value, 2),
              "sold_units": result.sold_units, "sold_value_inr": round(result.sold_value, 2)}
    if result.clean:
        audit_log(load_settings()).append(
            ts=utc_now(), kind="eod_signoff", actor=f"os:{getpass.getuser()}"[:64],
            subject=f"{mode} {when}",
            detail={"tradebook_sha256": hashlib.sha256(tradebook.read_bytes()).hexdigest(),
                    "journal_head": list(journal.head()), **totals})
    if as_json:
        print_json({"day": when, "mode": mode, "clean": result.clean,
                    "breaks": result.breaks, **totals})
    else:
        for line in result.breaks:
            console.print(f"[red]BREAK[/] {line}", highlight=False, soft_wrap=True)
        console.print(f"{mode} {when}: {result.trades} broker trades; bought "
                      f"{result.bought_units} units {result.bought_value:,.2f} INR, sold "
                      f"{result.sold_units} units {result.sold_value:,.2f} INR (tick these "
                      "against the contract note); " +
                      ("signed off (audit: eod_signoff)" if result.clean
                       else f"{len(result.breaks)} break(s): NOT signed off"))
    if not result.clean:
        raise typer.Exit(EXIT_FAILED)
