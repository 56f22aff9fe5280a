"""``stratops research run|affected`` and ``stratops gate check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stratops.cli_common import JsonOpt, parse_version, print_json
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
    as_json: Annotated[bool, typer.Option(
        "--json", help="print the summary as JSON on stdout (progress goes to stderr)")]
    = False,
) -> None:
    """Materialise features -> walk_forward_report -> gate_verdict -> strategy_version."""
    from stratops.cli_run import _dagster_env
    from stratops.portfolio_job import due_datasets
    from stratops.research_job import (
        print_summary,
        raise_user_errors,
        run_studies,
        select,
        summary_records,
    )
    from stratops.settings import load_settings

    pairs = select(load_settings().research, strategy, dataset)
    _dagster_env()
    out = Console(stderr=True) if as_json else console  # stdout holds only the JSON
    outcomes = run_studies(pairs, out)
    if as_json:
        print_json(summary_records(outcomes))
    else:
        print_summary(outcomes, console)
    raise_user_errors(outcomes)  # `error: ...`, exit 2: the input, not the code, is wrong
    if not all(o.success for o in outcomes):
        raise typer.Exit(EXIT_FAILED)
    _portfolios(due_datasets(load_settings().research, outcomes), out)
    if fail_on_gate and not all(o.gate_passed for o in outcomes):
        out.print("[red]a strategy version failed its gates[/]")
        raise typer.Exit(EXIT_FAILED)


def _portfolios(datasets: list[str], out: Console, json_out: bool = False) -> None:
    """The portfolio study of each dataset (printed on ``out``; with ``json_out`` its records
    as JSON on stdout); a failed study exits 1 (2 when its input is at fault)."""
    from stratops.errors import ResearchInputError
    from stratops.portfolio_job import portfolio_records, print_portfolios, run_portfolios

    if not datasets:
        return
    runs = run_portfolios(datasets, out)
    if json_out:
        print_json(portfolio_records(runs))
    else:
        print_portfolios(runs, out)
    bad = [f"{r.dataset}: portfolio study: {r.error}" for r in runs if r.user_error]
    if bad:
        raise ResearchInputError("; ".join(bad))
    if not all(r.success for r in runs):
        raise typer.Exit(EXIT_FAILED)


@research_app.command("portfolio")
def portfolio(
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", "-d", help="dataset (repeatable; default: research.datasets)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Materialise portfolio_study: capital across the researched strategies by nested
    walk-forward (skfolio), its statistics next to theirs (needs `research run` first)."""
    from stratops.cli_run import _dagster_env
    from stratops.research_job import select
    from stratops.settings import load_settings

    research = load_settings().research
    pairs = select(research, None, dataset)
    _dagster_env()
    out = Console(stderr=True) if as_json else console
    _portfolios(sorted({d for d, _ in pairs}, key=list(research.datasets).index), out,
                json_out=as_json)
@research_app.command("ensemble")
def ensemble(
    strategy: Annotated[list[str], typer.Option(
        "--strategy", "-s", help="strategy (repeatable, two or more)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset")],
    order: Annotated[list[str] | None, typer.Option(
        "--priority", help="priority order (repeatable, first wins; default: each "
                           "strategy's own priority), as policy.yaml "
                           "signal_governance.ensemble.priority")] = None,
    record: Annotated[bool, typer.Option(
        "--record/--no-record", help="register the --resolver variant as a version of "
                                     "ensemble_<symbol> in MLflow, gated like any version")
                      ] = False,
    resolver: Annotated[str, typer.Option(
        "--resolver", help="the variant --record registers: priority | confidence")
                        ] = "priority",
    as_json: JsonOpt = False,
) -> None:
    """Walk the strategies forward on the dataset's symbol and compare the per-symbol
    ensemble (independent, priority, confidence) with the best single strategy, out of
    sample, DSR counting every trial; PBO and stability judge it with the same gates."""
    from pipelines.research.ensemble_run import run_ensemble
    from stratops.governance_ops import registry
    from stratops.settings import load_settings

    settings = load_settings()
    err = Console(stderr=True)
    run = run_ensemble(settings.root, dataset, strategy, settings.research,
                       settings.gates_path, order or [], progress=err.print,
                       registry=registry(settings) if record else None, resolver=resolver)
    found, version = run.study, run.version
    recorded = None if version is None or run.verdict is None else {
        "model_uri": version.model_uri, "version": version.version,
        "reused": version.reused, "gate_verdict": "pass" if run.verdict.passed else "fail"}
    if as_json:
        print_json({"symbol": found.symbol, "strategies": list(found.strategies),
                    "metrics": found.metrics, "notes": found.notes, "recorded": recorded})
        return
    table = Table("metric", "value")
    for key, value in sorted(found.metrics.items()):
        table.add_row(key, f"{value:.4g}")
    console.print(table)
    for note in found.notes:
        console.print(note)
    if recorded is not None:
        console.print(f"{recorded['model_uri']} ({'reused' if recorded['reused'] else 'registered'}"
                      f", gates {recorded['gate_verdict']})")


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
    strategy: Annotated[str, typer.Argument(
        metavar="STRATEGY", help="ema_cross@3, ema_cross@shadow, or ema_cross with VERSION "
                                 "after it")],
    version: Annotated[str | None, typer.Argument(
        metavar="VERSION", help="version number, latest or alias (when not given as @...)",
        show_default=False)] = None,
    gates: Annotated[Path | None, typer.Option(
        help="gates file (default: governance.gates_file, gates.yaml)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-check a registered version's metrics against the gates; exit 1 on any failure."""
    from pipelines.research.gates import load_gates
    from strategies.roster import STRATEGIES
    from stratops.governance_ops import registry as open_registry
    from stratops.settings import load_settings

    ref = parse_version(strategy, version)
    settings = load_settings()
    registry = open_registry(settings, create=False)
    found = registry.get_version(ref.strategy, ref.ref)
    verdict = load_gates(gates or settings.path(settings.governance.gates_file),
                         known_strategies=set(STRATEGIES)).evaluate(
        ref.strategy, registry.run_metrics(found))
    recorded = found.tags.get("stratops.gates_digest")
    changed = recorded is not None and recorded != verdict.gates_digest
    if as_json:
        print_json({"strategy": found.strategy, "version": found.version,
                    "model_uri": found.model_uri, "passed": verdict.passed,
                    "checks": [{"check": c.name, "metric": c.metric, "value": c.value,
                                "threshold": c.threshold, "passed": c.passed}
                               for c in verdict.checks],
                    "warnings": list(verdict.warnings), "gates_changed": changed})
        if not verdict.passed:
            raise typer.Exit(EXIT_FAILED)
        return
    table = Table(title=f"Gates of {found.model_uri}")
    for name in ("check", "metric", "value", "threshold", "result"):
        table.add_column(name)
    for c in verdict.checks:
        table.add_row(c.name, c.metric, f"{c.value:.4g}", f"{c.threshold:.4g}",
                      "[green]pass[/]" if c.passed else "[red]FAIL[/]")
    console.print(table)
    for warning in verdict.warnings:
        console.print(f"[yellow]warning: {warning}[/]", soft_wrap=True)
    if changed:
        console.print("note: gates changed since this version was registered "
                      "(checked against the current file)")
    if not verdict.passed:
        console.print(f"[red]{ref.strategy} version {found.version} FAILS its gates[/]")
        raise typer.Exit(EXIT_FAILED)
    console.print(f"[green]{ref.strategy} version {found.version} passes its gates[/]")
