"""``stratops tca report`` and the day close's TCA: the journal of a mode (or a URL), the
report files, and the MLflow log of each version's day (a run in the ``stratops_tca``
experiment tagged with the version, its metrics linked to the version's logged model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from live.tca.daily import ALL_ALGOS, DailyTca
from live.tca.extract import TcaTables, tca_tables
from live.tca.report import TcaReportFiles, write_tca_report
from stratops.errors import LiveSetupError
from stratops.settings import Settings

TCA_EXPERIMENT = "stratops_tca"
METRICS: tuple[str, ...] = (
    "fill_rate", "arrival_slippage_bps", "vwap_slippage_bps", "shortfall_inr", "shortfall_bps",
    "delay_inr", "timing_inr", "impact_inr", "opportunity_inr", "cost_share")


@dataclass(frozen=True, slots=True)
class TcaReport:
    """A computed day: its tables, where they were written, the MLflow runs logged."""

    tables: TcaTables
    files: TcaReportFiles | None
    mlflow_runs: tuple[str, ...] = ()


def tca_journal(settings: Settings, mode: str, url: str | None) -> Any:
    """The journal to analyse: ``url``, else MODE's; a missing one is refused (exit 2) and
    never created by this read."""
    from live.journal import journal_exists, open_journal
    from stratops.clock import utc_now
    from stratops.live_ops import journal_url

    target = url or journal_url(settings, mode)
    if not journal_exists(target, settings.root):
        raise LiveSetupError(f"no journal at {target}: nothing has run there yet "
                             f"(stratops live run --mode {mode} ...), or --journal / "
                             "live.journal_url points elsewhere")
    return open_journal(target, settings.root, clock=utc_now)


def tca_report(settings: Settings, day: date, *, mode: str = "live", url: str | None = None,
               out: Path | None = None, log_mlflow: bool = False) -> TcaReport:
    """Compute the day's TCA from the journal; write it under ``out`` and log it to MLflow
    when asked."""
    journal = tca_journal(settings, mode, url)
    try:
        tables = tca_tables(journal, day)
    finally:
        journal.engine.dispose()
    files = None if out is None else write_tca_report(tables, out)
    runs = log_tca(settings, tables, files) if log_mlflow else ()
    return TcaReport(tables, files, runs)


def _metrics(row: DailyTca) -> dict[str, float]:
    values = {name: getattr(row, name) for name in METRICS}
    values |= {f"markout_{k}b_bps": v for k, v in row.markout_bps.items()}
    return {k: float(v) for k, v in values.items() if v is not None}


def experiment_id(client: Any, artifact_root: Path | str, name: str) -> str:
    """The MLflow experiment ``name`` (created beside the registry's artifacts if new)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = (Path(artifact_root).absolute() / name).as_uri() \
        if isinstance(artifact_root, Path) else f"{artifact_root.rstrip('/')}/{name}"
    return str(client.create_experiment(name, artifact_location=location))


def log_day_run(client: Any, experiment: str, kind: str, day: date, strategy: str,
                version: str, metrics: dict[str, float], files: Sequence[Path]) -> str:
    """One finished MLflow run of a day's ``kind`` report (tca, attribution) for a strategy
    version: its tags, its metrics linked to the version's logged model (when registered),
    its files as artifacts; returns the run id."""
    model_id = model_id_of(client, strategy, version)
    run = client.create_run(experiment, run_name=f"{kind} {day} {strategy} v{version}",
                            tags={"stratops.strategy": strategy, "stratops.version": version,
                                  "stratops.day": day.isoformat(),
                                  "stratops.model_uri": f"models:/{strategy}/{version}"})
    run_id = str(run.info.run_id)
    for key, value in metrics.items():
        client.log_metric(run_id, key, value, model_id=model_id)
    for path in files:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def log_tca(settings: Settings, tables: TcaTables,
            files: TcaReportFiles | None) -> tuple[str, ...]:
    """One MLflow run per strategy version of the day (tags: strategy, version, day; the
    ``all`` row's metrics, linked to the version's logged model when it is registered; the
    report files as artifacts). Returns the run ids."""
    from stratops.governance_ops import registry

    models = registry(settings, create=False)
    client = models.client
    experiment = experiment_id(client, models.artifact_root, TCA_EXPERIMENT)
    paths = () if files is None else (files.json_path, files.html_path)
    return tuple(log_day_run(client, experiment, "tca", row.day, row.strategy, row.version,
                             _metrics(row), paths)
                 for row in tables.days if row.algo == ALL_ALGOS)


def model_id_of(client: Any, strategy: str, version: str) -> str | None:
    """The logged model of a registered version (None: not registered), so a run's metrics
    link to it."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_model_version(strategy, version)
    except MlflowException:
        return None  # not a registered version (a hand-made journal): the run still names it
    model_id = getattr(found, "model_id", None)
    return str(model_id) if model_id else None


def day_close_sink(settings: Settings, log: Callable[[str], None]
                   ) -> Callable[[TcaTables, TcaReportFiles], None]:
    """What the service calls after writing a day's TCA: log it to MLflow (a failure is
    logged, never stops the service - the files are written already)."""
    def sink(tables: TcaTables, files: TcaReportFiles) -> None:
        try:
            runs = log_tca(settings, tables, files)
        except Exception as exc:  # the report is on disk; MLflow being down is not fatal
            log(f"TCA {tables.day}: not logged to MLflow ({type(exc).__name__}: {exc})")
            return
        log(f"TCA {tables.day}: logged to MLflow runs {', '.join(runs) or '(no orders)'}")

    return sink
