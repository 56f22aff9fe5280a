"""``stratops alerts list|ack|page|deliver`` and ``stratops playbook check|proposals|confirm``
(README, Alert delivery; Playbooks)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console

from stratops.cli_common import JsonOpt, print_json
from stratops.cli_governance import AsOpt, _signed_call
from stratops.cli_live import ModeOpt

console = Console()

alerts_app = typer.Typer(help="Alert delivery: the queue, acknowledgements, pages.",
                         no_args_is_help=True)
playbook_app = typer.Typer(help="Incident playbooks (playbooks.yaml): check, confirm.",
                           no_args_is_help=True)


def _outbox() -> Any:
    """The existing queue (a reader never creates one)."""
    from live.alerts.config import AlertConfigError
    from live.alerts.outbox import Outbox
    from stratops.alerts_ops import delivery_config
    from stratops.settings import load_settings

    config = delivery_config(load_settings(), secrets=False)  # reads the queue, sends nothing
    if not config.db_path.is_file():
        raise AlertConfigError(f"no alert queue at {config.db_path}: nothing was delivered "
                               "here yet (alerts.enabled, alerts.db_path)")
    return Outbox(config.db_path, config)


@alerts_app.command("list")
def alerts_list(limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
                as_json: JsonOpt = False) -> None:
    """The newest alerts in the delivery queue with each delivery's state."""
    groups = _outbox().groups(limit)
    if as_json:
        print_json({"alerts": groups})
        return
    for g in groups:
        acked = f"acked by {g['acked_by']}" if g["acked_by"] else "not acked"
        console.print(f"[bold]{g['id']}[/] {g['severity']} {g['code']} ({g['scope']}) "
                      f"x{g['count']} tier {g['tier']}, {acked}: {g['message']}",
                      markup=True, highlight=False)
        for d in g["deliveries"]:
            error = f" ({d['last_error']})" if d["last_error"] else ""
            console.print(f"    {d['channel']} tier {d['tier']}: {d['state']} after "
                          f"{d['attempts']} attempt(s){error}", markup=False, highlight=False)


@alerts_app.command("ack")
def alerts_ack(alert: Annotated[int, typer.Argument(help="alert id (stratops alerts list)")],
               by: Annotated[str, typer.Option(help="who has it")]) -> None:
    """Acknowledge an alert: it is not escalated to the next tier."""
    _outbox().ack(alert, by, time.time())
    console.print(f"alert {alert} acknowledged by {by}: no further escalation")


@alerts_app.command("page")
def alerts_page(kind: Annotated[str, typer.Argument(help="what happened, e.g. runner_down")],
                message: Annotated[str, typer.Option(help="what a person should know")],
                severity: Annotated[str, typer.Option(help="info|warning|error|critical")]
                = "critical") -> None:
    """Page tier 0 now from outside any runner (what the watchdog calls)."""
    from live.alerts.page import page
    from stratops.alerts_ops import configure_alerts
    from stratops.settings import load_settings

    configure_alerts(load_settings())
    page(kind, severity, message, {"from": "stratops alerts page"})
    console.print(f"paged {kind} (queued; see stratops alerts list)")


@alerts_app.command("deliver")
def alerts_deliver(mode: Annotated[str | None, typer.Option(
        help="also read this mode's journal (default: only the queue)")] = None,
        once: Annotated[bool, typer.Option(help="one pass, then exit")] = False) -> None:
    """Run the delivery worker in the foreground: retries, escalations and (with --mode) a
    journal's alerts, for when no runner is up to deliver them."""
    from stratops.alerts_ops import dispatcher
    from stratops.settings import load_settings

    head = None
    if mode is not None:  # never creates the journal; first seen: from its head
        from stratops.cli_live import existing_journal

        head = existing_journal(mode).head()[0]
    worker = dispatcher(load_settings(), mode)
    if head is not None:
        worker.begin_at(head)
    if once:
        console.print(f"delivered {worker.run_once()}")
        return
    worker.start()
    console.print("delivering (Ctrl-C ends)")
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        worker.stop()


@playbook_app.command("check")
def playbook_check(as_json: JsonOpt = False) -> None:
    """Validate playbooks.yaml (exit 2 naming the field and value when it is wrong)."""
    from stratops.playbooks_ops import runner_playbooks
    from stratops.settings import load_settings

    settings = load_settings()
    book = runner_playbooks(settings)
    if book is None:
        console.print(f"no {settings.governance.playbooks_file}: no playbooks")
        return
    rows: list[dict[str, Any]] = [
        {"name": p.name, "codes": list(p.codes), "action": p.action, "scope": p.scope,
         "mode": p.mode, "max_actions": p.rate_limit.max_actions,
         "window_seconds": p.rate_limit.window_seconds} for p in book.playbooks]
    if as_json:
        print_json({"sha256": book.sha256, "playbooks": rows})
        return
    for r in rows:
        console.print(f"{r['name']}: {','.join(r['codes'])} -> {r['action']} {r['scope']} "
                      f"({r['mode']}, at most {r['max_actions']} per {r['window_seconds']}s)",
                      markup=False, highlight=False)
    console.print(f"valid; sha256 {book.sha256[:12]}")


def _proposals(mode: str) -> Any:
    from live.playbooks.confirm import Proposals
    from stratops.cli_live import existing_journal

    return Proposals.from_journal(existing_journal(mode).read())


@playbook_app.command("proposals")
def playbook_proposals(mode: ModeOpt = "live", as_json: JsonOpt = False) -> None:
    """Confirm-first steps waiting for a signed confirmation in MODE's journal."""
    waiting = _proposals(mode).waiting()
    if as_json:
        print_json({"proposals": [{"proposal": p.proposal, "playbook": p.playbook,
                                   "alert_code": p.alert_code, "action": p.action,
                                   "scope": p.scope, "trace_id": p.trace_id,
                                   "ts_event": p.ts_event.isoformat()} for p in waiting]})
        return
    for p in waiting:
        console.print(f"{p.proposal}: {p.action} {p.scope} ({p.playbook} on {p.alert_code}, "
                      f"trace {p.trace_id}, {p.ts_event:%Y-%m-%d %H:%M:%S})",
                      markup=False, highlight=False)
    if not waiting:
        console.print("no proposal waiting")


@playbook_app.command("confirm")
def playbook_confirm(proposal: Annotated[str, typer.Argument(help="e.g. PB1a2b3c4d5e")],
                     mode: ModeOpt = "live", as_user: AsOpt = None) -> None:
    """Sign the confirmation of a proposed step (a desk head or risk officer): a kill
    command the running runner applies within a second, journaled under the alert's
    trace."""
    from live.playbooks.confirm import confirm

    proposals = _proposals(mode)
    command = _signed_call(as_user, lambda svc, sign: confirm(svc, proposals, proposal, sign),
                           "playbook_confirm")
    console.print(f"[green]{proposal} confirmed[/]: kill command K{command}; the runner "
                  "applies it within a second")
