"""A version's confidence calibrator in the MLflow registry: stored inside the model files
(so ``model_digest`` covers it), loaded back by the runner's candidate path, part of the
candidate key, refused when altered."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from live.runner.deployments import load_candidates
from pipelines.research.registry import MODEL_DIGEST_TAG, RegistryError, ResearchRegistry
from strategies.confidence import CONFIDENCE_DIR, MODEL_FILE
from tests.confidence_stubs import confidence, confidence_copy, trained
from tests.integration.test_registry import Candidate, _sqlite_uri

pytestmark = pytest.mark.integration


def _record(tmp_path: Path, candidate: Candidate, folder: Path | None = None
            ) -> tuple[ResearchRegistry, int, bool]:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    path, study = trained()
    version = registry.record(candidate.report, candidate.verdict, candidate.lineage,
                              candidate.artifacts_dir, candidate.model_config,
                              candidate.input_example, governance_metrics=study.metrics,
                              confidence_dir=folder or path)
    return registry, version.version, version.reused


def test_recorded_calibrator_loads_back_and_is_deployed_with_the_candidate(
        tmp_path: Path, candidate: Candidate) -> None:
    registry, number, _ = _record(tmp_path, candidate)
    version = registry.get_version("ema_cross", number)
    loaded = registry.load_confidence("ema_cross", number,
                                      expected_digest=version.tags[MODEL_DIGEST_TAG])
    assert loaded is not None and loaded.digest == confidence().digest
    assert registry.run_metrics(version)["conf_brier"] == trained()[1].metrics["conf_brier"]
    (deployed,), refused = load_candidates(registry, ["ema_cross"])
    assert refused == [] and deployed.confidence is not None
    assert deployed.confidence.digest == confidence().digest


def test_altered_calibrator_in_the_store_is_refused_not_traded(
        tmp_path: Path, candidate: Candidate) -> None:
    registry, number, _ = _record(tmp_path, candidate)
    source = registry.client.get_model_version_download_uri("ema_cross", str(number))
    stored = Path(mlflow.artifacts.download_artifacts(source)) / CONFIDENCE_DIR / MODEL_FILE
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(RegistryError, match="digest"):
        registry.load_confidence("ema_cross", number)
    loaded, (refusal,) = load_candidates(registry, ["ema_cross"])
    assert loaded == [] and "digest" in refusal.reason


def test_version_without_a_calibrator_loads_none(tmp_path: Path, candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    version = candidate.record(registry)
    assert registry.load_confidence("ema_cross", version.version) is None


def test_same_calibrator_reuses_the_version(tmp_path: Path, candidate: Candidate) -> None:
    _, first, reused = _record(tmp_path, candidate)
    _, again, reused_again = _record(tmp_path, candidate, confidence_copy(tmp_path / "copy"))
    assert not reused and reused_again and again == first
