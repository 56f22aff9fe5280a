"""``stratops report attribution`` and the day close's attribution log: the day's model and
execution attribution (:mod:`live.tca.attribution`) from a mode's journal, its report
files, and one MLflow run per strategy version in the ``stratops_attribution`` experiment
(tags as the TCA's, the components as metrics linked to the version's logged model, the
report files as artifacts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from live.tca.attribution import (
    COMPONENTS,
    Attribution,
    AttributionFiles,
    attribution,
    rates_for,
    write_attribution,
)
from live.tca.extract import tca_tables
from stratops.settings import Settings
from stratops.tca_ops import experiment_id, log_day_run, tca_journal

ATTRIBUTION_EXPERIMENT = "stratops_attribution"
METRICS: tuple[str, ...] = (*COMPONENTS, "net_inr", "realised_net_inr", "residual_inr")


@dataclass(frozen=True, slots=True)
class AttributionReport:
    report: Attribution
    files: AttributionFiles | None
    mlflow_runs: tuple[str, ...] = ()


def attribution_report(settings: Settings, day: date, *, mode: str = "live",
                       url: str | None = None, out: Path | None = None,
                       log_mlflow: bool = False,
                       cost_schedule: str | None = None) -> AttributionReport:
    """The day's attribution from the journal's TCA tables; the fills charged with
    ``cost_schedule`` (a schedule version's name; default: the one in force on ``day``)."""
    from strategies.costs import load_cost_rates_version

    journal = tca_journal(settings, mode, url)
    try:
        tables = tca_tables(journal, day)
    finally:
        journal.engine.dispose()
    known = {} if cost_schedule is None else {
        p.strategy: load_cost_rates_version(cost_schedule) for p in tables.parents}
    report = attribution(tables, rates_for(tables, known, day))
    files = None if out is None else write_attribution(report, out)
    runs = log_attribution(settings, report, files) if log_mlflow else ()
    return AttributionReport(report, files, runs)


def log_attribution(settings: Settings, report: Attribution,
                    files: AttributionFiles | None) -> tuple[str, ...]:
    """One MLflow run per strategy version of the day; returns the run ids."""
    from stratops.governance_ops import registry

    models = registry(settings, create=False)
    client = models.client
    experiment = experiment_id(client, models.artifact_root, ATTRIBUTION_EXPERIMENT)
    paths = () if files is None else (files.json_path, files.html_path)
    return tuple(log_day_run(client, experiment, "attribution", row.day, row.strategy,
                             row.version, {key: float(getattr(row, key)) for key in METRICS},
                             paths)
                 for row in report.rows)


def attribution_close_sink(settings: Settings, log: Callable[[str], None]
                           ) -> Callable[[Attribution, AttributionFiles], None]:
    """What the service calls after writing a day's attribution: log it to MLflow (a
    failure is logged, never stops the service - the files are written already)."""
    def sink(report: Attribution, files: AttributionFiles) -> None:
        try:
            runs = log_attribution(settings, report, files)
        except Exception as exc:  # the report is on disk; MLflow being down is not fatal
            log(f"attribution {report.day}: not logged to MLflow ({type(exc).__name__}: "
                f"{exc})")
            return
        log(f"attribution {report.day}: logged to MLflow runs "
            f"{', '.join(runs) or '(no fills)'}")

    return sink
