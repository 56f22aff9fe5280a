"""The ``enable_matrix`` asset: per (dataset, strategy), the regime enable matrix learned
nested inside the walk-forward (:mod:`pipelines.research.enable_matrix`), with a blocking
check that every fold's matrix was learned before its test window and decides exactly the
classifier's regimes, and a warning check of the governed OOS stream against the gates.
``strategy_version`` stores the final matrix inside the registered version."""

import math
from collections.abc import Iterator
from typing import Any

import dagster as dg

from pipelines.defs.research.partitions import research_partitions, study_of
from pipelines.defs.research.resources import ResearchConfig
from pipelines.research.config import ResearchSettings
from pipelines.research.enable_matrix import GOVERNED, GOVERNED_CHECK, MatrixStudy
from pipelines.research.features import StoredFeatures
from pipelines.research.gates import load_gates
from pipelines.research.matrix_study import enable_matrix as study_enable_matrix
from pipelines.research.regime_classifier import StoredRegimeModel
from pipelines.research.walk_forward import WalkForwardReport

GROUP = "research"
NESTED_CHECK = "enable_matrix_is_nested"
#: governed metric -> gates.yaml threshold it is held to (min: value >= threshold)
GOVERNED_GATES = {"oos_sharpe": "min_oos_sharpe", "dsr_probability": "min_dsr_probability",
                  "oos_trades": "min_trades"}


def nested_check(study: MatrixStudy) -> dg.AssetCheckResult:
    """Blocking: no fold's matrix saw a trade at or after its test window; the version's
    matrix decides exactly the classifier's regimes."""
    problems = study.problems()
    return dg.AssetCheckResult(
        check_name=NESTED_CHECK, passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"folds": len(study.fold_matrices), "problems": "; ".join(problems) or "none",
                  "final_enabled": ", ".join(study.final.enabled_regimes()) or "none"})


def governed_check(study: MatrixStudy, thresholds: dict[str, float]) -> dg.AssetCheckResult:
    """Warning: the governed stream's Sharpe, DSR (matrix rules counted as trials) and trade
    count against the strategy's gates (a missing value fails)."""
    failed = []
    for metric, gate in GOVERNED_GATES.items():
        value = study.metrics.get(f"{GOVERNED}.{metric}", float("nan"))
        if not value >= thresholds[gate]:
            failed.append(f"{GOVERNED}.{metric} {value:.4g} < {gate} {thresholds[gate]:.4g}")
    return dg.AssetCheckResult(
        check_name=GOVERNED_CHECK, passed=not failed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"failed": "; ".join(failed) or "none"})


def matrix_asset(research: ResearchSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="enable_matrix", group_name=GROUP, partitions_def=research_partitions(research),
        kinds={"scikit-learn", "scipy"},
        check_specs=[dg.AssetCheckSpec(NESTED_CHECK, asset="enable_matrix", blocking=True),
                     dg.AssetCheckSpec(GOVERNED_CHECK, asset="enable_matrix")],
        description="Regime enable matrix: per regime, enabled only where the trades pass "
                    "gates.yaml enable_matrix.rules; learned per fold from an inner "
                    "walk-forward's OOS trades inside its training window, scored on its "
                    "test window (the governed OOS stream).",
    )
    def enable_matrix(context: dg.AssetExecutionContext, research_config: ResearchConfig,
                      features: StoredFeatures, walk_forward_report: WalkForwardReport,
                      regime_model: dict[str, Any]) -> Iterator[Any]:
        dataset, strategy = study_of(context)
        if "skipped" in regime_model:
            why = f"no regime classifier: {regime_model['skipped']}"
            yield dg.Output({"skipped": why}, metadata={"skipped": why})
            yield dg.AssetCheckResult(check_name=NESTED_CHECK, passed=True,
                                      metadata={"not_applicable": why})
            yield dg.AssetCheckResult(check_name=GOVERNED_CHECK, passed=True,
                                      metadata={"not_applicable": why})
            return
        study = study_enable_matrix(research_config.root_path, dataset, features,
                                    walk_forward_report, StoredRegimeModel.from_json(
                                        regime_model), research_config.research,
                                    research_config.gates_path)
        metadata: dict[str, Any] = {k: dg.MetadataValue.float(v) if math.isfinite(v)
                                    else str(v) for k, v in sorted(study.metrics.items())}
        metadata["final_matrix"] = dg.MetadataValue.json(study.final.to_json())
        yield dg.Output(study.to_json(), metadata=metadata)
        yield nested_check(study)
        gates = load_gates(research_config.gates_path)
        yield governed_check(study, gates.for_strategy(strategy).model_dump())

    return enable_matrix
