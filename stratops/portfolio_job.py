"""Run the ``portfolio_study`` asset of a dataset (Dagster, the project's instance, in
process) after its strategies were researched, and print the portfolio next to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from pipelines.research.config import ResearchSettings


@dataclass(slots=True)
class PortfolioRun:
    """One dataset's portfolio study run: the asset's value, or why it failed."""

    dataset: str
    run_id: str
    success: bool
    value: dict[str, Any] | None = None
    error: str = ""
    user_error: bool = False


def due_datasets(research: ResearchSettings, outcomes: list[Any]) -> list[str]:
    """Datasets whose every strategy of ``research.strategies`` was just researched with
    success (the study needs them all), when ``research.portfolio.enabled``."""
    if not research.portfolio.enabled:
        return []
    done = {(o.dataset, o.strategy) for o in outcomes if o.success}
    return [d for d in research.datasets
            if all((d, s) in done for s in research.strategies)]


def run_portfolios(datasets: list[str], console: Console) -> list[PortfolioRun]:
    """Materialise ``portfolio_study`` for each dataset, one in-process run each."""
    import dagster as dg

    from pipelines.defs.research.portfolio_assets import PORTFOLIO_JOB
    from stratops.definitions import build_definitions
    from stratops.research_job import _failure

    job = build_definitions().resolve_job_def(PORTFOLIO_JOB)
    runs = []
    for dataset in datasets:
        with console.status(f"portfolio study of {dataset} ..."):
            result = job.execute_in_process(
                partition_key=dataset, instance=dg.DagsterInstance.get(), raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
        run = PortfolioRun(dataset, result.run_id, result.success)
        if result.success:
            run.value = result.output_for_node("portfolio_study")
        else:
            run.error, run.user_error = _failure(result)
        mark = "[green]ok[/]" if run.success else f"[red]FAILED[/] {run.error}"
        console.print(f"portfolio study of {dataset}: {mark}")
        runs.append(run)
    return runs


def portfolio_records(runs: list[PortfolioRun]) -> list[dict[str, Any]]:
    """The runs as plain data, for ``--json`` (NaN as null)."""
    from pipelines.research.research_report import _json_safe

    records: list[dict[str, Any]] = _json_safe(
        [{"dataset": r.dataset, "run_id": r.run_id, "success": r.success, "study": r.value,
          "error": r.error, "user_error": r.user_error} for r in runs])
    return records


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "-"


def print_portfolios(runs: list[PortfolioRun], console: Console) -> None:
    """Per dataset: each strategy's and each allocation's OOS statistics, side by side."""
    for run in runs:
        if run.value is None:
            continue
        value = run.value
        if "skipped" in value:
            console.print(f"[yellow]{value['skipped']}[/]")
            continue
        table = Table(title=f"Portfolio study: {run.dataset} (nested walk-forward, "
                            f"{int(value['metrics']['evaluation_sessions'])} OOS sessions)")
        table.add_column("sleeve / portfolio", overflow="fold")
        for name in ("sharpe", "max dd", "return", "dsr p", "trials", "pbo", "gates"):
            table.add_column(name, no_wrap=True)
        for row in value["rows"]:
            gates = {True: "pass", False: "fail"}.get(row["gate_passed"], "-")
            name = row["name"] + (" *" if row["name"] == f"portfolio:{value['method']}"
                                  else "")
            table.add_row(name, _fmt(row["sharpe"]), _fmt(row["max_drawdown"]),
                          _fmt(row["total_return"]), _fmt(row["dsr_probability"]),
                          str(int(row["dsr.n_trials"])), _fmt(row["pbo"]), gates)
        console.print(table)
        verdict = "beats" if value["beats_best_single"] else "does not beat"
        gate = "passes" if value["gate"]["passed"] else "fails"
        console.print(f"portfolio:{value['method']} {verdict} the best single strategy "
                      f"({value['best_single']}) out of sample and {gate} the portfolio gates; "
                      f"report {value['report_html']}")
