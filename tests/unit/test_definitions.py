"""The Dagster code location loads and wires every dataset to a blocking GX check."""

from __future__ import annotations

import dagster as dg

from pipelines.datasets.catalog import list_datasets
from stratops.definitions import MAIN_JOB, build_definitions
from stratops.settings import load_settings


def test_defs_can_load() -> None:
    defs = build_definitions()
    assert defs.resolve_job_def(MAIN_JOB) is not None


def test_defs_every_dataset_has_an_asset_with_blocking_check() -> None:
    defs = build_definitions()
    names = {e.name for e in list_datasets(load_settings().root)}
    assert names >= {"goog_1d", "eurusd_1h", "sp500_1d", "nse_index_1m"}
    graph = defs.resolve_asset_graph()
    for name in names:
        key = dg.AssetKey(["datasets", name])
        assert key in graph.get_all_asset_keys()
        checks = [c for c in graph.asset_check_keys if c.asset_key == key]
        assert [c.name for c in checks] == ["gx_suite"]
        assert graph.get_check_spec(checks[0]).blocking
