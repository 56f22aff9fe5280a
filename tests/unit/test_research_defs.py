"""The research assets are wired, partitioned and guarded; the sensor reacts to new md5s."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.research.sensors import research_requests
from pipelines.research.enable_matrix import GOVERNED_CHECK
from stratops.definitions import RESEARCH_JOB, build_definitions
from stratops.research_job import ADVISORY_CHECKS

ASSETS = ["features", "walk_forward_report", "gate_verdict", "regime_model", "enable_matrix",
          "strategy_version"]


def test_research_job_loads_with_four_partitioned_assets() -> None:
    defs = build_definitions()
    job = defs.resolve_job_def(RESEARCH_JOB)
    graph = defs.resolve_asset_graph()
    for name in ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert isinstance(node.partitions_def, dg.MultiPartitionsDefinition)
    assert job.partitions_def is not None
    assert "nse_futures_cont_1m|ema_cross" in job.partitions_def.get_partition_keys()


def test_research_lineage_runs_from_dataset_to_strategy_version() -> None:
    graph = build_definitions().resolve_asset_graph()
    assert dg.AssetKey(["datasets", "nse_futures_cont_1m"]) in graph.get(
        dg.AssetKey("features")).parent_keys
    assert graph.get(dg.AssetKey("strategy_version")).parent_keys == {
        dg.AssetKey("features"), dg.AssetKey("walk_forward_report"), dg.AssetKey("gate_verdict"),
        dg.AssetKey("regime_model"), dg.AssetKey("enable_matrix")}
    assert graph.get(dg.AssetKey("regime_model")).parent_keys == {dg.AssetKey("features")}
    assert graph.get(dg.AssetKey("enable_matrix")).parent_keys == {
        dg.AssetKey("features"), dg.AssetKey("walk_forward_report"),
        dg.AssetKey("regime_model")}


def test_research_blocking_checks_guard_report_and_model() -> None:
    graph = build_definitions().resolve_asset_graph()
    blocking = {c.name for c in graph.asset_check_keys if graph.get_check_spec(c).blocking}
    assert {"walk_forward_is_out_of_sample", "model_reproduces_research",
            "regime_accuracy_meets_gate", "enable_matrix_is_nested"} <= blocking
    warn = {c.name for c in graph.asset_check_keys if not graph.get_check_spec(c).blocking}
    assert GOVERNED_CHECK in warn
    assert GOVERNED_CHECK in ADVISORY_CHECKS  # reported, never a failed research run


def test_sensor_requests_one_run_per_strategy_for_a_changed_dataset() -> None:
    requests = research_requests({"nse_index_1m": "old"}, {"nse_index_1m": "new"},
                                 ("ema_cross", "atr_reversal"))
    assert [r.run_key for r in requests] == ["nse_index_1m:new:ema_cross",
                                             "nse_index_1m:new:atr_reversal"]


def test_sensor_requests_nothing_when_versions_are_unchanged() -> None:
    assert research_requests({"d": "x"}, {"d": "x"}, ("ema_cross",)) == []
