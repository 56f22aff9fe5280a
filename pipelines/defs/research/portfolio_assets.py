"""The ``portfolio_study`` asset (group ``portfolio``, partitioned by dataset): every
strategy's ``walk_forward_report`` and ``gate_verdict`` of the dataset in, the portfolio's
nested walk-forward statistics next to the single strategies' out
(:mod:`pipelines.research.portfolio_run`), its report under
``<research.artifacts_dir>/portfolio/<dataset>/`` and an MLflow run in experiment
``portfolio``. Check ``portfolio_passes_gates`` (warning, like ``gate_passed``): the
portfolio's OOS Sharpe, DSR, drawdown and PBO against ``gates.yaml``."""

import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg

from pipelines.defs.research.partitions import DATASET
from pipelines.defs.research.resources import MlflowRegistry, ResearchConfig
from pipelines.research.config import ResearchSettings
from pipelines.research.gates import GateVerdict
from pipelines.research.portfolio_report import write_portfolio_artifacts
from pipelines.research.portfolio_run import PortfolioOutcome, run_portfolio
from pipelines.research.walk_forward import WalkForwardReport
from strategies.names import path_under, validate_name

PORTFOLIO_GROUP = "portfolio"
PORTFOLIO_JOB = "portfolio_job"
PORTFOLIO_CHECK = "portfolio_passes_gates"
PORTFOLIO_EXPERIMENT = "portfolio"


def portfolio_partitions(research: ResearchSettings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(list(research.datasets))


def _by_strategy(value: Any, kind: type) -> dict[str, Any]:
    """One dataset's values of a (dataset, strategy)-partitioned input, by strategy (a
    single partition is loaded as the value itself)."""
    values: list[Any] = [value] if isinstance(value, kind) else list(value.values())
    return {str(v.strategy): v for v in values}


def _dataset_input(name: str) -> dg.AssetIn:
    """Every (dataset, strategy) partition of ``name`` of the study's dataset."""
    with warnings.catch_warnings():  # the mapping is beta in Dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        mapping = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=DATASET)
    return dg.AssetIn(name, partition_mapping=mapping)


def _record(research_config: ResearchConfig, mlflow_registry: MlflowRegistry, dataset: str,
            outcome: PortfolioOutcome) -> tuple[str, str]:
    """Write the report and log the MLflow run; (report html path, run id)."""
    research = research_config.research
    out_dir = path_under(research_config.root_path / research.artifacts_dir, "portfolio",
                         validate_name(dataset, field="dataset"))
    paths = write_portfolio_artifacts(outcome.study, outcome.matrix, outcome.gate, out_dir)
    study = outcome.study
    params = {**{f"portfolio.{k}": v for k, v in study.settings.items()},
              "sleeves": ",".join(study.sleeves), "best_single": study.best_single}
    tags = {"stratops.dataset": dataset, "stratops.portfolio_method": study.method,
            "stratops.beats_best_single": str(study.beats_best_single).lower(),
            "stratops.portfolio_gate": "pass" if outcome.gate["passed"] else "fail"}
    run_id = mlflow_registry.client().record_study(
        PORTFOLIO_EXPERIMENT, f"portfolio {dataset}", study.metrics, params, tags, out_dir)
    return str(paths["portfolio.html"]), run_id


def portfolio_asset(research: ResearchSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="portfolio_study", group_name=PORTFOLIO_GROUP,
        partitions_def=portfolio_partitions(research), kinds={"skfolio", "mlflow"},
        ins={"walk_forward_report": _dataset_input("walk_forward_report"),
             "gate_verdict": _dataset_input("gate_verdict")},
        check_specs=[dg.AssetCheckSpec(PORTFOLIO_CHECK, asset="portfolio_study")],
        description="Capital allocated across the dataset's strategies (and the symbols of "
                    "research.portfolio.symbols) by skfolio, learned per training window of "
                    "their walk-forward OOS returns and applied to the next; the "
                    "portfolio's Sharpe, drawdown, DSR and PBO next to each strategy's.",
    )
    def portfolio_study(context: dg.AssetExecutionContext, research_config: ResearchConfig,
                        mlflow_registry: MlflowRegistry, walk_forward_report: Any,
                        gate_verdict: Any) -> Iterator[Any]:
        dataset = context.partition_key
        outcome = run_portfolio(
            research_config.root_path, dataset, research_config.research,
            research_config.gates_path, _by_strategy(walk_forward_report, WalkForwardReport),
            _by_strategy(gate_verdict, GateVerdict), progress=context.log.info)
        if isinstance(outcome, str):  # not applicable: fewer than two sleeves
            context.log.warning(outcome)
            yield dg.Output({"dataset": dataset, "skipped": outcome},
                            metadata={"skipped": outcome})
            yield dg.AssetCheckResult(check_name=PORTFOLIO_CHECK, passed=True,
                                      metadata={"not_applicable": outcome})
            return
        html, run_id = _record(research_config, mlflow_registry, dataset, outcome)
        study = outcome.study
        for note in study.notes:
            context.log.info(note)
        metadata: dict[str, Any] = {
            k: dg.MetadataValue.float(float(v)) for k, v in sorted(study.metrics.items())}
        metadata.update({"method": study.method, "sleeves": ", ".join(study.sleeves),
                         "best_single": study.best_single,
                         "beats_best_single": study.beats_best_single,
                         "mlflow_run_id": run_id, "report": dg.MetadataValue.path(html)})
        value = {"dataset": dataset, "method": study.method, "sleeves": study.sleeves,
                 "best_single": study.best_single,
                 "beats_best_single": study.beats_best_single, "metrics": study.metrics,
                 "rows": study.rows, "gate": outcome.gate, "report_html": html,
                 "mlflow_run_id": run_id}
        yield dg.Output(value, metadata=metadata)
        failed = [f"{c['name']}: {c['value']:.4g} vs {c['threshold']:.4g}"
                  for c in outcome.gate["checks"] if not c["passed"]]
        yield dg.AssetCheckResult(
            check_name=PORTFOLIO_CHECK, passed=bool(outcome.gate["passed"]),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"failed_checks": "; ".join(failed) or "none",
                      "beats_best_single": study.beats_best_single})

    return portfolio_study
