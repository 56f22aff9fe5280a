"""Execute a Dagster job in process against the project's Dagster instance and summarise it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pipelines.datasets.catalog import DatasetEntry
    from stratops.research_job import StudyOutcome

#: ``stratops run --json``'s document version; bumped when a field changes meaning or goes.
RUN_RECORD_SCHEMA = 1


@dataclass(slots=True)
class JobOutcome:
    """Whether the run succeeded, and each asset's and check's result."""

    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    failed_rules: dict[str, list[str]] = field(default_factory=dict)  # asset -> rule names

    def assets(self) -> list[dict[str, Any]]:
        """One record per asset: materialized, its GX suite's verdict (None: no check ran),
        the names of its failed rules and their summary (the table's column)."""
        checks = {key: (passed, failed) for key, passed, failed in self.checks}
        records = []
        for key in sorted(set(self.materialized) | set(checks)):
            passed, summary = checks.get(key, (None, ""))
            records.append({
                "asset": key, "materialized": key in self.materialized,
                "gx_suite": {True: "passed", False: "failed", None: None}[passed],
                "failed_rules": self.failed_rules.get(key, []), "failed_summary": summary})
        return records


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
        key = check.asset_key.to_user_string()
        outcome.checks.append((key, check.passed, failed))
        names = check.metadata["failed_rule_names"].value \
            if "failed_rule_names" in check.metadata else None
        if isinstance(names, list):
            outcome.failed_rules[key] = [str(name) for name in names]
    outcome.success = outcome.success and all(passed for _, passed, _ in outcome.checks)
    _print(outcome, job_name, console)
    return outcome


def _print(outcome: JobOutcome, job_name: str, console: Console) -> None:
    table = Table(title=f"Dagster run {outcome.run_id[:8]} of {job_name}")
    table.add_column("asset")
    table.add_column("materialized")
    table.add_column("gx_suite")
    table.add_column("failed rules")
    for asset in outcome.assets():
        table.add_row(asset["asset"], "yes" if asset["materialized"] else "NO",
                      {"passed": "passed", "failed": "FAILED", None: "-"}[asset["gx_suite"]],
                      asset["failed_summary"])
    console.print(table)
    console.print("run " + ("[green]succeeded[/]" if outcome.success else "[red]FAILED[/]"))


def run_record(job_name: str, job: JobOutcome, studies: list[StudyOutcome],
               session: dict[str, Any] | None, datasets: list[DatasetEntry], *,
               success: bool) -> dict[str, Any]:
    """``stratops run --json``: the Dagster job's assets and checks, each study with the
    version it registered and its gate verdict, the shadow session, the datasets."""
    from stratops.research_job import summary_records

    versions = [{"strategy": s.strategy, "dataset": s.dataset,
                 "symbol": s.version.symbol, "version": s.version.version,
                 "model_uri": s.version.model_uri, "reused": s.version.reused,
                 "gate_verdict": "pass" if s.gate_passed else "fail"}
                for s in studies if s.version]
    return {
        "schema": RUN_RECORD_SCHEMA, "status": "succeeded" if success else "failed",
        "job": {"name": job_name, "run_id": job.run_id, "success": job.success,
                "assets": job.assets()},
        "research": summary_records(studies), "versions": versions, "shadow": session,
        "datasets": [e.to_dict() for e in datasets],
    }
