"""``stratops trace show`` (one trade's timeline from the journal) and ``stratops watchdog``
(the dead-man's switch outside the runner; README, Observability)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stratops.cli_common import JsonOpt, print_json

console = Console()
trace_app = typer.Typer(help="Trades' timelines from the journal (read-only).",
                        no_args_is_help=True)


@trace_app.command("show")
def show(
    trace_id: Annotated[str, typer.Argument(help="the journal trace id (tr...)")],
    mode: Annotated[str, typer.Option(help="whose journal: shadow | canary | live")]
    = "shadow",
    as_json: JsonOpt = False,
) -> None:
    """Print every journaled step of TRACE_ID (signal, risk, order, fill, exit, ...) with the
    latency from the previous step and from the first, on the exchange clock (ts_event) and
    the journal's commit clock (ts_record). Reads a running or stopped runner's journal."""
    from live.events import to_record
    from live.observability.timeline import timeline, trace_steps
    from live.observability.tracing import otel_trace_id
    from stratops.cli_live import existing_journal

    journal = existing_journal(mode)
    try:
        rows = timeline(trace_steps(journal, trace_id))
    finally:
        journal.engine.dispose()
    otel = f"{otel_trace_id(trace_id):032x}"
    if as_json:
        print_json({"trace_id": trace_id, "otel_trace_id": otel, "mode": mode, "steps": [
            {"seq": r.step.seq, "step": r.step.name, "kind": r.step.message.KIND,
             "ts_event": r.step.ts_event.isoformat(),
             "ts_record": r.step.ts_record.isoformat(),
             "event_since_prev_ms": r.event_since_prev_ms,
             "event_since_first_ms": r.event_since_first_ms,
             "record_since_prev_ms": r.record_since_prev_ms,
             "record_since_first_ms": r.record_since_first_ms,
             "detail": r.detail, "fields": to_record(r.step.message)["fields"]}
            for r in rows]})
        return
    table = Table(title=f"trace {trace_id} ({mode} journal; OTel trace id {otel})")
    for name in ("seq", "step", "ts_event", "+event ms", "+record ms", "total record ms",
                 "detail"):
        table.add_column(name)
    for r in rows:
        table.add_row(str(r.step.seq), r.step.name, r.step.ts_event.isoformat(),
                      f"{r.event_since_prev_ms:,.1f}", f"{r.record_since_prev_ms:,.3f}",
                      f"{r.record_since_first_ms:,.3f}", r.detail)
    console.print(table)


def watchdog(
    url: Annotated[str | None, typer.Option(
        help="the runner's /metrics URL (default: observability.watchdog.url, else the "
             "observability.metrics host and port)")] = None,
    budget_seconds: Annotated[float | None, typer.Option(
        min=0.1, help="page when the heartbeat is older (default: "
                      "observability.watchdog.budget_seconds)")] = None,
    page_file: Annotated[Path | None, typer.Option(
        help="JSON lines file of pages (default: observability.watchdog.page_file)")] = None,
    max_checks: Annotated[int | None, typer.Option(
        min=1, help="stop after this many checks (default: until SIGTERM/SIGINT)")] = None,
) -> None:
    """The dead-man's switch: scrape the runner's metrics and page (once per incident) when
    its heartbeat is stale, missing, or the endpoint is down or hangs; page again when it
    recovers. Run it as its own process (a systemd unit beside the runner's)."""
    from stratops.observability_ops import run_watchdog
    from stratops.settings import load_settings

    pages = run_watchdog(load_settings(), url, budget_seconds, page_file, max_checks)
    typer.echo(f"watchdog stopped: {pages} page(s) sent")
