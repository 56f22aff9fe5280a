"""Research outputs stored by the Dagster IO manager as JSON and Parquet: exact round trips,
no pickles, and unknown stored types refused."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.datasets.synthetic_nse import generate_nse_index_bars
from pipelines.defs.research.io_managers import JsonIOManager
from pipelines.research.gates import Check, GateVerdict
from pipelines.research.recorded import RecordedVersion
from pipelines.research.serde import StoredOutputError, decode
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import WalkForwardReport, run_walk_forward
from strategies.bars import bars_from_frame
from strategies.ema_cross import SPEC, EmaCrossParams
from strategies.lineage import Lineage
from strategies.simulator import SimConfig

KEY = dg.AssetKey("walk_forward_report")


@pytest.fixture(scope="module")
def report() -> WalkForwardReport:
    frame, _ = generate_nse_index_bars(start=date(2025, 1, 1), end=date(2025, 2, 28), seed=3)
    bars = bars_from_frame(frame[frame["symbol"] == "NIFTY"].reset_index(drop=True),
                           symbol="NIFTY", venue="NSE")
    wf = WalkForwardSpec(scheme="rolling", train=10, test=5, unit="sessions", purge=1)
    combos = [EmaCrossParams(fast=f, slow=s) for f in (5, 9) for s in (21, 30)]
    return run_walk_forward(SPEC, bars, SimConfig(lot_size=75, stop_points=25), wf,
                            combos=combos, pbo_splits=4)


def _round_trip(tmp_path: Path, value: object) -> object:
    manager = JsonIOManager(base_dir=str(tmp_path))
    manager.handle_output(dg.build_output_context(asset_key=KEY), value)
    return manager.load_input(dg.build_input_context(asset_key=KEY))


def test_json_io_manager_report_round_trips_exactly(tmp_path: Path,
                                                    report: WalkForwardReport) -> None:
    back = _round_trip(tmp_path, report)
    assert isinstance(back, WalkForwardReport)
    assert (back.strategy, back.symbol, back.spec, back.n_trials, back.folds) == \
        (report.strategy, report.symbol, report.spec, report.n_trials, report.folds)
    assert back.metrics.keys() == report.metrics.keys()
    for name, value in report.metrics.items():
        assert back.metrics[name] == value or (math.isnan(value) and math.isnan(back.metrics[name]))
    pd.testing.assert_frame_equal(back.oos_trades, report.oos_trades)
    pd.testing.assert_series_equal(back.oos_equity, report.oos_equity)
    # the trial matrix and OOS returns too (the registry logs them, the DSR counts them)
    assert report.trials.shape[1] == report.n_trials
    pd.testing.assert_frame_equal(back.trials, report.trials)
    pd.testing.assert_series_equal(back.oos_returns, report.oos_returns)


def test_json_io_manager_writes_json_and_parquet_not_pickles(tmp_path: Path,
                                                             report: WalkForwardReport) -> None:
    _round_trip(tmp_path, report)
    frames = sorted(tmp_path.glob("*.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["walk_forward_report.json", *(p.name for p in frames)]) and len(frames) == 4
    assert all(p.read_bytes()[:4] == b"PAR1" for p in frames)
    doc = json.loads((tmp_path / "walk_forward_report.json").read_text())
    assert doc["type"] == "walk_forward_report"


def test_json_io_manager_verdict_and_plain_dict_round_trip(tmp_path: Path) -> None:
    verdict = GateVerdict("ema_cross", (Check("max_pbo", "pbo", math.inf, 0.5, False),), "d")
    assert _round_trip(tmp_path, verdict) == verdict
    version = {"version": 3, "metrics": {"oos_cost_share": math.inf}, "passed": False}
    assert _round_trip(tmp_path, version) == version


def test_decode_unknown_stored_type_is_refused() -> None:
    with pytest.raises(StoredOutputError, match="unknown stored type 'pickle'"):
        decode({"type": "pickle", "value": "gASV"}, {}, source="x.json")


def test_json_io_manager_recorded_version_round_trips_typed(tmp_path: Path) -> None:
    lineage = Lineage(
        strategy="ema_cross", dataset="nse_index_1m", dataset_md5="a" * 32, symbol="NIFTY",
        code_revision="b" * 40, strategies_source_hash="c" * 64, params_hash="d" * 16,
        params={"fast": 9, "slow": 21, "trend": 0}, feature_set_version="1",
        feature_key="e" * 16, gates_digest="f" * 64, verdict_digest="0" * 64,
        verdict_passed=True)
    recorded = RecordedVersion(
        strategy="ema_cross", dataset="nse_index_1m", symbol="NIFTY", version=3,
        model_uri="models:/ema_cross/3", run_id="r1", reused=False, passed=True,
        lineage=lineage, metrics={"oos_sharpe": 1.25, "pbo": math.nan},
        warnings=("pbo near its gate",), notes=(), report_html="/tmp/report.html")
    back = _round_trip(tmp_path, recorded)
    assert isinstance(back, RecordedVersion)
    assert back.lineage == lineage and back.warnings == recorded.warnings
    assert math.isnan(back.metrics["pbo"]) and back.metrics["oos_sharpe"] == 1.25


def test_json_io_manager_loads_an_input_spanning_partitions_by_key(tmp_path: Path) -> None:
    """The portfolio study's input: every strategy partition of one dataset, by key."""
    partitions = dg.StaticPartitionsDefinition(["atr_reversal", "ema_cross", "range_breakout"])
    manager = JsonIOManager(base_dir=str(tmp_path))
    for name in ("atr_reversal", "ema_cross", "range_breakout"):
        verdict = GateVerdict(name, (Check("max_pbo", "pbo", 0.1, 0.5, True),), "d")
        manager.handle_output(dg.build_output_context(
            asset_key=KEY, partition_key=name, asset_partitions_def=partitions), verdict)
    loaded = manager.load_input(dg.build_input_context(
        asset_key=KEY, asset_partitions_def=partitions,
        asset_partition_key_range=dg.PartitionKeyRange("atr_reversal", "ema_cross")))
    assert list(loaded) == ["atr_reversal", "ema_cross"]
    assert [v.strategy for v in loaded.values()] == ["atr_reversal", "ema_cross"]
    single = manager.load_input(dg.build_input_context(
        asset_key=KEY, partition_key="range_breakout", asset_partitions_def=partitions))
    assert isinstance(single, GateVerdict) and single.strategy == "range_breakout"
