"""A version's enable matrix in the MLflow registry: written into the version's governance
folder (its manifest and the signed ``model_digest`` cover it), read back with the
classifier, a new candidate when it changes, refused without a classifier."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.research.registry import MODEL_DIGEST_TAG, RegistryError, ResearchRegistry
from strategies.enable_matrix import EnableMatrix, RegimeCell
from tests.integration.test_registry import Candidate, _sqlite_uri
from tests.regime_stubs import trained

pytestmark = pytest.mark.integration

MATRIX = EnableMatrix("ema_cross", {"chop": RegimeCell(False, 40, -0.001, -1.2, 0.88),
                                    "trend": RegimeCell(True, 35, 0.002, 2.4, 0.011)},
                      {"min_trades": 10.0, "min_mean_net_return": 0.0, "max_p_value": 0.1})


def _record(registry: ResearchRegistry, candidate: Candidate, matrix: EnableMatrix) -> int:
    folder, study = trained()
    version = registry.record(candidate.report, candidate.verdict, candidate.lineage,
                              candidate.artifacts_dir, candidate.model_config,
                              candidate.input_example, governance_dir=folder,
                              governance_metrics={**study.metrics(),
                                                  "matrix.final.trend.enabled": 1.0},
                              enable_matrix=matrix)
    return version.version


def test_recorded_matrix_loads_back_with_the_classifier(tmp_path: Path,
                                                        candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    number = _record(registry, candidate, MATRIX)
    version = registry.get_version("ema_cross", number)
    governance = registry.load_governance("ema_cross", number,
                                          expected_digest=version.tags[MODEL_DIGEST_TAG])
    assert governance is not None and governance.matrix == MATRIX
    assert registry.run_metrics(version)["matrix.final.trend.enabled"] == 1.0
    assert _record(registry, candidate, MATRIX) == number  # same candidate: reused
    other = replace(MATRIX, cells={**MATRIX.cells, "chop": RegimeCell(True, 40, 0.001, 2.0,
                                                                      0.02)})
    assert _record(registry, candidate, other) != number  # another matrix: a new version


def test_matrix_without_a_classifier_is_refused(tmp_path: Path,
                                                candidate: Candidate) -> None:
    registry = ResearchRegistry(_sqlite_uri(tmp_path), tmp_path / "artifacts")
    with pytest.raises(RegistryError, match="needs the regime classifier"):
        registry.record(candidate.report, candidate.verdict, candidate.lineage,
                        candidate.artifacts_dir, candidate.model_config,
                        candidate.input_example, enable_matrix=MATRIX)
