"""Where the time of a full research run goes: 4 strategies on the synthetic NSE year.

Runs the real Dagster research job in process (features -> walk_forward_report ->
gate_verdict -> strategy_version, MLflow registration included) with enlarged parameter
spaces (at least 500 combinations per fold) and walk-forward windows giving at least 10
folds, into a throw-away Dagster home, feature store and MLflow store. The reference,
measured in the same run, is the grid engine's own time (every ``run_grid`` call of the
walk-forwards): the closer the pipeline's wall time is to it, the less orchestration,
logging and registration cost. Target: the whole run under 300 s on the 2-core machine.

    .venv/bin/python benchmarks/research_pipeline.py

Ends with ``name: value`` lines; the last, ``wall_over_grid_engine``, is the headline.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Finer grids inside each strategy's declared ranges (a registered version's params must lie
# in its declared space): 500+ valid combinations each.
SPACES: dict[str, dict[str, list[Any]]] = {
    "ema_cross": {"fast": list(range(3, 31)), "slow": list(range(20, 121, 5)), "trend": [0, 200]},
    "atr_reversal": {"mean_period": [10, 15, 20, 25, 30, 40, 50, 60, 70, 80],
                     "atr_period": [7, 10, 14, 18, 21],
                     "k": [1.5, 1.7, 1.9, 2.1, 2.3, 2.5, 2.7, 2.9, 3.1, 3.3, 3.5]},
    "atr_divergence": {"atr_period": [10, 12, 14, 17, 20], "lookback": [5, 7, 8, 10, 12, 15, 20],
                       "left": [3, 4, 5, 6, 8], "right": [1, 2, 3]},
    "range_breakout": {"mode": ["opening", "rolling"],
                       "range_bars": [5, 10, 15, 20, 25, 30, 40, 45, 50, 60],
                       "chop_period": [14, 18, 22, 26, 30],
                       "chop_min": [0.0, 40.0, 45.0, 50.0, 55.0, 61.8]},
}
MIN_COMBOS, MIN_FOLDS, TARGET_SECONDS = 500, 10, 300.0


def _configure(tmp: Path) -> None:
    """Point every store at ``tmp`` and enlarge the spaces, through the settings' env vars."""
    os.environ.update({
        "STRATOPS_ROOT": str(ROOT),
        "STRATOPS_DAGSTER_HOME": str(tmp / "dagster"),
        "STRATOPS_MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "STRATOPS_MLFLOW_ARTIFACT_ROOT": str(tmp / "artifacts"),
        "STRATOPS_RESEARCH__FEATURE_STORE": str(tmp / "features"),
        "STRATOPS_RESEARCH__ARTIFACTS_DIR": str(tmp / "research"),
        "STRATOPS_RESEARCH__SPACES": json.dumps(SPACES),
        "DAGSTER_HOME": str(tmp / "dagster"),
    })
    (tmp / "dagster").mkdir()
    (tmp / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")


def _instrument_grid() -> list[float]:
    """Time every grid-engine call the walk-forward makes (benchmark instrumentation)."""
    import pipelines.research.walk_forward as wf

    spent: list[float] = []
    engine = wf.run_grid

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return engine(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    wf.run_grid = timed  # type: ignore[assignment]
    return spent


def _step_seconds(instance: Any, run_id: str) -> dict[str, float]:
    """Seconds per asset step of one run, from Dagster's own step events."""
    from dagster import DagsterEventType

    starts: dict[str, float] = {}
    out: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            out[event.step_key] = record.timestamp - starts[event.step_key]
    return out


def _check_sizes() -> None:
    from pipelines.research.study import candidate_params
    from stratops.settings import load_settings

    research = load_settings().research
    for name in research.strategies:
        n = len(candidate_params(name, research))
        print(f"{name}: {n} combinations per fold")
        if n < MIN_COMBOS:
            sys.exit(f"{name}: only {n} combinations, the benchmark needs {MIN_COMBOS}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stratops-bench-") as tmp_name:
        _configure(Path(tmp_name))
        import dagster as dg

        from pipelines.defs.research.partitions import partition_key
        from stratops.definitions import RESEARCH_JOB, build_definitions
        from stratops.settings import load_settings

        _check_sizes()
        grid_seconds = _instrument_grid()
        research = load_settings().research
        job = build_definitions().resolve_job_def(RESEARCH_JOB)
        instance = dg.DagsterInstance.get()
        stages: dict[str, float] = defaultdict(float)
        folds: list[int] = []
        start = time.perf_counter()
        for strategy in research.strategies:
            t0 = time.perf_counter()
            result = job.execute_in_process(
                partition_key=partition_key(research.datasets[0], strategy), instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
            version = result.output_for_node("strategy_version")
            report = result.output_for_node("walk_forward_report")
            folds.append(len(report.folds))
            for step, seconds in _step_seconds(instance, result.run_id).items():
                stages[step] += seconds
            print(f"{strategy}: {time.perf_counter() - t0:.1f} s, {len(report.folds)} folds, "
                  f"version {version.version}, gates {'pass' if version.passed else 'fail'}")
        wall = time.perf_counter() - start
    if min(folds) < MIN_FOLDS:
        sys.exit(f"only {min(folds)} folds; the benchmark needs {MIN_FOLDS}")
    grid = sum(grid_seconds)
    steps = sum(stages.values())
    for step, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  stage {step:<22} {seconds:7.1f} s  {seconds / wall:6.1%} of wall")
    print(f"  grid engine calls      {grid:7.1f} s  {grid / wall:6.1%} of wall "
          f"({len(grid_seconds)} calls)")
    print(f"  orchestration outside steps {wall - steps:5.1f} s")
    print(f"wall_seconds: {wall:.1f}")
    print(f"under_target_{int(TARGET_SECONDS)}s: {wall < TARGET_SECONDS}")
    print(f"grid_engine_share: {grid / wall:.3f}")
    print(f"orchestration_share: {(wall - steps) / wall:.3f}")
    print(f"wall_over_grid_engine: {wall / grid:.2f}")


if __name__ == "__main__":
    main()
