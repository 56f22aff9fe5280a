"""Run research partitions (Dagster, the project's instance: in process, or fanned out over
processes with the multiprocess executor) and summarise them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from pipelines.research.config import ResearchSettings
from pipelines.research.recorded import RecordedVersion
from stratops.errors import (  # defined there: no import cycle
    ResearchInputError,
    ResearchSelectionError,
)

#: Warning checks: reported (the gate verdict; the governed stream of the enable matrix,
#: ``pipelines.research.enable_matrix.GOVERNED_CHECK``), never a failed run.
ADVISORY_CHECKS = frozenset({"gate_passed", "governed_oos_meets_gate"})


@dataclass(slots=True)
class StudyOutcome:
    """One (dataset, strategy) run: its Dagster result and the registered version."""

    dataset: str
    strategy: str
    run_id: str
    success: bool
    version: RecordedVersion | None = None
    failed_checks: list[str] = field(default_factory=list)
    error: str = ""
    user_error: bool = False  # the error is the input's or configuration's, not a bug

    @property
    def gate_passed(self) -> bool:
        return self.version is not None and self.version.passed


def select(research: ResearchSettings, strategies: list[str] | None,
           datasets: list[str] | None) -> list[tuple[str, str]]:
    """(dataset, strategy) pairs to run; names outside the research settings are refused."""
    for name in strategies or []:
        if name not in research.strategies:
            raise ResearchSelectionError(
                f"--strategy {name!r} is not in research.strategies {list(research.strategies)}")
    for name in datasets or []:
        if name not in research.datasets:
            raise ResearchSelectionError(
                f"--dataset {name!r} is not in research.datasets {list(research.datasets)}; "
                "add it under `research.datasets` in stratops.yaml")
    return [(d, s) for d in (datasets or research.datasets)
            for s in (strategies or research.strategies)]


def run_studies(pairs: list[tuple[str, str]], console: Console) -> list[StudyOutcome]:
    """Materialise the research assets of each pair, one Dagster run per partition: one
    after another in process (``dagster_instance.executor: in_process``), or, with
    ``multiprocess``, up to ``dagster_instance.max_concurrent`` partitions at once, each a
    run of the multiprocess executor (its steps in their own processes) started by a worker
    process of its own. Outcomes come back in ``pairs`` order either way."""
    from stratops.partition_pool import fan_out
    from stratops.settings import load_settings

    executor = load_settings().dagster_instance  # in process, or multiprocess fan-out
    total = len(pairs)

    def done(i: int, record: dict[str, Any]) -> None:
        mark = "[green]ok[/]" if outcome_of(record).success else "[red]FAILED[/]"
        console.print(f"[{i}/{total}] {record['strategy']} on {record['dataset']}: {mark}")

    at_once = executor.max_concurrent if executor.executor == "multiprocess" else 1
    if at_once > 1 and total > 1:  # the stores made once, here, not raced for by workers
        _prepare_stores()
    what = f"research: {total} partition(s)" + (f", {at_once} at once" if at_once > 1 else "")
    with console.status(f"{what} ..."):
        return [outcome_of(r) for r in fan_out(pairs, study, done, at_once)]


def _prepare_stores() -> None:
    """The Dagster instance's storage and the MLflow store, created (migrated) before the
    fan-out's worker processes open them at the same time."""
    import dagster as dg

    from stratops.governance_ops import registry
    from stratops.settings import load_settings

    dg.DagsterInstance.get().get_runs(limit=1)
    registry(load_settings()).prepare_store()


def study(pair: tuple[str, str]) -> dict[str, Any]:
    """One (dataset, strategy) partition's Dagster run on the project's instance, as the
    plain record of its :class:`StudyOutcome` (what a fan-out worker process sends back)."""
    import dagster as dg

    from pipelines.defs.research.partitions import partition_key
    from stratops.definitions import RESEARCH_JOB, build_definitions
    from stratops.research_fanout import execute_partition
    from stratops.settings import load_settings

    dataset, strategy = pair
    job = _research_job(build_definitions, RESEARCH_JOB)
    # Dagster's own console log would print a step failure with its stack trace;
    # failures are reported from the run's events instead.
    with execute_partition(job, partition_key(dataset, strategy), dg.DagsterInstance.get(),
                           load_settings().dagster_instance,
                           {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
                           ) as result:
        return record_of(_outcome(dataset, strategy, result))


@functools.cache
def _research_job(build: Any, name: str) -> Any:
    """The research job, built once per process (one after another: once for them all)."""
    return build().resolve_job_def(name)


def record_of(outcome: StudyOutcome) -> dict[str, Any]:
    """``outcome`` as plain data (:func:`outcome_of` reads it back)."""
    return {"dataset": outcome.dataset, "strategy": outcome.strategy,
            "run_id": outcome.run_id, "success": outcome.success,
            "version": None if outcome.version is None else outcome.version.to_dict(),
            "failed_checks": list(outcome.failed_checks), "error": outcome.error,
            "user_error": outcome.user_error}


def outcome_of(record: dict[str, Any]) -> StudyOutcome:
    """The :class:`StudyOutcome` a :func:`record_of` record stands for."""
    version = record["version"]
    return StudyOutcome(record["dataset"], record["strategy"], record["run_id"],
                        record["success"],
                        None if version is None else RecordedVersion.from_dict(version),
                        list(record["failed_checks"]), record["error"], record["user_error"])


def _outcome(dataset: str, strategy: str, result: Any) -> StudyOutcome:
    """A partition run's outcome: its failed checks, its version or its failure."""
    outcome = StudyOutcome(dataset, strategy, result.run_id, result.success)
    outcome.failed_checks = [e.check_name for e in result.get_asset_check_evaluations()
                             if not e.passed and e.check_name not in ADVISORY_CHECKS]
    if result.success:
        outcome.version = result.output_for_node("strategy_version")
    else:
        outcome.error, outcome.user_error = _failure(result)
    outcome.success = outcome.success and not outcome.failed_checks
    return outcome


def _failure(result: Any) -> tuple[str, bool]:
    """The root cause of a failed run's first failed step - ``ClassName: message`` - and
    whether it is one of the errors the CLI reports as a user error."""
    from stratops.errors import bad_input_class_names

    user_errors = bad_input_class_names()
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            name = error.cls_name or "Error"
            head, _, rest = error.message.strip().partition(": ")
            text = " ".join((rest if head.endswith(name) else error.message).split())
            if name in user_errors:
                return text, True
            return f"{name}: {text}", False
    failures = [e.message for e in result.all_events if e.is_failure]
    return (failures[-1] if failures else "the run failed"), False


def raise_user_errors(outcomes: list[StudyOutcome]) -> None:
    """Raise :class:`ResearchInputError` naming every study that failed on a user error."""
    bad = [f"{o.dataset}: {o.error}" for o in outcomes if o.user_error]
    if bad:
        raise ResearchInputError("; ".join(bad))


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "-"


def summary_records(outcomes: list[StudyOutcome]) -> list[dict[str, Any]]:
    """The summary table's data, one record per (dataset, strategy), for ``--json``."""
    return [{"strategy": o.strategy, "dataset": o.dataset, "run_id": o.run_id,
             "success": o.success, "gate_passed": o.gate_passed,
             "version": o.version.to_dict() if o.version is not None else None,
             "failed_checks": o.failed_checks, "error": o.error, "user_error": o.user_error}
            for o in outcomes]


def print_summary(outcomes: list[StudyOutcome], console: Console) -> None:
    table = Table(title="Research: registered strategy versions and gate verdicts")
    for name in ("strategy", "dataset/symbol", "version", "gates", "oos sharpe", "dsr p",
                 "pbo", "pbo over S", "max dd", "trades", "run"):
        table.add_column(name, no_wrap=True)
    for o in outcomes:
        v = o.version.to_dict() if o.version is not None else {}
        m = v.get("metrics", {})
        verdict = "-" if not v else ("[green]pass[/]" if o.gate_passed else "[red]fail[/]")
        ref = f"{v['version']}{' (reused)' if v.get('reused') else ''}" if v else "-"
        status = "ok" if o.success else (
            "[red]input error (below)[/]" if o.user_error
            else f"[red]{o.error or ', '.join(o.failed_checks)}[/]")
        table.add_row(o.strategy, f"{o.dataset}/{v.get('symbol', '?')}", ref, verdict,
                      _fmt(m.get("oos_sharpe")), _fmt(m.get("dsr_probability")),
                      _fmt(m.get("pbo")), _pbo_range(m), _fmt(m.get("oos_max_drawdown")),
                      f"{m.get('oos_trades', 0):.0f}", status)
    if not console.is_terminal:  # piped or in CI: do not squeeze the table to 80 columns
        console.width = max(console.width, 160)
    console.print(table)
    for o in outcomes:
        v = o.version.to_dict() if o.version is not None else {}
        for note in v.get("notes", []):
            console.print(f"note: {o.strategy} on {o.dataset}: {note}", soft_wrap=True)
        for warning in v.get("warnings", []):
            console.print(f"[yellow]warning: {o.strategy} on {o.dataset}: {warning}[/]",
                          soft_wrap=True)


def _pbo_range(metrics: dict[str, Any]) -> str:
    """PBO's lowest and highest value over the reported block counts, e.g. ``0.41-0.74``."""
    low, high = metrics.get("pbo.min"), metrics.get("pbo.max")
    return "-" if low is None or high is None else f"{float(low):.2f}-{float(high):.2f}"
