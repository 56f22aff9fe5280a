"""The study step behind the ``enable_matrix`` asset: which classifiers read each fold's
trades, and the nested enable-matrix study (:mod:`pipelines.research.enable_matrix`) of one
strategy on one dataset; nothing here knows about Dagster."""

from __future__ import annotations

from pathlib import Path

from pipelines.research import study
from pipelines.research.config import ResearchSettings
from pipelines.research.enable_matrix import MatrixStudy, study_enable_matrix
from pipelines.research.features import StoredFeatures
from pipelines.research.fold_trades import (
    FoldClassifiers,
    fold_classifiers,
    reference_classifiers,
)
from pipelines.research.gates import load_gates
from pipelines.research.regime_classifier import StoredRegimeModel, session_labels_per_bar
from pipelines.research.regimes import UNLABELLED
from pipelines.research.walk_forward import WalkForwardReport
from strategies.regime_model import SignalGovernance, load_governance
from strategies.roster import get_strategy


def classifiers_for(features: StoredFeatures, report: WalkForwardReport,
                    governance: SignalGovernance, research: ResearchSettings
                    ) -> FoldClassifiers:
    """A labelled dataset's trades are read by per-fold classifiers of the stored one's
    family fit on labels before each fold's test window; an unlabelled dataset's by the
    stored classifier (trained on the reference dataset, none of the studied bars)."""
    labels = session_labels_per_bar(features.frame["regime"].to_numpy())
    if (labels == UNLABELLED).all():
        return reference_classifiers(governance.model, report)
    settings = research.regime
    return fold_classifiers(features.bars(), labels, report,
                            kind=str(governance.meta.get("estimator", settings.candidates[0])),
                            seed=settings.seed, stride=settings.train_stride)


def enable_matrix(root: Path, dataset: str, features: StoredFeatures,
                  report: WalkForwardReport, stored: StoredRegimeModel,
                  research: ResearchSettings, gates_file: Path) -> MatrixStudy:
    """The nested enable-matrix study of ``report``'s strategy on ``dataset``."""
    governance = load_governance(stored.path)
    bars = features.bars()
    return study_enable_matrix(
        get_strategy(report.strategy), bars, study.sim_config(root, dataset, bars, research),
        report, classifiers_for(features, report, governance, research), governance.model,
        load_gates(gates_file).matrix, combos=study.candidate_params(report.strategy, research),
        select=research.select)
