"""Research assets, partitioned by (dataset, strategy):
``features -> walk_forward_report -> gate_verdict -> strategy_version``, with
``features -> regime_model -> strategy_version`` (:mod:`.regime_assets`) and
``walk_forward_report + regime_model -> enable_matrix -> strategy_version``
(:mod:`.matrix_assets`).

Each asset is one call into :mod:`pipelines.research.study` (or the registry) plus the
metadata the Dagster UI shows; checks from :mod:`pipelines.defs.research.checks` are
evaluated with the asset they guard.
"""

import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from pipelines.defs.data.assets import dataset_key
from pipelines.defs.research import checks
from pipelines.defs.research.matrix_assets import matrix_asset
from pipelines.defs.research.partitions import research_partitions, study_of
from pipelines.defs.research.regime_assets import regime_asset
from pipelines.defs.research.resources import MlflowRegistry, ResearchConfig
from pipelines.research import study
from pipelines.research.confidence_study import (
    confidence_fold_table,
    confidence_for_version,
)
from pipelines.research.config import ResearchSettings
from pipelines.research.enable_matrix import MatrixStudy
from pipelines.research.features import FEATURE_SET_VERSION, StoredFeatures
from pipelines.research.gates import GateVerdict
from pipelines.research.recorded import RecordedVersion
from pipelines.research.regime_classifier import StoredRegimeModel
from pipelines.research.regimes import UNLABELLED
from pipelines.research.walk_forward import WalkForwardReport
from strategies.names import path_under, validate_name
from strategies.roster import get_strategy

GROUP = "research"
FEATURES_IO = "feature_store_io"


def _metric(value: float) -> Any:
    return dg.MetadataValue.float(float(value)) if pd.notna(value) else "nan"


def _session_labels(features: StoredFeatures) -> pd.Series:
    frame = features.frame
    day = pd.DatetimeIndex(frame["ts"]).tz_localize(None).normalize()
    labels = pd.Series(frame["regime"].to_numpy(), index=day).groupby(level=0).first()
    return labels[labels != UNLABELLED]


def _features_asset(research: ResearchSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="features", group_name=GROUP, partitions_def=research_partitions(research),
        deps=[dataset_key(d) for d in research.datasets], io_manager_key=FEATURES_IO,
        kinds={"parquet", "numba"}, code_version=FEATURE_SET_VERSION,
        description="Bars, session clock, standard indicators and regime per bar, kept in "
                    "the Parquet feature store keyed by dataset hash and feature-set version.",
    )
    def features(context: dg.AssetExecutionContext,
                 research_config: ResearchConfig) -> dg.Output[StoredFeatures]:
        dataset, _ = study_of(context)
        stored = study.build_features(research_config.root_path, dataset,
                                      research_config.research)
        context.log.info(f"features {stored.key.digest}: "
                         f"{'read from the store' if stored.cache_hit else 'computed'}")
        regimes = stored.frame["regime"].value_counts().to_dict()
        with warnings.catch_warnings():  # data_version is beta in Dagster 1.13; it is the key
            warnings.simplefilter("ignore", dg.BetaWarning)
            output = dg.Output(stored, data_version=dg.DataVersion(stored.key.digest), metadata={
            "cache_hit": stored.cache_hit, "feature_key": stored.key.digest,
            "dataset_md5": stored.key.dataset_md5, "symbol": stored.key.symbol,
            "feature_set_version": FEATURE_SET_VERSION,
            "rows": dg.MetadataValue.int(len(stored.frame)),
            "bars_by_regime": ", ".join(f"{k} {v}" for k, v in sorted(regimes.items())),
            "path": dg.MetadataValue.path(str(stored.path)),
            })
        return output

    return features


def _report_asset(research: ResearchSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="walk_forward_report", group_name=GROUP,
        partitions_def=research_partitions(research), kinds={"numba", "vectorbt"},
        check_specs=[dg.AssetCheckSpec(checks.WALK_FORWARD_CHECK, asset="walk_forward_report",
                                       blocking=True)],
        description="Walk-forward: in-sample grid optimisation per fold, out-of-sample "
                    "evaluation, stitched OOS equity, PBO (CSCV) and Deflated Sharpe.",
    )
    def walk_forward_report(context: dg.AssetExecutionContext, research_config: ResearchConfig,
                            features: StoredFeatures) -> Iterator[Any]:
        dataset, strategy = study_of(context)
        report = study.walk_forward(research_config.root_path, dataset, strategy, features,
                                    research_config.research, progress=context.log.debug)
        metadata: dict[str, Any] = {k: _metric(v) for k, v in report.metrics.items()}
        metadata.update({"folds": len(report.folds), "trials": report.n_trials,
                         "skipped_combinations": len(report.skipped),
                         "notes": "; ".join(report.notes) or "none",
                         "chosen_params": str(report.chosen_params())})
        for note in report.notes:
            context.log.warning(note)
        yield dg.Output(report, metadata=metadata)
        yield checks.walk_forward_check(report)

    return walk_forward_report


def _verdict_asset(research: ResearchSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="gate_verdict", group_name=GROUP, partitions_def=research_partitions(research),
        kinds={"yaml"},
        check_specs=[dg.AssetCheckSpec(checks.GATE_CHECK, asset="gate_verdict")],
        description="Every gate of the reviewed gates.yaml: value, threshold, pass.",
    )
    def gate_verdict(research_config: ResearchConfig,
                     walk_forward_report: WalkForwardReport) -> Iterator[Any]:
        verdict = study.gate_verdict(research_config.gates_path, walk_forward_report)
        rows = "\n".join(f"| {c.name} | {c.value:.4g} | {c.threshold:.4g} | "
                         f"{'pass' if c.passed else 'FAIL'} |" for c in verdict.checks)
        yield dg.Output(verdict, metadata={
            "passed": verdict.passed, "gates_digest": verdict.gates_digest,
            "warnings": "; ".join(verdict.warnings) or "none",
            "checks": dg.MetadataValue.md(
                "| check | value | threshold | result |\n|---|---|---|---|\n" + rows)})
        yield checks.gate_check(verdict)

    return gate_verdict


def _version_asset(research: ResearchSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="strategy_version", group_name=GROUP, partitions_def=research_partitions(research),
        kinds={"mlflow"},
        check_specs=[dg.AssetCheckSpec(checks.MODEL_CHECK, asset="strategy_version",
                                       blocking=True)],
        description="The candidate as a registered MLflow pyfunc version with its lineage "
                    "tags, report (JSON, HTML), plots and trades.",
    )
    def strategy_version(context: dg.AssetExecutionContext, research_config: ResearchConfig,
                         mlflow_registry: MlflowRegistry, features: StoredFeatures,
                         walk_forward_report: WalkForwardReport,
                         gate_verdict: GateVerdict,
                         regime_model: dict[str, Any],
                         enable_matrix: dict[str, Any]) -> Iterator[Any]:
        dataset, _ = study_of(context)
        attach = "skipped" not in regime_model and research_config.research.regime.attach
        attached = StoredRegimeModel.from_json(regime_model) if attach else None
        recorded = record_version(research_config, mlflow_registry, dataset, features,
                                  walk_forward_report, gate_verdict, attached,
                                  None if "skipped" in enable_matrix
                                  else MatrixStudy.from_json(enable_matrix),
                                  None if "skipped" in regime_model
                                  else StoredRegimeModel.from_json(regime_model))
        context.log.info(f"{recorded.model_uri} "
                         f"({'reused' if recorded.reused else 'registered'})")
        yield dg.Output(recorded, metadata={
            "model_uri": recorded.model_uri, "version": recorded.version,
            "reused": recorded.reused, "run_id": recorded.run_id,
            "gate_verdict": "pass" if gate_verdict.passed else "fail",
            "code_revision": recorded.lineage.code_revision,
            "dataset_md5": recorded.lineage.dataset_md5,
            "params_hash": recorded.lineage.params_hash,
            "report": dg.MetadataValue.path(recorded.report_html)})
        yield verify_model(mlflow_registry, walk_forward_report, features, recorded, attached)

    return strategy_version


def record_version(research_config: ResearchConfig, mlflow_registry: MlflowRegistry,
                   dataset: str, features: StoredFeatures, report: WalkForwardReport,
                   verdict: GateVerdict, regimes_model: StoredRegimeModel | None = None,
                   matrix: MatrixStudy | None = None,
                   classifier: StoredRegimeModel | None = None) -> RecordedVersion:
    """Write the report artifacts and register (or reuse) the candidate's model version,
    with the study's regime classifier and drift reference inside its model files (and,
    with them, the strategy's final enable matrix). The matrix study's per-regime OOS and
    governed metrics go on the version's run whether or not the classifier is attached.
    With ``research.confidence.attach``, the strategy's confidence calibrator is learned
    from the fold trade table (read by ``classifier``'s per-fold regimes) and stored too."""
    from pipelines.research.lineage import Lineage, code_revision, strategies_source_hash
    from pipelines.research.research_report import regime_breakdown, write_report_artifacts
    from strategies.params import params_hash

    root, research = research_config.root_path, research_config.research
    spec = get_strategy(report.strategy)
    params = spec.params_cls(**report.chosen_params())
    lineage = Lineage(
        strategy=report.strategy, dataset=dataset, dataset_md5=features.key.dataset_md5,
        symbol=report.symbol, code_revision=code_revision(root),
        strategies_source_hash=strategies_source_hash(), params_hash=params_hash(params),
        params=report.chosen_params(), feature_set_version=FEATURE_SET_VERSION,
        feature_key=features.key.digest, gates_digest=verdict.gates_digest,
        verdict_digest=verdict.digest(), verdict_passed=verdict.passed)
    bars = features.bars()
    config = study.sim_config(root, dataset, bars, research)
    configs = None  # a joint walk-forward's version: every symbol's own lot, tick and costs
    if len(report.traded_symbols) > 1:
        _, configs = study.symbol_configs(root, dataset, research, features,
                                          report.traded_symbols)
    regimes = regime_breakdown(report, _session_labels(features), config.initial_capital_inr)
    out_dir = path_under(root / research.artifacts_dir,
                         validate_name(report.strategy, field="strategy"),
                         validate_name(dataset, field="dataset"))
    paths = write_report_artifacts(report, verdict, regimes, asdict(lineage), out_dir)
    entry = study.dataset_entry(root, dataset)  # the study read it: it has its meta
    venue = entry.meta.venue  # type: ignore[union-attr]  # see above
    governance_metrics = {**({} if regimes_model is None else regimes_model.metrics),
                          **({} if matrix is None else matrix.metrics)}
    with tempfile.TemporaryDirectory() as tmp:
        confidence = confidence_for_version(
            lambda: confidence_fold_table(features, report, config, classifier, research),
            report, research.confidence, Path(tmp))
        if confidence is not None:
            governance_metrics.update(confidence.metrics)
        version = mlflow_registry.client().record(
            report, verdict, lineage, out_dir,
            study.version_config(dataset, report, config, research, venue, configs),
            study.input_example(features),
            governance_dir=None if regimes_model is None else regimes_model.path,
            governance_metrics=governance_metrics or None,
            enable_matrix=None if regimes_model is None or matrix is None else matrix.final,
            confidence_dir=None if confidence is None else confidence.path)
    return RecordedVersion(
        strategy=report.strategy, dataset=dataset, symbol=report.symbol,
        version=version.version, model_uri=version.model_uri, run_id=version.run_id,
        reused=version.reused, passed=verdict.passed, lineage=lineage,
        metrics=dict(report.metrics), warnings=tuple(verdict.warnings),
        notes=tuple(report.notes), report_html=str(paths["report.html"]))


def verify_model(mlflow_registry: MlflowRegistry, report: WalkForwardReport,
                 features: StoredFeatures, recorded: RecordedVersion,
                 attached: StoredRegimeModel | None = None) -> dg.AssetCheckResult:
    """Load the registered version by URI; its signals on the last test window must equal
    the research code's, and - a governed version - its classifier read back from the
    registry must give the study's governed decisions there
    (:func:`pipelines.research.governed.governed_decisions`)."""
    spec = get_strategy(report.strategy)
    bars = features.bars()
    last = report.folds[-1]
    mask = (bars.ts >= pd.Timestamp(last.test[0])) & (bars.ts <= pd.Timestamp(last.test[1]))
    idx = mask.nonzero()[0]
    window = bars.window(int(idx[0]), int(idx[-1]) + 1)
    params = spec.params_cls(**report.chosen_params())
    expected = spec.signals(window, params)
    client = mlflow_registry.client()
    model = client.load_model(report.strategy, str(recorded.version))
    mismatched = checks.signals_match(model, window, dict(zip(
        checks.SIGNAL_COLUMNS, expected.arrays(), strict=True)))
    if attached is not None:
        from pipelines.research.governed import governed_decisions
        from strategies.regime_features import TAIL_BARS
        from strategies.regime_model import load_governance

        registered = client.load_governance(report.strategy, str(recorded.version))
        if registered is None:
            mismatched.append("governance (the registered version carries none)")
        else:
            start = max(0, int(idx[0]) - TAIL_BARS)  # the features' exact warm-up
            span = bars.window(start, int(idx[-1]) + 1)
            study = governed_decisions(span, spec, params, load_governance(attached.path).model)
            mismatched += [f"governed {c}" for c in study.mismatches(
                governed_decisions(span, spec, params, registered.model), idx - start)]
    return checks.model_check(mismatched, recorded.model_uri, window)


def research_assets(research: ResearchSettings) -> list[dg.AssetsDefinition]:
    return [_features_asset(research), _report_asset(research), _verdict_asset(research),
            regime_asset(research), matrix_asset(research), _version_asset(research)]
