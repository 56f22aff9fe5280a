"""Execute a Dagster job in process against the project's Dagster instance and summarise it."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass(slots=True)
class JobOutcome:
    """Whether the run succeeded, and each asset's and check's result."""

    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)


def run_main_job(job_name: str, console: Console) -> JobOutcome:
    """Run ``job_name`` from ``stratops.definitions`` and print a table of its results."""
    import dagster as dg

    from stratops.definitions import build_definitions

    defs = build_definitions()
    job = defs.resolve_job_def(job_name)
    instance = dg.DagsterInstance.get()
    with console.status(f"running Dagster job {job_name} ..."):
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    outcome = JobOutcome(run_id=result.run_id, success=result.success)
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string() if event.asset_key else "?"
        outcome.materialized.append(key)
    for check in result.get_asset_check_evaluations():
        rules = check.metadata.get("failed_rules")
        failed = str(rules.value) if rules is not None else ""
        outcome.checks.append((check.asset_key.to_user_string(), check.passed, failed))
    outcome.success = outcome.success and all(passed for _, passed, _ in outcome.checks)
    _print(outcome, job_name, console)
    return outcome


def _print(outcome: JobOutcome, job_name: str, console: Console) -> None:
    table = Table(title=f"Dagster run {outcome.run_id[:8]} of {job_name}")
    table.add_column("asset")
    table.add_column("materialized")
    table.add_column("gx_suite")
    table.add_column("failed rules")
    checks = {key: (passed, failed) for key, passed, failed in outcome.checks}
    for key in sorted(set(outcome.materialized) | set(checks)):
        passed, failed = checks.get(key, (None, ""))
        table.add_row(key, "yes" if key in outcome.materialized else "NO",
                      {True: "passed", False: "FAILED", None: "-"}[passed], failed)
    console.print(table)
    console.print("run " + ("[green]succeeded[/]" if outcome.success else "[red]FAILED[/]"))
