"""``stratops run`` (the main job: datasets then research, in process, recorded in Dagster)
and ``stratops ui``."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.console import Console

from stratops.errors import EXIT_FAILED

console = Console()


def _dagster_env() -> None:
    """Point Dagster at the project-local instance (``.dagster/`` by default)."""
    from stratops.dagster_instance import prepare_instance
    from stratops.settings import load_settings

    settings = load_settings()
    home = settings.dagster_home_path
    prepare_instance(home, settings.dagster_instance)  # SQLite or PostgreSQL, no telemetry
    os.environ.setdefault("DAGSTER_HOME", str(home))


def run(
    job: Annotated[str, typer.Option(help="Dagster job to run first")] = "datasets_job",
    research: Annotated[bool, typer.Option(
        help="then research every strategy (research run)")] = True,
    shadow: Annotated[bool, typer.Option(
        help="then a shadow paper session of the candidates over the data's last day")] = True,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print the run's summary as one JSON document on stdout (README, "
        "'stratops run --json'); progress and tables go to stderr")] = False,
) -> None:
    """The main job: datasets (DVC, blocking GX checks), research of every strategy
    (features -> walk-forward -> gates -> MLflow-registered versions), a shadow paper
    session of the registered candidates over the last replayed day; then list data."""
    from stratops.main_job import run_main_job, run_record

    _dagster_env()
    from stratops.research_job import StudyOutcome, raise_user_errors

    out = Console(stderr=True) if as_json else console  # stdout holds only the JSON
    outcome = run_main_job(job, out)
    success = outcome.success
    studies: list[StudyOutcome] = []
    session: dict[str, Any] | None = None
    if success and research:
        from stratops.research_job import print_summary, run_studies, select
        from stratops.settings import load_settings

        studies = run_studies(select(load_settings().research, None, None), out)
        if not as_json:
            print_summary(studies, console)
        success = all(s.success for s in studies)
        if success:  # then each dataset's portfolio study, as `research run` does
            from stratops.portfolio_job import due_datasets, print_portfolios, run_portfolios

            portfolios = run_portfolios(due_datasets(load_settings().research, studies), out)
            if not as_json:
                print_portfolios(portfolios, console)
            success = all(p.success for p in portfolios)
        if success and shadow:
            try:
                session = _shadow_session(studies[0].dataset, out)
            except typer.Exit as halted:  # the runner halted (printed on stderr)
                if not as_json:
                    raise
                success, session = False, {"halted": True, "exit_code": halted.exit_code}
    if as_json:
        from pipelines.datasets.catalog import list_datasets
        from stratops.cli_common import print_json
        from stratops.settings import load_settings

        print_json(run_record(job, outcome, studies, session,
                              list_datasets(load_settings().root), success=success))
    else:
        from stratops.cli_data import list_

        list_(as_json=False)
    raise_user_errors(studies)  # `error: ...`, exit 2
    if not success:
        raise typer.Exit(EXIT_FAILED)


def _shadow_session(dataset: str, out: Console) -> dict[str, Any]:
    """Shadow mode, unapproved candidates (zero capital, virtual fills), the last day."""
    from datetime import date

    from pipelines.datasets.catalog import find_dataset
    from stratops.cli_live import session
    from stratops.settings import load_settings

    last = date.fromisoformat(find_dataset(load_settings().root, dataset).last[:10])
    return session("shadow", f"replay:{dataset}", last, last, None, candidates=True, out=out)


def ui(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 3000,
) -> None:
    """Open the Dagster UI on this project (``dagster dev``, bound to 127.0.0.1)."""
    import shutil
    import sys
    from pathlib import Path

    _dagster_env()
    exe = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    os.execvp(exe, [exe, "dev", "-m", "stratops.definitions", "-h", "127.0.0.1",
                    "-p", str(port)])
