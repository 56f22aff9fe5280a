"""The research registry on real stores: a small real walk-forward recorded into MLflow (SQLite,
and PostgreSQL on the real server), registered once, reused on a second record, and loaded
back as a pyfunc whose signals equal the strategy's own."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import psycopg2
import pytest
import yaml

from live.runner.deployments import load_candidates
from pipelines.datasets.synthetic_nse import generate_nse_index_bars
from pipelines.research.gates import GateVerdict, load_gates
from pipelines.research.lineage import Lineage, code_revision, strategies_source_hash
from pipelines.research.registry import (
    MODEL_DIGEST_TAG,
    RecordInputError,
    RegisteredVersion,
    RegistryError,
    ResearchRegistry,
    model_digest,
)
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import WalkForwardReport, run_walk_forward
from strategies.bars import bars_from_frame
from strategies.costs import load_cost_rates
from strategies.ema_cross import SPEC, EmaCrossParams
from strategies.params import params_hash
from strategies.roster import STRATEGIES
from strategies.simulator import SimConfig
from strategies.version_config import VersionConfig
from stratops.cli import main
from tests import reference_stats as ref
from tests.chain_tamper import ceremony, identities
from tests.integration.postgres import fresh_database
from tests.unit.test_cli_consistency import colour_codes

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASET = REPO_ROOT / "data" / "datasets" / "nse_index_1m.parquet"
SIGNALS = ("long_entry", "long_exit", "short_entry", "short_exit")
WF = WalkForwardSpec(scheme="rolling", train=10, test=5, unit="sessions", purge=1)
COMBOS = [EmaCrossParams(fast=f, slow=s) for f in (5, 9, 13) for s in (21, 30, 45)]


@dataclass(frozen=True)
class Candidate:
    """Everything one ``record`` call takes."""

    frame: pd.DataFrame  # both symbols, first sessions of the dataset
    report: WalkForwardReport
    verdict: GateVerdict
    lineage: Lineage
    artifacts_dir: Path
    model_config: VersionConfig
    input_example: pd.DataFrame

    def record(self, registry: ResearchRegistry) -> RegisteredVersion:
        return registry.record(self.report, self.verdict, self.lineage, self.artifacts_dir,
                               self.model_config, self.input_example)


def _frame() -> tuple[pd.DataFrame, str]:
    """Six weeks of both indices: the built dataset, or the synthetic one if not built."""
    end = pd.Timestamp("2025-02-15", tz="Asia/Kolkata")
    if DATASET.exists():
        frame = pd.read_parquet(DATASET, filters=[("ts", "<", end)])
        return frame, hashlib.md5(DATASET.read_bytes()).hexdigest()
    frame, _ = generate_nse_index_bars(start=date(2025, 1, 1), end=date(2025, 2, 14), seed=3)
    return frame, "synthetic"


def _artifacts(root: Path, report: WalkForwardReport, verdict: GateVerdict) -> Path:
    root.mkdir(parents=True)
    (root / "verdict.json").write_text(json.dumps(verdict.to_dict(), default=str))
    report.oos_trades.to_csv(root / "oos_trades.csv", index=False)
    (root / "plots").mkdir()
    report.oos_equity.to_csv(root / "plots" / "equity.csv")
    return root


def build_candidate(tmp_path_factory: pytest.TempPathFactory) -> Candidate:
    """The ``candidate`` fixture's value (tests/integration/conftest.py: once per worker,
    shared by the registry and governance modules)."""
    frame, md5 = _frame()
    nifty = frame[frame["symbol"] == "NIFTY"].reset_index(drop=True)
    bars = bars_from_frame(nifty, symbol="NIFTY", venue="NSE")
    config = SimConfig(lot_size=75, stop_points=25, costs=load_cost_rates(on=date(2025, 1, 1)))
    report = run_walk_forward(SPEC, bars, config, WF, combos=COMBOS, pbo_splits=4)
    verdict = load_gates(REPO_ROOT / "gates.yaml", set(STRATEGIES)).evaluate(
        report.strategy, report.metrics)
    chosen = report.chosen_params()
    lineage = Lineage(
        strategy=report.strategy, dataset="nse_index_1m", dataset_md5=md5, symbol="NIFTY",
        code_revision=code_revision(REPO_ROOT), strategies_source_hash=strategies_source_hash(),
        params_hash=params_hash(SPEC.make_params(**chosen)), params=chosen,
        feature_set_version="1", feature_key="test-features", gates_digest=verdict.gates_digest,
        verdict_digest=verdict.digest(), verdict_passed=verdict.passed)
    model_config = VersionConfig.from_json(
        {"strategy": report.strategy, "params": chosen, "venue": "NSE", "cutoff": "venue",
         "symbols": ["NIFTY"], "sim": {"lot_size": 75}})
    return Candidate(frame, report, verdict, lineage,
                     _artifacts(tmp_path_factory.mktemp("report") / "out", report, verdict),
                     model_config, nifty.loc[:4, list(frame.columns)])


def _sqlite_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResearchRegistry, str]:
    root = tmp_path_factory.mktemp("store")
    uri = _sqlite_uri(root)
    return ResearchRegistry(uri, root / "mlflow" / "artifacts"), uri


@pytest.fixture(scope="module")
def recorded(sqlite_store: tuple[ResearchRegistry, str],
             candidate: Candidate) -> RegisteredVersion:
    return candidate.record(sqlite_store[0])


def _versions(registry: ResearchRegistry, strategy: str) -> list[Any]:
    return list(registry.client.search_model_versions(f"name = '{strategy}'"))


def _predict_equals_strategy(model: Any, candidate: Candidate) -> None:
    chosen = SPEC.make_params(**candidate.report.chosen_params())
    frame = candidate.frame[candidate.frame["ts"] >= pd.Timestamp("2025-02-10",
                                                                  tz="Asia/Kolkata")]
    out = model.predict(frame)
    assert list(out.columns) == ["ts", "symbol", *SIGNALS]
    assert out["symbol"].tolist() == frame["symbol"].tolist()
    for symbol in ("NIFTY", "BANKNIFTY"):
        rows = (frame["symbol"] == symbol).to_numpy()
        expected = SPEC.signals(bars_from_frame(frame, symbol=symbol, venue="NSE"), chosen)
        for name, values in zip(SIGNALS, expected.arrays(), strict=True):
            np.testing.assert_array_equal(out[name].to_numpy()[rows], values, err_msg=name)


def _same_metrics(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, nan_ok=True), key


# -- SQLite --------------------------------------------------------------------------------


def test_record_registers_version_one_with_lineage_tags(recorded: RegisteredVersion,
                                                        candidate: Candidate) -> None:
    key = candidate.lineage.candidate_key()
    assert (recorded.version, recorded.reused) == (1, False)
    assert recorded.model_uri == "models:/ema_cross/1"
    assert recorded.tags["stratops.candidate_key"] == key
    assert recorded.tags["stratops.run_id"] == recorded.run_id
    assert recorded.tags["stratops.gate_verdict"] == ("pass" if candidate.verdict.passed
                                                      else "fail")
    for name, value in candidate.lineage.tags().items():
        assert recorded.tags[name] == value


def test_record_again_reuses_the_version_and_creates_nothing(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
        candidate: Candidate) -> None:
    registry = sqlite_store[0]
    experiment = registry.client.get_experiment_by_name("ema_cross").experiment_id
    runs_before = len(registry.client.search_runs([experiment]))
    again = candidate.record(registry)
    assert (again.version, again.reused, again.run_id) == (1, True, recorded.run_id)
    assert len(_versions(registry, "ema_cross")) == 1
    assert len(registry.client.search_runs([experiment])) == runs_before


def test_record_logs_one_child_run_per_fold(sqlite_store: tuple[ResearchRegistry, str],
                                            recorded: RegisteredVersion,
                                            candidate: Candidate) -> None:
    client = sqlite_store[0].client
    parent = client.get_run(recorded.run_id)
    assert parent.info.run_name == "walk-forward nse_index_1m/NIFTY"
    assert parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{recorded.run_id}'")
    assert len(children) == len(candidate.report.folds)
    fold = candidate.report.folds[0]
    first = next(r for r in children if r.info.run_name == "fold 0")
    assert first.data.params["param.fast"] == str(fold.params["fast"])
    assert first.data.metrics["oos_trades"] == fold.oos_metrics["trades"]
    assert "is_sharpe" in first.data.metrics and "plateau" in first.data.metrics


def test_record_logs_params_and_every_artifact(sqlite_store: tuple[ResearchRegistry, str],
                                               recorded: RegisteredVersion,
                                               candidate: Candidate) -> None:
    client = sqlite_store[0].client
    params = client.get_run(recorded.run_id).data.params
    assert params["wf.train"] == "10" and params["wf.scheme"] == "rolling"
    assert params["param.slow"] == str(candidate.report.chosen_params()["slow"])
    listed = {a.path for a in client.list_artifacts(recorded.run_id)}
    listed |= {a.path for a in client.list_artifacts(recorded.run_id, "plots")}
    assert {"verdict.json", "oos_trades.csv", "plots/equity.csv"} <= listed


def test_run_metrics_give_back_the_report_and_the_same_verdict(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
        candidate: Candidate) -> None:
    assert not math.isfinite(candidate.report.metrics["oos_cost_share"])  # kept as a tag
    metrics = sqlite_store[0].run_metrics(recorded)
    _same_metrics(metrics, candidate.report.metrics)
    gates = load_gates(REPO_ROOT / "gates.yaml", set(STRATEGIES))
    assert gates.evaluate("ema_cross", metrics).digest() == candidate.verdict.digest()


@dataclass(frozen=True)
class Downloaded:
    """What a reader with only the MLflow store gets back for a version's run."""

    metrics: dict[str, float]
    tags: dict[str, str]
    trials: pd.DataFrame
    oos_returns: pd.Series


def _download(uri: str, version: RegisteredVersion, dest: Path) -> Downloaded:
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)  # MLflow alone
    run_id = client.get_model_version("ema_cross", str(version.version)).run_id
    run = client.get_run(run_id)
    folder = Path(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="overfitting", dst_path=str(dest), tracking_uri=uri))
    return Downloaded(dict(run.data.metrics), dict(run.data.tags),
                      pd.read_parquet(folder / "trials.parquet"),
                      pd.read_parquet(folder / "oos_returns.parquet")["oos_return"])


@pytest.fixture(scope="module")
def downloaded(sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
               tmp_path_factory: pytest.TempPathFactory) -> Downloaded:
    return _download(sqlite_store[1], recorded, tmp_path_factory.mktemp("download"))


def test_record_dsr_inputs_recompute_the_recorded_dsr(downloaded: Downloaded) -> None:
    m = downloaded.metrics
    expected = ref.dsr(m["dsr.sr"], m["dsr.skew"], m["dsr.kurtosis_raw"], int(m["dsr.t"]),
                       int(m["dsr.n_trials"]), m["dsr.var_trial_sr"])
    assert m["dsr_probability"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_record_oos_returns_artifact_gives_the_recorded_dsr_moments(
        downloaded: Downloaded) -> None:
    sr, skew, kurtosis_raw, t = ref.moments(downloaded.oos_returns.to_numpy())
    m = downloaded.metrics
    assert (m["dsr.sr"], m["dsr.skew"], m["dsr.kurtosis_raw"]) == pytest.approx(
        (sr, skew, kurtosis_raw), rel=1e-9)
    assert m["dsr.t"] == t


def test_record_trials_artifact_gives_the_recorded_trial_count_and_variance(
        downloaded: Downloaded, candidate: Candidate) -> None:
    assert downloaded.trials.shape == (len(downloaded.oos_returns), len(COMBOS))
    sharpes = ref.trial_sharpes(downloaded.trials.to_numpy())
    assert downloaded.metrics["dsr.n_trials"] == len(sharpes)
    assert downloaded.metrics["dsr.var_trial_sr"] == pytest.approx(
        float(np.var(sharpes, ddof=1)), rel=1e-9)


def test_record_trials_artifact_recomputes_pbo_at_every_recorded_block_count(
        downloaded: Downloaded) -> None:
    recorded = {int(k.removeprefix("pbo.s")): v for k, v in downloaded.metrics.items()
                if k.startswith("pbo.s") and k.removeprefix("pbo.s").isdigit()}
    perf = downloaded.trials.to_numpy()
    assert sorted(recorded) == [s for s in (4, 8, 10, 12, 16) if s <= len(perf)]  # 4 gated
    for n_splits, value in recorded.items():
        assert value == pytest.approx(ref.pbo(perf, n_splits), abs=1e-12), n_splits
    assert downloaded.metrics["pbo"] == recorded[int(downloaded.metrics["pbo.n_splits"])]


def test_record_tags_the_pbo_block_convention(downloaded: Downloaded) -> None:
    assert "floor(k*T/S)" in downloaded.tags["stratops.pbo.blocks"]


def test_registered_model_uri_predicts_like_the_strategy(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
        candidate: Candidate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_store[1])
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", sqlite_store[1])
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    model = mlflow.pyfunc.load_model(recorded.model_uri)
    _predict_equals_strategy(model, candidate)


def test_registry_load_model_by_alias_predicts_like_the_strategy(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
        candidate: Candidate) -> None:
    registry = sqlite_store[0]
    registry.client.set_registered_model_alias("ema_cross", "shadow", "1")
    assert registry.get_version("ema_cross", "@shadow").version == 1
    assert registry.get_version("ema_cross", "latest").run_id == recorded.run_id
    _predict_equals_strategy(registry.load_model("ema_cross", "@shadow"), candidate)


@pytest.mark.parametrize(("strategy", "ref", "message"), [
    ("atr_reversal", "1", "'atr_reversal'"),
    ("ema_cross", "7", "no version '7' of registered model 'ema_cross'"),
    ("ema_cross", "@live", "'@live'"),
    ("ema_cross", "newest", "'newest'"),
])
def test_get_version_unknown_reference_raises_registry_error(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
        strategy: str, ref: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        sqlite_store[0].get_version(strategy, ref)


def test_registry_leaves_mlflow_global_uris_alone(tmp_path: Path, candidate: Candidate,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri(),
              os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
    registry = ResearchRegistry(_sqlite_uri(tmp_path / "own"), tmp_path / "own" / "artifacts")
    version = candidate.record(registry)
    registry.load_model("ema_cross", version.version)
    after = (mlflow.get_tracking_uri(), mlflow.get_registry_uri(),
             os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own"]  # no ./mlruns, ./mlflow.db


def test_load_model_refuses_tampered_artifacts(tmp_path: Path, candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    version = candidate.record(registry)
    source = registry.client.get_model_version_download_uri("ema_cross", "1")
    code = Path(mlflow.artifacts.download_artifacts(source)) / "pyfunc_model.py"
    code.write_text(code.read_text() + "\nprint('injected')\n")
    with pytest.raises(RegistryError, match="digest"):
        registry.load_model("ema_cross", version.version)


def test_record_refuses_inputs_of_another_candidate(tmp_path: Path,
                                                    candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    wrong = replace(candidate, lineage=replace(candidate.lineage, symbol="BANKNIFTY"))
    with pytest.raises(RecordInputError, match=r"report\.symbol 'NIFTY' != lineage 'BANKNIFTY'"):
        wrong.record(registry)
    assert registry.client.get_experiment_by_name("ema_cross") is None


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture()
def postgres_uri() -> Iterator[str]:
    """A fresh database on the real server, dropped afterwards."""
    yield from fresh_database("stratops_test")


@pytest.mark.services
def test_postgres_record_reuse_and_load(postgres_uri: str, tmp_path: Path,
                                        candidate: Candidate,
                                        sqlite_store: tuple[ResearchRegistry, str],
                                        recorded: RegisteredVersion) -> None:
    registry = ResearchRegistry(postgres_uri, tmp_path / "artifacts")
    first = candidate.record(registry)
    again = candidate.record(registry)
    assert (first.version, first.reused, again.version, again.reused) == (1, False, 1, True)
    assert first.run_id != recorded.run_id  # its own store, not the SQLite one
    assert len(_versions(registry, "ema_cross")) == 1
    assert registry.client.get_model_version("ema_cross", "1").tags[
        "stratops.candidate_key"] == candidate.lineage.candidate_key()
    _same_metrics(registry.run_metrics(first), candidate.report.metrics)
    _predict_equals_strategy(registry.load_model("ema_cross", "latest"), candidate)
    with psycopg2.connect(postgres_uri) as conn, conn.cursor() as cur:  # really in PostgreSQL
        cur.execute("SELECT count(*) FROM model_versions WHERE name = 'ema_cross'")
        assert cur.fetchone() == (1,)
    conn.close()
    assert len(_versions(sqlite_store[0], "ema_cross")) == 1  # the SQLite store untouched
    assert sqlite_store[0].get_version("ema_cross", 1).run_id == recorded.run_id


# -- the live load path: the version's config as data, never its code ----------------------


def _model_dir(registry: ResearchRegistry, version: int) -> Path:
    """The stored artifacts of ``version`` (the local artifact store itself, not a copy)."""
    source = registry.client.get_model_version_download_uri("ema_cross", str(version))
    return Path(mlflow.artifacts.download_artifacts(source))


def _fix_digest_tag(registry: ResearchRegistry, version: int) -> None:
    """What an attacker with registry edit rights can do after editing the artifacts."""
    registry.client.set_model_version_tag("ema_cross", str(version), MODEL_DIGEST_TAG,
                                          model_digest(_model_dir(registry, version)))


def test_load_config_returns_the_registered_config_as_data(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
        candidate: Candidate) -> None:
    config = sqlite_store[0].load_config("ema_cross", recorded.version)
    assert config == candidate.model_config


def test_load_candidates_edited_pyfunc_code_never_runs_and_is_refused(
        tmp_path: Path, candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    version = candidate.record(registry).version
    marker = tmp_path / "marker"
    code = _model_dir(registry, version) / "pyfunc_model.py"
    code.write_text(code.read_text()
                    + f"\n__import__('pathlib').Path({str(marker)!r}).write_text('ran')\n")
    _fix_digest_tag(registry, version)
    loaded, refused = load_candidates(registry, ["ema_cross"])
    assert not marker.exists()
    assert loaded == []
    assert [r.strategy for r in refused] == ["ema_cross"]
    assert "pyfunc_model.py differs from the installed" in refused[0].reason


def test_load_candidates_untouched_version_loads_as_data(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion,
        candidate: Candidate) -> None:
    (deployed,), refused = load_candidates(sqlite_store[0], ["ema_cross"])
    assert refused == []
    assert deployed.params == SPEC.make_params(**candidate.report.chosen_params())
    assert (deployed.version, deployed.symbols, deployed.capital_fraction) == (1, ("NIFTY",), 0.0)


def test_load_config_source_hash_other_than_installed_is_refused(
        tmp_path: Path, candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    version = candidate.record(registry).version
    registry.client.set_model_version_tag("ema_cross", str(version),
                                          "stratops.strategies_source_hash", "0" * 64)
    with pytest.raises(RegistryError, match="recorded strategies_source_hash '0000"):
        registry.load_config("ema_cross", version)


def test_load_config_approved_source_hash_other_than_installed_is_refused(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion) -> None:
    with pytest.raises(RegistryError, match=r"approved strategies_source_hash 'f+'"):
        sqlite_store[0].load_config("ema_cross", recorded.version,
                                    expected_source_hash="f" * 64)


def test_load_config_approved_digest_mismatch_is_refused(
        sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion) -> None:
    with pytest.raises(RegistryError, match=r"artifacts digest .* != approved 0+"):
        sqlite_store[0].load_config("ema_cross", recorded.version, expected_digest="0" * 64)


def test_load_config_unknown_config_key_is_refused(tmp_path: Path,
                                                   candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    version = candidate.record(registry).version
    mlmodel = _model_dir(registry, version) / "MLmodel"
    meta = yaml.safe_load(mlmodel.read_text())
    meta["flavors"]["python_function"]["config"]["hook"] = "os.system"
    mlmodel.write_text(yaml.safe_dump(meta))
    _fix_digest_tag(registry, version)
    with pytest.raises(RegistryError, match=r"unknown keys \['hook'\]"):
        registry.load_config("ema_cross", version)


@pytest.mark.parametrize("strategy", ["../ema_cross", "ema_cross'", "EMA"])
def test_get_version_traversal_or_quoted_name_is_refused(
        sqlite_store: tuple[ResearchRegistry, str], strategy: str) -> None:
    with pytest.raises(RegistryError, match="is not valid"):
        sqlite_store[0].get_version(strategy, "1")


# -- a remote tracking server (mlflow-artifacts:) ------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real ``mlflow server`` on a loopback port: SQLite backend, proxied artifact store
    (``--serve-artifacts --artifacts-destination``). Yields its URL and that store's folder."""
    root = tmp_path_factory.mktemp("server")
    served = root / "served"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server",
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--serve-artifacts", "--artifacts-destination", str(served),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("mlflow server did not start:\n"
                                     + (root / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url, served
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: our own group
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_remote_server_version_recorded_on_one_host_loads_as_data_on_another(
        tracking_server: tuple[str, Path], candidate: Candidate, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = tracking_server
    writer_host, reader_host = tmp_path / "research-host", tmp_path / "runner-host"
    writer_host.mkdir()
    reader_host.mkdir()
    monkeypatch.chdir(writer_host)
    writer = ResearchRegistry(url, "mlflow-artifacts:/stratops")
    version = candidate.record(writer)
    location = writer.client.get_experiment_by_name("ema_cross").artifact_location
    assert location == "mlflow-artifacts:/stratops/ema_cross"

    monkeypatch.chdir(reader_host)  # another host: its own empty folder, only the URL
    reader = ResearchRegistry(url, "mlflow-artifacts:/stratops", create=False)
    config = reader.load_config("ema_cross", version.version)

    assert config == candidate.model_config
    assert reader.get_version("ema_cross", "latest").version == version.version
    assert list(writer_host.iterdir()) == [] and list(reader_host.iterdir()) == []
    assert list((served / "stratops" / "ema_cross").rglob("MLmodel"))  # on the server


def test_proxied_artifact_root_with_a_local_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"proxied store.*not http\(s\)://"):
        ResearchRegistry(_sqlite_uri(tmp_path), "mlflow-artifacts:/stratops")


def test_reader_registry_missing_sqlite_store_is_refused_and_not_created(
        tmp_path: Path) -> None:
    reader = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts", create=False)
    with pytest.raises(RegistryError, match=r"no MLflow store at .*mlflow\.db: nothing has"):
        reader.get_version("ema_cross", "latest")
    assert list(tmp_path.iterdir()) == []


# -- the CLI's version syntax on a real store ----------------------------------------------


@pytest.fixture()
def cli_desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             sqlite_store: tuple[ResearchRegistry, str], recorded: RegisteredVersion) -> Path:
    """A project whose MLflow store holds the recorded version v1, aliased ``candidate``;
    a quant and a risk officer through the trust ceremony."""
    sqlite_store[0].client.set_registered_model_alias("ema_cross", "candidate",
                                                      str(recorded.version))
    people = identities(tmp_path, {"alice": ["quant"], "carol": ["risk_officer"]})
    for name in ("gates.yaml", "policy.yaml", "risk.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "stratops.yaml").write_text(yaml.safe_dump({
        "mlflow_tracking_uri": sqlite_store[1],
        "governance": {"keys_dir": str(people.keys_dir)}}))
    ceremony(tmp_path, people.keys_dir)
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    monkeypatch.delenv("STRATOPS_USER", raising=False)
    return tmp_path


@pytest.mark.parametrize("argv", [["ema_cross@1"], ["ema_cross", "1"], ["ema_cross@candidate"],
                                  ["ema_cross", "candidate"], ["ema_cross", "@candidate"],
                                  ["ema_cross@latest"]])
def test_gate_check_json_every_version_form_names_the_same_version(
        cli_desk: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code = main(["gate", "check", *argv, "--json"])
    checked = json.loads(capsys.readouterr().out)
    assert (checked["strategy"], checked["version"]) == ("ema_cross", 1)
    assert checked["model_uri"] == "models:/ema_cross/1"
    assert code == (0 if checked["passed"] else 1)
    assert {"check", "metric", "value", "threshold", "passed"} <= set(checked["checks"][0])


def test_gate_check_table_with_no_color_has_no_colour_codes(cli_desk: Path) -> None:
    def table(**env: str) -> str:
        environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        environ |= {"PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200", **env}
        proc = subprocess.run([sys.executable, "-m", "stratops.cli", "gate", "check",
                               "ema_cross@1"], cwd=cli_desk, env=environ, text=True,
                              capture_output=True, timeout=300)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.stdout

    coloured, plain = table(FORCE_COLOR="1"), table(FORCE_COLOR="1", NO_COLOR="1")
    assert colour_codes(coloured)  # the control: FORCE_COLOR alone colours pass/FAIL
    assert "Gates of models:/ema_cross/1" in plain and colour_codes(plain) == []


@pytest.mark.parametrize("argv", [["ema_cross@candidate"], ["ema_cross", "1"]])
def test_promote_request_version_forms_judge_the_same_version(
        cli_desk: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code = main(["promote", "request", *argv, "--to", "shadow", "--reason", "try it",
                 "--as", "alice"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1  # refused (and audited) on its merits: it is v1 that was judged
    assert "promotion_request refused" in out
    assert "ema_cross v1 failed its gates at registration" in out
