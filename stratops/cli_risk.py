"""``stratops kill``, ``stratops rearm request|approve`` and ``stratops risk report``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stratops.cli_common import JsonOpt, print_json
from stratops.cli_governance import AsOpt, ReasonOpt, SigningRefused, _signed_call
from stratops.errors import (
    EXIT_FAILED,
    BadKillAction,  # defined there: no import cycle
)

console = Console()


rearm_app = typer.Typer(help="Re-arm a kill switch (maker/checker).", no_args_is_help=True)
risk_app = typer.Typer(help="Risk limits, VaR, stress, margin.", no_args_is_help=True)


def kill(
    reason: ReasonOpt,
    strategy: Annotated[str | None, typer.Option(help="one strategy (default: all)")] = None,
    action: Annotated[str | None, typer.Option(
        "--action", help="halt (the default), reduce or flatten", show_default=False)]
    = None,
    old_mode: Annotated[str | None, typer.Option(
        "--mode", hidden=True, help="deprecated spelling of --action")] = None,
    as_user: AsOpt = None,
) -> None:
    """Pull the kill switch; every running runner applies it within a second (journaled)."""
    from live.governance.kill import KILL_MODES, pull
    from stratops.cli_common import deprecated

    if old_mode is not None:
        deprecated("kill --mode (it means the stage elsewhere)", "kill --action")
        if action is not None and action != old_mode:
            raise BadKillAction(f"--action {action!r} and --mode {old_mode!r} disagree; "
                                "give --action only")
    mode = action or old_mode or "halt"
    if mode not in KILL_MODES:
        raise BadKillAction(f"--action {mode!r}: one of {', '.join(KILL_MODES)}")
    try:
        command = _signed_call(as_user, lambda svc, sign: pull(svc, strategy or "all", mode,
                                                               reason, sign), "kill_switch")
    except SigningRefused:  # a kill that cannot be signed still halts (fail closed), unsigned
        if not reason.strip():
            raise
        command = _pull_unsigned(strategy or "all", mode, reason, as_user)
        console.print(f"[red]kill switch K{command} recorded UNSIGNED[/]: runners apply it "
                      "anyway and alert (audited)")
    console.print(f"[red]kill switch K{command}[/]: {strategy or 'all'} -> {mode}; re-arming "
                  "needs a risk officer: stratops rearm request ...")


def _pull_unsigned(scope: str, mode: str, reason: str, as_user: str | None) -> int:
    import getpass

    from live.db import make_engine
    from live.governance.kill import pull_unsigned
    from stratops.governance_ops import utc_now
    from stratops.settings import load_settings

    settings = load_settings()
    engine = make_engine(settings.governance.db_url, settings.root)
    return pull_unsigned(engine, scope, mode, reason, as_user or getpass.getuser(),
                         "the puller's signature could not be made or verified", utc_now)


@rearm_app.command("request")
def rearm_request(reason: ReasonOpt,
                  strategy: Annotated[str | None, typer.Option()] = None,
                  as_user: AsOpt = None) -> None:
    """Maker: ask for the kill switch of STRATEGY (or all) to be lifted."""
    from live.governance.kill import request_rearm

    row = _signed_call(as_user, lambda svc, sign: request_rearm(svc, strategy or "all",
                                                                reason, sign))
    console.print(f"{row.ref}: re-arm {strategy or 'all'} requested by {row.maker}; a risk "
                  f"officer approves: stratops rearm approve {row.ref}")


@rearm_app.command("approve")
def rearm_approve(request: Annotated[str, typer.Argument()], as_user: AsOpt = None) -> None:
    """Checker (risk officer, not the maker): lift the kill switch."""
    from live.governance.kill import approve_rearm

    command = _signed_call(as_user, lambda svc, sign: approve_rearm(svc, request, sign),
                           "rearm_approve")
    console.print(f"[green]re-armed[/] (K{command})")


@risk_app.command("report")
def report(mode: Annotated[str, typer.Option(help="whose journal: shadow | canary | live")]
           = "shadow", as_json: JsonOpt = False) -> None:
    """Utilisation of every limit, VaR/CVaR, stress and margin for MODE's positions now."""
    from live.state import replay
    from stratops.cli_live import existing_journal
    from stratops.risk_view import risk_inputs, risk_view
    from stratops.settings import load_settings

    state = replay(existing_journal(mode))  # a report never creates an empty journal
    inputs = risk_inputs(load_settings())
    limits = inputs.limits
    view = risk_view(inputs, state)
    today, rows, over = view.as_of, view.rows, view.exceeded
    if as_json:
        print_json({"mode": mode, "risk_version": limits.version, "as_of": today,
                    "exceeded": over,
                    "rows": [{"area": r.area, "item": r.item, "value": r.value,
                              "limit": r.limit, "utilisation": r.utilisation} for r in rows]})
    else:
        table = Table(title=f"Risk report ({mode} journal, risk.yaml v{limits.version})")
        for name in ("area", "item", "value", "limit", "utilisation"):
            table.add_column(name)
        for row in rows:
            util = row.utilisation
            table.add_row(row.area, row.item, f"{row.value:,.2f}",
                          "-" if row.limit is None else f"{row.limit:,.2f}",
                          "-" if util is None else f"{util:.1%}")
        console.print(table)
        if over:
            console.print("[red]a limit is exceeded[/]")
    if over:
        raise typer.Exit(EXIT_FAILED)
