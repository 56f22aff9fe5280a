"""``stratops preopen``: the operating runbook's pre-open checks, each printed with what it
saw; exit 1 when any fails (README, Operating runbook)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from stratops.cli_common import JsonOpt, print_json
from stratops.errors import EXIT_FAILED

console = Console()


def preopen(
    mode: Annotated[str, typer.Option(help="whose journal and approvals: shadow | canary | "
                                           "live")] = "live",
    broker: Annotated[str | None, typer.Option(
        help="paper | kite (default: live.broker)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Token, instruments, contract roll, limits, clock, disk, last night's reconciliation
    and the whitelisted egress IP; every check printed, exit 1 if any fails."""
    from stratops.clock import utc_now
    from stratops.live_ops import BROKERS, MODES, LiveSetupError
    from stratops.preopen_ops import run_checks, system_probes
    from stratops.settings import load_settings

    settings = load_settings()
    if mode not in MODES:
        raise LiveSetupError(f"--mode {mode!r}: one of {MODES}")
    chosen = broker or settings.live.broker
    if chosen not in BROKERS:
        raise LiveSetupError(f"--broker {chosen!r}: one of {BROKERS}")
    results = run_checks(settings, mode, chosen, system_probes(utc_now()))
    failed = [r.name for r in results if not r.ok]
    if as_json:
        print_json({"mode": mode, "broker": chosen, "ok": not failed,
                    "checks": [{"name": r.name, "ok": r.ok, "detail": r.detail}
                               for r in results]})
    else:
        for r in results:
            mark = "[green]PASS[/]" if r.ok else "[red]FAIL[/]"
            console.print(f"{mark} {r.name}: {r.detail}", highlight=False, soft_wrap=True)
        console.print(f"preopen {mode}/{chosen}: " + (f"FAILED ({', '.join(failed)})"
                                                      if failed else "all checks passed"))
    if failed:
        raise typer.Exit(EXIT_FAILED)
