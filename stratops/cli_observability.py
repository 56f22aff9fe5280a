"""``stratops trace show`` (one trade's timeline from the journal) and ``stratops watchdog``
(the dead-man's switch outside the runner; README, Observability)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stratops.cli_common import JsonOpt, print_json

if TYPE_CHECKING:
    from live.observability.timeline import Step

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
    the journal's commit clock (ts_record); for an entry, then the trace that closed its
    position. Reads a running or stopped runner's journal."""
    from live.observability.timeline import closing_trace, trace_steps
    from stratops.cli_live import existing_journal

    journal = existing_journal(mode)
    try:
        steps = trace_steps(journal, trace_id)
        exit_id = closing_trace(journal, steps)
        exit_steps = [] if exit_id is None else trace_steps(journal, exit_id)
    finally:
        journal.engine.dispose()
    if as_json:
        print_json({"mode": mode, **_trace_json(trace_id, steps),
                    "closed_by": None if exit_id is None else _trace_json(exit_id, exit_steps)})
        return
    _print_trace(trace_id, mode, steps)
    if exit_id is not None:
        console.print(f"closed by trace {exit_id}:")
        _print_trace(exit_id, mode, exit_steps, since=steps[0])
    elif any(s.name == "fill" for s in steps):
        console.print("position not closed by a later trace in this journal (still open, "
                      "or closed on this trace)")


def _trace_json(trace_id: str, steps: list[Step]) -> dict[str, Any]:
    from live.events import to_record
    from live.observability.timeline import timeline
    from live.observability.tracing import otel_trace_id

    return {"trace_id": trace_id, "otel_trace_id": f"{otel_trace_id(trace_id):032x}",
            "steps": [
                {"seq": r.step.seq, "step": r.step.name, "kind": r.step.message.KIND,
                 "ts_event": r.step.ts_event.isoformat(),
                 "ts_record": r.step.ts_record.isoformat(),
                 "event_since_prev_ms": r.event_since_prev_ms,
                 "event_since_first_ms": r.event_since_first_ms,
                 "record_since_prev_ms": r.record_since_prev_ms,
                 "record_since_first_ms": r.record_since_first_ms,
                 "detail": r.detail, "fields": to_record(r.step.message)["fields"]}
                for r in timeline(steps)]}


def _print_trace(trace_id: str, mode: str, steps: list[Step], since: Step | None = None
                 ) -> None:
    """One trace's table; ``since``: the entry's first step (an exit's times from it)."""
    from live.observability.timeline import timeline
    from live.observability.tracing import otel_trace_id

    first = since or steps[0]
    table = Table(title=f"trace {trace_id} ({mode} journal; OTel trace id "
                        f"{otel_trace_id(trace_id):032x})")
    for name in ("seq", "step", "ts_event", "+event ms", "+record ms", "record ms since "
                 + ("entry" if since is not None else "first"), "detail"):
        table.add_column(name)
    for r in timeline(steps):
        total = (r.step.ts_record - first.ts_record).total_seconds() * 1e3
        table.add_row(str(r.step.seq), r.step.name, r.step.ts_event.isoformat(),
                      f"{r.event_since_prev_ms:,.1f}", f"{r.record_since_prev_ms:,.3f}",
                      f"{total:,.3f}", r.detail)
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
    from stratops.alerts_ops import watchdog_pagers
    from stratops.observability_ops import run_watchdog
    from stratops.settings import load_settings

    settings = load_settings()
    pages = run_watchdog(settings, url, budget_seconds, page_file, max_checks,
                         also=watchdog_pagers(settings))
    typer.echo(f"watchdog stopped: {pages} page(s) sent")
