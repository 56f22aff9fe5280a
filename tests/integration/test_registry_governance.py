"""A version's signal governance artifacts in the MLflow registry: stored inside the model
files (so ``model_digest`` covers them), read back digest-checked, refused when altered."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from live.runner.deployments import load_candidates
from pipelines.research.registry import MODEL_DIGEST_TAG, RegistryError, ResearchRegistry
from strategies.regime_model import GOVERNANCE_DIR, MANIFEST, REFERENCE_FILE
from tests.integration.test_registry import Candidate, _sqlite_uri
from tests.regime_stubs import governance_copy, trained

pytestmark = pytest.mark.integration


def _record(tmp_path: Path, candidate: Candidate) -> tuple[ResearchRegistry, int]:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    folder, study = trained()
    version = registry.record(candidate.report, candidate.verdict, candidate.lineage,
                              candidate.artifacts_dir, candidate.model_config,
                              candidate.input_example, governance_dir=folder,
                              governance_metrics=study.metrics())
    return registry, version.version


def test_recorded_governance_loads_back_and_its_metrics_are_on_the_run(
        tmp_path: Path, candidate: Candidate) -> None:
    registry, number = _record(tmp_path, candidate)
    version = registry.get_version("ema_cross", number)
    governance = registry.load_governance("ema_cross", number,
                                          expected_digest=version.tags[MODEL_DIGEST_TAG])
    assert governance is not None
    assert governance.meta["estimator"] == trained()[1].chosen
    metrics = registry.run_metrics(version)
    assert metrics["regime_bacc"] == trained()[1].metrics()["regime_bacc"]


def test_altered_drift_reference_in_the_store_fails_the_model_digest(
        tmp_path: Path, candidate: Candidate) -> None:
    registry, number = _record(tmp_path, candidate)
    source = registry.client.get_model_version_download_uri("ema_cross", str(number))
    folder = Path(mlflow.artifacts.download_artifacts(source)) / GOVERNANCE_DIR
    assert (folder / MANIFEST).is_file()
    reference = folder / REFERENCE_FILE
    reference.write_text(reference.read_text().replace("0.1", "0.3", 1))
    with pytest.raises(RegistryError, match="digest"):
        registry.load_governance("ema_cross", number)


def test_version_without_governance_loads_none(tmp_path: Path, candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    version = candidate.record(registry)
    assert registry.load_governance("ema_cross", version.version) is None


def test_candidate_with_a_broken_classifier_is_refused_not_traded(
        tmp_path: Path, candidate: Candidate) -> None:
    registry, number = _record(tmp_path, candidate)
    source = registry.client.get_model_version_download_uri("ema_cross", str(number))
    folder = Path(mlflow.artifacts.download_artifacts(source)) / GOVERNANCE_DIR
    (folder / REFERENCE_FILE).unlink()
    loaded, (refusal,) = load_candidates(registry, ["ema_cross"])
    assert loaded == [] and "digest" in refusal.reason


def test_candidate_with_governance_is_deployed_with_its_classifier(
        tmp_path: Path, candidate: Candidate) -> None:
    registry, _ = _record(tmp_path, candidate)
    (deployed,), refused = load_candidates(registry, ["ema_cross"])
    assert refused == [] and deployed.governance is not None
    assert deployed.governance.model.classes == tuple(sorted(deployed.governance.model.classes))


def test_same_governance_reuses_the_version_and_a_retrained_one_registers_anew(
        tmp_path: Path, candidate: Candidate) -> None:
    registry, number = _record(tmp_path, candidate)
    again = registry.record(candidate.report, candidate.verdict, candidate.lineage,
                            candidate.artifacts_dir, candidate.model_config,
                            candidate.input_example, governance_dir=trained()[0])
    assert again.reused and again.version == number
    retrained = governance_copy(tmp_path)
    manifest = json.loads((retrained / MANIFEST).read_text())
    manifest["meta"]["seed"] = 1  # another training run: another manifest digest
    (retrained / MANIFEST).write_text(json.dumps(manifest))
    other = registry.record(candidate.report, candidate.verdict, candidate.lineage,
                            candidate.artifacts_dir, candidate.model_config,
                            candidate.input_example, governance_dir=retrained)
    assert not other.reused and other.version == number + 1
