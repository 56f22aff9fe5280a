"""The ``regime_model`` asset: a dataset's regime classifier and drift reference, trained
walk-forward on features only (:mod:`pipelines.research.regime_classifier`), with a
blocking check that its out-of-sample balanced accuracy meets the ``signal_governance``
gate of ``gates.yaml``. ``strategy_version`` stores it inside the registered model."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from pipelines.defs.research.partitions import research_partitions, study_of
from pipelines.defs.research.resources import ResearchConfig
from pipelines.research.config import ResearchSettings
from pipelines.research.features import StoredFeatures
from pipelines.research.gates import load_gates
from pipelines.research.regime_classifier import StoredRegimeModel
from pipelines.research.regime_study import not_applicable
from pipelines.research.regime_study import regime_model as study_regime_model
from strategies.regime_features import REGIME_FEATURE_VERSION

GROUP = "research"
REGIME_CHECK = "regime_accuracy_meets_gate"


def regime_check(stored: StoredRegimeModel, minimum: float) -> dg.AssetCheckResult:
    """Blocking: the chosen classifier's OOS balanced accuracy is at least the gate (a
    dataset without a classifier - :func:`not_applicable` - passes with the reason)."""
    value = stored.metrics.get("regime_bacc", float("nan"))
    return dg.AssetCheckResult(
        check_name=REGIME_CHECK, passed=bool(value >= minimum),
        metadata={"regime_bacc": float(value), "min_regime_balanced_accuracy": minimum,
                  "trained_on": str(stored.path)})


def regime_asset(research: ResearchSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="regime_model", group_name=GROUP, partitions_def=research_partitions(research),
        kinds={"scikit-learn", "skops"}, code_version=REGIME_FEATURE_VERSION,
        check_specs=[dg.AssetCheckSpec(REGIME_CHECK, asset="regime_model", blocking=True)],
        description="Regime classifier (features only, labels as target) chosen by "
                    "walk-forward OOS balanced accuracy, and the binned training "
                    "distribution drift is measured against; stored as skops + JSON.",
    )
    def regime_model(context: dg.AssetExecutionContext, research_config: ResearchConfig,
                     features: StoredFeatures) -> Iterator[Any]:
        dataset, _ = study_of(context)
        skipped = not_applicable(research_config.root_path, dataset, features,
                                 research_config.research)
        if skipped is not None:
            context.log.warning(skipped)
            yield dg.Output({"skipped": skipped}, metadata={"skipped": skipped})
            yield dg.AssetCheckResult(check_name=REGIME_CHECK, passed=True,
                                      metadata={"not_applicable": skipped})
            return
        stored = study_regime_model(research_config.root_path, dataset, features,
                                    research_config.research, research_config.gates_path)
        context.log.info(f"regime model {stored.digest[:12]}: "
                         f"{'read from the store' if stored.cache_hit else 'trained'}")
        metadata: dict[str, Any] = {k: dg.MetadataValue.float(v)
                                    for k, v in sorted(stored.metrics.items())}
        metadata.update({"digest": stored.digest, "cache_hit": stored.cache_hit,
                         "path": dg.MetadataValue.path(str(stored.path))})
        yield dg.Output(stored.to_json(), metadata=metadata)
        gates = load_gates(research_config.gates_path).signal
        yield regime_check(stored, gates.min_regime_balanced_accuracy)

    return regime_model
