"""The per-symbol ensemble as a registered version: ``ensemble_<symbol>`` in MLflow, gated by
the same ``gates.yaml`` (its own PBO and stability), with its lineage, members, resolver and
trial matrix; promotion re-checks its members against the manifest the approval signs."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from pipelines.research.ensemble_record import (
    MANIFEST,
    EnsembleRecordError,
    ensemble_name,
    record_ensemble,
)
from pipelines.research.ensemble_study import EnsembleStudy, study_ensemble
from pipelines.research.gates import load_gates
from pipelines.research.lineage import Lineage
from pipelines.research.registry import (
    MODEL_DIGEST_TAG,
    OVERFITTING_DIR,
    TRIALS_FILE,
    RecordInputError,
    ResearchRegistry,
)
from strategies.ensemble_version import KIND_TAG, MEMBERS_TAG, RESOLVER_TAG
from strategies.params import params_hash
from tests.confidence_stubs import CONFIG, SETTINGS, bars, member
from tests.integration.test_governance import Desk, _refused
from tests.integration.test_registry import Candidate, _sqlite_uri

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _members() -> list:
    return [member("ema_cross"), member("range_breakout")]


@functools.cache
def _study() -> EnsembleStudy:
    return study_ensemble(_members(), bars(), CONFIG, ("range_breakout",), SETTINGS,
                          load_gates(REPO / "gates.yaml"))


def _record(registry: ResearchRegistry, root: Path) -> tuple:
    return record_ensemble(registry, _study(), _members(), resolver="priority",
                           order=("range_breakout",), dataset="nse_index_1m",
                           dataset_md5="md5", feature_set_version="1", feature_key="fk",
                           gates=load_gates(REPO / "gates.yaml"), root=root)


def test_ensemble_is_registered_gated_with_lineage_and_trials(tmp_path: Path) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    version, verdict = _record(registry, REPO)
    name = ensemble_name(_study().symbol)
    assert name == "ensemble_nifty" and version.strategy == name and not version.reused
    tags = version.tags
    assert tags[KIND_TAG] == "ensemble" and tags[RESOLVER_TAG] == "priority"
    # no member version registered in this store: recorded as such (never promotable)
    assert tags[MEMBERS_TAG] == "ema_cross:unregistered,range_breakout:unregistered"
    # every stream loses on the stub: recorded as failed, on every check it fails
    assert not verdict.passed and tags["stratops.gate_verdict"] == "fail"
    assert "min_oos_sharpe" in [c.name for c in verdict.checks if not c.passed]
    metrics = registry.run_metrics(version)  # what promotion re-checks the gates on
    assert metrics["pbo"] == _study().metrics["ensemble.pbo"]
    assert metrics["stability"] == _study().metrics["ensemble.stability"]
    assert metrics["oos_sharpe"] == _study().metrics["ensemble.priority.oos_sharpe"]
    assert load_gates(REPO / "gates.yaml").evaluate(name, metrics).passed == verdict.passed
    # the model files are data: the manifest, covered by the recomputed digest
    assert registry.artifact_digest(name, version.version) == tags[MODEL_DIGEST_TAG]
    source = registry.client.get_model_version_download_uri(name, str(version.version))
    manifest = json.loads((Path(mlflow.artifacts.download_artifacts(source)) / MANIFEST)
                          .read_text())
    assert manifest["resolver"] == "priority" and manifest["priority"] == ["range_breakout"]
    assert [m["strategy"] for m in manifest["members"]] == ["ema_cross", "range_breakout"]
    trials = pd.read_parquet(mlflow.artifacts.download_artifacts(
        run_id=version.run_id, artifact_path=f"{OVERFITTING_DIR}/{TRIALS_FILE}",
        tracking_uri=_sqlite_uri(tmp_path)))
    pd.testing.assert_frame_equal(trials, _study().trials, check_freq=False)
    again, _ = _record(registry, REPO)
    assert again.reused and again.version == version.version


def test_member_versions_and_digests_are_recorded(tmp_path: Path) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    for m in _members():
        registry.client.create_registered_model(m.spec.name)
        phash = params_hash(m.spec.params_cls(**m.report.chosen_params()))
        for symbol in ("NIFTY", "BANKNIFTY"):  # only the studied symbol's version counts
            registry.client.create_model_version(
                m.spec.name, source=str(tmp_path), tags={
                    "stratops.params_hash": phash, "stratops.dataset": "nse_index_1m",
                    "stratops.symbol": symbol, MODEL_DIGEST_TAG: f"d-{m.spec.name}-{symbol}"})
    version, _ = _record(registry, REPO)
    assert version.tags[MEMBERS_TAG] == \
        "ema_cross:1:d-ema_cross-NIFTY,range_breakout:1:d-range_breakout-NIFTY"


def _ensemble(desk: Desk, members: str, passed: bool = True) -> int:
    """An ensemble version in the desk's registry over ``members`` (its lenient or strict
    verdict from the first ema_cross version's metrics)."""
    gates = load_gates(desk.root / "gates.yaml" if passed else REPO / "gates.yaml")
    ema = desk.registry.get_version("ema_cross", desk.versions[0])
    metrics = desk.registry.run_metrics(ema)
    verdict = gates.evaluate("ensemble_nifty", metrics)
    lineage = Lineage(
        strategy="ensemble_nifty", dataset="nse_index_1m", dataset_md5="md5", symbol="NIFTY",
        code_revision="0" * 40, strategies_source_hash="s", params_hash=members,
        params={"members": members}, feature_set_version="1", feature_key="fk",
        gates_digest=verdict.gates_digest, verdict_digest=verdict.digest(),
        verdict_passed=verdict.passed)
    folder = desk.root / f"ens-{len(list(desk.root.glob('ens-*')))}"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / MANIFEST).write_text(json.dumps({
        "kind": "ensemble", "symbol": "NIFTY", "resolver": "priority", "priority": [],
        "members": [{"strategy": e.split(":")[0],
                     "version": int(e.split(":")[1]) if e.split(":")[1].isdigit() else None,
                     "model_digest": e.split(":")[-1]} for e in members.split(",")]}))
    (folder / "artifacts").mkdir()
    (folder / "artifacts" / "notes.json").write_text("[]")
    return desk.registry.record_files(
        "ensemble_nifty", lineage, verdict, metrics, {}, {KIND_TAG: "ensemble",
                                                           RESOLVER_TAG: "priority",
                                                           MEMBERS_TAG: members},
        folder / "artifacts", folder / "model", "test ensemble").version


def test_promotion_rechecks_members_and_their_manifest(
        tmp_path: Path, candidate: Candidate) -> None:
    desk = Desk(tmp_path, candidate)
    desk.approve_configs()
    v1, _, v3 = desk.versions
    digest = {v: desk.registry.get_version("ema_cross", v).tags[MODEL_DIGEST_TAG]
              for v in (v1, v3)}

    def request(number: int) -> object:
        return lambda: desk.svc.request_promotion("ensemble_nifty", number, "shadow", "try",
                                                  desk.signer("alice"))

    cases = [
        (_ensemble(desk, f"ema_cross:{v1}:{digest[v1]}", passed=False),
         "failed its gates at registration"),
        (_ensemble(desk, "ema_cross:unregistered"), "no registered version"),
        (_ensemble(desk, f"ema_cross:{v3}:{digest[v3]}"),
         f"ensemble member ema_cross v{v3}: ema_cross v{v3} failed its gates"),
        (_ensemble(desk, f"ema_cross:{v1}:{'0' * 64}"), "model digest"),
        (_ensemble(desk, f"ema_cross:{v1}:{digest[v1]},range_breakout:9:{'f' * 64}"),
         "ensemble member range_breakout v9"),
    ]
    for number, reason in cases:
        _refused(desk, request(number), reason)
    assert "ensemble_nifty" not in {s for s, _ in desk.svc.deployments()}
    good = _ensemble(desk, f"ema_cross:{v1}:{digest[v1]}")
    desk.registry.client.set_model_version_tag(  # the tag now names v2: not what is recorded
        "ensemble_nifty", str(good), MEMBERS_TAG, f"ema_cross:{desk.versions[1]}:{digest[v1]}")
    _refused(desk, request(good), "contradicts the signed manifest's members")
    desk.registry.client.set_model_version_tag("ensemble_nifty", str(good), MEMBERS_TAG,
                                               f"ema_cross:{v1}:{digest[v1]}")
    row = request(good)()
    check = desk.svc.approve(row.ref, desk.signer("bob"))  # type: ignore[attr-defined]
    assert check.ok, check.problems
    assert check.snapshot["body"]["ensemble"]["members"] == [f"ema_cross:{v1}:{digest[v1]}"]


def test_lineage_must_describe_the_verdict(tmp_path: Path) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    verdict = load_gates(REPO / "gates.yaml").evaluate("ensemble_nifty", {})  # fails
    lineage = Lineage(
        strategy="ensemble_nifty", dataset="d", dataset_md5="m", symbol="NIFTY",
        code_revision="0" * 40, strategies_source_hash="s", params_hash="p", params={},
        feature_set_version="1", feature_key="f", gates_digest=verdict.gates_digest,
        verdict_digest=verdict.digest(), verdict_passed=True)
    with pytest.raises(RecordInputError, match="does not describe"):
        registry.record_files("ensemble_nifty", lineage, verdict, {}, {}, {}, tmp_path,
                              tmp_path, "x")
    with pytest.raises(RecordInputError, match="does not describe"):
        registry.record_files("ensemble_other", replace(lineage, verdict_passed=False),
                              verdict, {}, {}, {}, tmp_path, tmp_path, "x")


def test_a_gate_override_for_the_ensemble_is_refused(tmp_path: Path) -> None:
    gates = load_gates(REPO / "gates.yaml")
    loosened = replace(gates, overrides={"ensemble_nifty": {"min_stability": 0.0}})
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    with pytest.raises(EnsembleRecordError, match=r"strategies\.ensemble_nifty"):
        record_ensemble(registry, _study(), _members(), resolver="priority", order=(),
                        dataset="d", dataset_md5="m", feature_set_version="1",
                        feature_key="f", gates=loosened, root=REPO)
    with pytest.raises(EnsembleRecordError, match="independent"):
        record_ensemble(registry, _study(), _members(), resolver="independent", order=(),
                        dataset="d", dataset_md5="m", feature_set_version="1",
                        feature_key="f", gates=gates, root=REPO)
