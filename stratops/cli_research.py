"""``stratops research run|affected`` and ``stratops gate check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stratops.errors import EXIT_FAILED

console = Console()
research_app = typer.Typer(help="Research: walk-forward, gates, registered versions.",
                           no_args_is_help=True)
gate_app = typer.Typer(help="CI gates on registered strategy versions.", no_args_is_help=True)


@research_app.command("run")
def run(
    strategy: Annotated[list[str] | None, typer.Option(
        "--strategy", "-s", help="strategy (repeatable; default: research.strategies)")] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", "-d", help="dataset (repeatable; default: research.datasets)")] = None,
    fail_on_gate: Annotated[bool, typer.Option(
        help="exit 1 when a version fails its gates (CI)")] = False,
) -> None:
    """Materialise features -> walk_forward_report -> gate_verdict -> strategy_version."""
    from stratops.cli_run import _dagster_env
    from stratops.research_job import print_summary, raise_user_errors, run_studies, select
    from stratops.settings import load_settings

    pairs = select(load_settings().research, strategy, dataset)
    _dagster_env()
    outcomes = run_studies(pairs, console)
    print_summary(outcomes, console)
    raise_user_errors(outcomes)  # `error: ...`, exit 2: the input, not the code, is wrong
    if not all(o.success for o in outcomes):
        raise typer.Exit(EXIT_FAILED)
    if fail_on_gate and not all(o.gate_passed for o in outcomes):
        console.print("[red]a strategy version failed its gates[/]")
        raise typer.Exit(EXIT_FAILED)


@research_app.command("affected")
def affected(
    base: Annotated[str, typer.Option(help="git ref to diff against")] = "origin/main",
) -> None:
    """Print the strategies a change since BASE affects, one per line (for CI)."""
    from pipelines.research.affected import affected_strategies, changed_files
    from stratops.settings import load_settings

    for name in affected_strategies(changed_files(load_settings().root, base)):
        typer.echo(name)


@gate_app.command("check")
def check(
    strategy: Annotated[str, typer.Argument(help="registered strategy (model) name")],
    version: Annotated[str, typer.Argument(help="version number, latest, or @alias")],
    gates: Annotated[Path | None, typer.Option(
        help="gates file (default: governance.gates_file, gates.yaml)")] = None,
) -> None:
    """Re-check a registered version's metrics against the gates; exit 1 on any failure."""
    from pipelines.research.gates import load_gates
    from pipelines.research.registry import ResearchRegistry
    from strategies.registry import STRATEGIES
    from stratops.settings import load_settings

    settings = load_settings()
    registry = ResearchRegistry(settings.tracking_uri,
                                settings.path(settings.mlflow_artifact_root))
    found = registry.get_version(strategy, version)
    verdict = load_gates(gates or settings.path(settings.governance.gates_file),
                         known_strategies=set(STRATEGIES)).evaluate(
        strategy, registry.run_metrics(found))
    table = Table(title=f"Gates of {found.model_uri}")
    for name in ("check", "metric", "value", "threshold", "result"):
        table.add_column(name)
    for c in verdict.checks:
        table.add_row(c.name, c.metric, f"{c.value:.4g}", f"{c.threshold:.4g}",
                      "[green]pass[/]" if c.passed else "[red]FAIL[/]")
    console.print(table)
    for warning in verdict.warnings:
        console.print(f"[yellow]warning: {warning}[/]", soft_wrap=True)
    recorded = found.tags.get("stratops.gates_digest")
    if recorded is not None and recorded != verdict.gates_digest:
        console.print("note: gates changed since this version was registered "
                      "(checked against the current file)")
    if not verdict.passed:
        console.print(f"[red]{strategy} version {found.version} FAILS its gates[/]")
        raise typer.Exit(EXIT_FAILED)
    console.print(f"[green]{strategy} version {found.version} passes its gates[/]")
