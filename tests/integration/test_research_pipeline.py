"""The research pipeline end to end in a clean project copy: Dagster assets, feature store,
MLflow registered versions with lineage, gate checks, reruns that reuse, the sensor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.integration.conftest import run_in, seed_regime_store

pytestmark = pytest.mark.integration
STRATEGIES = ["range_breakout", "ema_cross", "atr_reversal", "atr_divergence"]


@pytest.fixture(scope="module")
def researched(demo_project: Path, shared_regime_store: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy after one research of all four strategies: the suite's ``make
    demo`` run (``stratops run``: the datasets job, then the same studies and portfolio
    study ``stratops research run`` runs, one research of every strategy for the whole
    suite instead of one per module); the classifiers it trained join the shared store."""
    progress = (demo_project.parent / "run.err").read_text()  # --json: progress on stderr
    assert progress.count("on nse_futures_cont_1m: ok") == 4, progress
    assert "portfolio study of nse_futures_cont_1m: ok" in progress, progress
    seed_regime_store(demo_project, shared_regime_store)
    root = tmp_path_factory.mktemp("researched") / "project"
    shutil.copytree(demo_project, root, symlinks=True)
    return root


def _client(root: Path) -> mlflow.MlflowClient:
    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_research_registers_one_model_per_strategy_with_lineage(researched: Path) -> None:
    client = _client(researched)
    for name in STRATEGIES:
        versions = client.search_model_versions(f"name = '{name}'")
        assert len(versions) == 1
        tags = versions[0].tags
        for key in ("dataset_md5", "code_revision", "params_hash", "feature_set_version",
                    "gate_verdict", "gates_digest"):
            assert tags[f"stratops.{key}"], key
        assert "+dirty" not in tags["stratops.code_revision"]


def test_research_outputs_in_dagster_storage_are_json_and_parquet_not_pickles(
        researched: Path) -> None:
    storage = researched / ".dagster" / "storage"
    for asset in ("walk_forward_report", "gate_verdict", "strategy_version"):
        stored = sorted((storage / asset).glob("*.json"))
        assert len(stored) == len(STRATEGIES), asset
        for path in stored:
            assert json.loads(path.read_text())["type"], path
    parquet = sorted((storage / "walk_forward_report").glob("*.parquet"))
    assert parquet and all(p.read_bytes()[:4] == b"PAR1" for p in parquet)
    pickles = [p for p in storage.rglob("*") if p.is_file() and p.read_bytes()[:1] == b"\x80"]
    assert pickles == []


def test_research_parent_run_has_a_child_run_per_fold(researched: Path) -> None:
    client = _client(researched)
    version = client.search_model_versions("name = 'ema_cross'")[0]
    parent = client.get_run(version.run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == int(parent.data.params["n_folds"]) >= 10
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.json", "report.html", "equity.png", "folds.png", "trades.csv"} <= artifacts


def test_research_run_logs_each_strategys_enable_matrix_per_regime(researched: Path) -> None:
    client = _client(researched)
    for name in STRATEGIES:
        version = client.search_model_versions(f"name = '{name}'")[0]
        run = client.get_run(version.run_id)
        metrics = run.data.metrics
        assert metrics["matrix.rules_tried"] == 2, name  # gates.yaml enable_matrix.rules
        per_regime = [v for k, v in metrics.items()
                      if k.startswith("matrix.oos.") and k.endswith(".trades")]
        assert len(per_regime) >= 3 and sum(per_regime) == metrics["oos_trades"], name
        assert 0 <= metrics["governed.oos_trades"] <= metrics["oos_trades"], name
        # the DSR's trials: the varying parameter combinations plus the rules tried
        assert 2 < metrics["governed.dsr.n_trials"] <= int(run.data.params["n_trials"]) + 2
        assert any(k.startswith("matrix.final.") for k in metrics), name


def test_research_report_holds_the_regime_breakdown(researched: Path) -> None:
    report = json.loads((researched / "data/research/atr_reversal/nse_futures_cont_1m/report.json")
                        .read_text())
    regimes = {row["regime"] for row in report["regimes"]}
    assert regimes <= {"trend", "chop", "high_vol"} and len(regimes) == 3
    assert sum(r["trades"] for r in report["regimes"]) == report["metrics"]["oos_trades"]


def test_research_run_reports_the_portfolio_next_to_the_strategies(researched: Path) -> None:
    """The portfolio study ran after the four strategies: its report holds every sleeve
    (four strategies on NIFTY and on BANKNIFTY) and each allocator on the same OOS sessions,
    its run is in MLflow with the report, and Dagster stored it as JSON."""
    out = researched / "data/research/portfolio/nse_futures_cont_1m"
    study = json.loads((out / "portfolio.json").read_text())
    names = [row["name"] for row in study["rows"]]
    assert names == [f"{s}/{sym}" for sym in ("NIFTY", "BANKNIFTY") for s in STRATEGIES] + [
        f"{s}/NIFTY+BANKNIFTY" for s in STRATEGIES] + [
        "portfolio:equal_weighted", "portfolio:inverse_volatility", "portfolio:risk_parity"]
    assert len({row["sessions"] for row in study["rows"]}) == 1
    best = max((r for r in study["rows"] if r["kind"] == "strategy"), key=lambda r: r["sharpe"])
    assert study["best_single"] == best["name"]
    assert study["beats_best_single"] == (study["metrics"]["portfolio_sharpe"] > best["sharpe"])
    # the stored OOS sleeves of the researched symbol are the registered versions' own
    nifty = {r["name"]: r for r in study["rows"]}["ema_cross/NIFTY"]
    assert nifty["dsr.n_trials"] == json.loads(
        (researched / "data/research/ema_cross/nse_futures_cont_1m/report.json").read_text()
    )["metrics"]["dsr.n_trials"]
    weights = study["allocations"]["risk_parity"]["weights"]
    assert all(abs(sum(w.values()) - 1.0) < 1e-6 for w in weights.values())
    client = _client(researched)
    experiment = client.get_experiment_by_name("portfolio")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["stratops.beats_best_single"] == str(study["beats_best_single"]).lower()
    assert run.data.metrics["portfolio_sharpe"] == study["metrics"]["portfolio_sharpe"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"portfolio.json", "portfolio.html", "equity.png"} <= artifacts
    stored = researched / ".dagster/storage/portfolio_study/nse_futures_cont_1m.json"
    assert json.loads(stored.read_text())["type"] == "json"


def test_research_rerun_reads_features_and_reuses_versions(researched: Path) -> None:
    proc = run_in(researched, "stratops", "research", "run", "--strategy", "ema_cross")
    assert "(reused)" in proc.stdout
    assert len(_client(researched).search_model_versions("name = 'ema_cross'")) == 1
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(researched / ".dagster"))
    events = instance.fetch_materializations(dg.AssetKey("features"), limit=20).records
    hits = [e.asset_materialization.metadata["cache_hit"].value for e in events]
    assert hits.count(False) == 1 and hits.count(True) >= 4


def test_gate_check_fails_a_strategy_that_cannot_pass(researched: Path) -> None:
    proc = run_in(researched, "stratops", "gate", "check", "ema_cross", "1", check=False)
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "min_oos_sharpe" in proc.stdout


def test_gate_check_passes_against_lenient_gates(researched: Path, tmp_path: Path) -> None:
    lenient = {"version": 1, "defaults": {
        "min_oos_sharpe": -100.0, "min_dsr_probability": 0.0, "max_pbo": 1.0,
        "max_drawdown": 1.0, "min_trades": 0, "max_cost_share": float("inf"),
        "min_stability": 0.0}}
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump(lenient))
    proc = run_in(researched, "stratops", "gate", "check", "ema_cross", "latest",
                  "--gates", str(path), check=False)
    assert proc.returncode == 0, proc.stdout
    assert "passes its gates" in proc.stdout


def test_gate_check_unknown_version_is_bad_input(researched: Path) -> None:
    proc = run_in(researched, "stratops", "gate", "check", "ema_cross", "99", check=False)
    assert proc.returncode == 2 and "99" in proc.stderr


def test_research_run_fail_on_gate_exits_one(researched: Path) -> None:
    proc = run_in(researched, "stratops", "research", "run", "-s", "atr_reversal",
                  "--fail-on-gate", check=False)
    assert proc.returncode == 1 and "failed its gates" in proc.stdout


def test_research_run_json_prints_only_the_summary_on_stdout(researched: Path) -> None:
    proc = run_in(researched, "stratops", "research", "run", "-s", "ema_cross", "--json")
    summary = json.loads(proc.stdout)  # progress went to stderr
    assert [(s["strategy"], s["success"]) for s in summary] == [("ema_cross", True)]
    assert summary[0]["version"]["version"] == 1 and summary[0]["version"]["reused"] is True


def test_registered_model_loads_by_uri_and_returns_signals(researched: Path) -> None:
    import pandas as pd

    mlflow.set_tracking_uri(f"sqlite:///{researched / 'mlflow' / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model("models:/atr_divergence/1")
    finally:
        mlflow.set_tracking_uri(None)
    frame = pd.read_parquet(researched / "data/datasets/nse_futures_cont_1m.parquet")
    bars = frame[frame["symbol"] == "NIFTY"].head(3000)
    signals = model.predict(bars)
    assert list(signals.columns) == ["ts", "symbol", "long_entry", "long_exit", "short_entry",
                                     "short_exit"]
    assert len(signals) == 3000


def test_affected_lists_the_changed_strategy(researched: Path) -> None:
    path = researched / "strategies" / "ema_cross.py"
    path.write_text(path.read_text() + "\n# touched\n")
    proc = run_in(researched, "stratops", "research", "affected", "--base", "HEAD")
    assert proc.stdout.split() == ["ema_cross"]
    run_in(researched, "git", "checkout", "--", "strategies/ema_cross.py")


# -- daily data: walk-forward windows by timeframe, warm-up refusal, PBO across S -----------

DAILY = ["ema_cross", "atr_reversal"]


def _research_settings(root: Path, **research: object) -> None:
    (root / "stratops.yaml").write_text(yaml.safe_dump({"research": research}))


@pytest.fixture(scope="module")
def daily(built_project: Path,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A project copy after ``stratops research run -d goog_1d`` with the default windows."""
    root = tmp_path_factory.mktemp("daily") / "project"
    shutil.copytree(built_project, root, symlinks=True)
    _research_settings(root, datasets=["goog_1d"])
    args = [a for s in DAILY for a in ("-s", s)]
    proc = run_in(root, "stratops", "research", "run", "-d", "goog_1d", *args, check=False)
    return root, proc.stdout + proc.stderr, str(proc.returncode)


def _parent_run(root: Path, strategy: str) -> mlflow.entities.Run:
    client = _client(root)
    version = client.search_model_versions(f"name = '{strategy}'")[0]
    return client.get_run(version.run_id)


def test_research_daily_dataset_with_default_windows_registers_versions(
        daily: tuple[Path, str, str]) -> None:
    _, output, code = daily
    assert code == "0", output
    assert "Traceback" not in output
    for strategy in DAILY:
        assert f"{strategy} on goog_1d: ok" in output


def test_research_daily_dataset_walks_forward_in_the_daily_windows(
        daily: tuple[Path, str, str]) -> None:
    params = _parent_run(daily[0], "ema_cross").data.params
    assert (params["wf.train"], params["wf.test"], params["wf.purge"]) == ("504", "252", "5")


def test_research_run_warns_of_a_knife_edge_exactly_when_pbo_straddles_the_gate(
        daily: tuple[Path, str, str]) -> None:
    root, output, _ = daily
    max_pbo = yaml.safe_load((root / "gates.yaml").read_text())["defaults"]["max_pbo"]
    for strategy in DAILY:
        metrics = _parent_run(root, strategy).data.metrics
        spread = [v for k, v in metrics.items() if k[len("pbo.s"):].isdigit()
                  and k.startswith("pbo.s")]
        straddles = min(spread) <= max_pbo < max(spread)
        warned = f"warning: {strategy} on goog_1d: max_pbo is on a knife's edge" in output
        assert warned == straddles, (strategy, spread)


def test_research_windows_shorter_than_every_warmup_exit_two_with_one_error_line(
        project: Path) -> None:
    _research_settings(project, datasets=["goog_1d"], walk_forward={"train": 60, "test": 15})
    proc = run_in(project, "stratops", "research", "run", "-d", "goog_1d", "-s", "ema_cross",
                  check=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "ema_cross: no combination's warm-up fits" in errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_research_stores_each_versions_health_expectation_in_its_config(
        researched: Path) -> None:
    """model_config.health (strategies/health.py): what the live health monitor tests
    against, from the walk-forward's OOS trades, inside the digest-covered config."""
    from pipelines.research.registry import ResearchRegistry

    uri = f"sqlite:///{researched / 'mlflow' / 'mlflow.db'}"
    registry = ResearchRegistry(uri, researched / "mlflow" / "artifacts", create=False)
    found = {name: registry.load_config(name, 1).health for name in STRATEGIES}
    assert any(h is not None for h in found.values()), found
    for name, health in found.items():
        if health is not None:
            metrics = registry.run_metrics(registry.get_version(name, 1))
            assert health.trades == int(metrics["oos_trades"]), name
            assert health.hit_ratio == pytest.approx(metrics["oos_hit_ratio"]), name
            assert health.pnl_std_inr > 0.0


def test_research_with_joint_symbols_registers_a_two_symbol_version(
        researched: Path, tmp_path: Path) -> None:
    """``research.joint_symbols``: one joint walk-forward on NIFTY and BANKNIFTY, registered
    as a new version trading both, each with its own lot size from the dataset."""
    root = tmp_path / "project"
    shutil.copytree(researched, root, symlinks=True)
    (root / "stratops.yaml").write_text(yaml.safe_dump({"research": {
        "joint_symbols": {"nse_futures_cont_1m": ["BANKNIFTY"]},
        "portfolio": {"enabled": False}}}))
    proc = run_in(root, "stratops", "research", "run", "--strategy", "range_breakout")
    assert "(reused)" not in proc.stdout, proc.stdout
    client = _client(root)
    latest = max(client.search_model_versions("name = 'range_breakout'"),
                 key=lambda v: int(v.version))
    assert int(latest.version) == 2
    assert latest.tags["stratops.symbols"] == "NIFTY,BANKNIFTY"
    from pipelines.research.registry import ResearchRegistry

    registry = ResearchRegistry(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
                                root / "mlflow" / "artifacts")
    config = registry.load_config("range_breakout", 2)
    assert config.symbols == ("NIFTY", "BANKNIFTY")
    assert {s: config.size_of(s).lot_size for s in config.symbols} == {
        "NIFTY": 75, "BANKNIFTY": 35}
    run = client.get_run(latest.run_id)
    assert run.data.metrics["joint.symbols"] == 2.0
    assert "symbol.BANKNIFTY.oos_sharpe" in run.data.metrics
