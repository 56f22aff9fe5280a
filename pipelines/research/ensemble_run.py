"""The ensemble study of one dataset's symbol from its stored features: each strategy's
walk-forward, its fold trade table (regimes read by the dataset's classifier, as the enable
matrix reads them) and :func:`pipelines.research.ensemble_study.study_ensemble`; called by
``stratops research ensemble`` (with ``--record``, the chosen resolver's variant registered
as a version: :mod:`pipelines.research.ensemble_record`). Nothing here knows about
Dagster or the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.research import study
from pipelines.research.confidence_study import confidence_fold_table
from pipelines.research.config import ResearchSettings
from pipelines.research.ensemble_record import RESOLVERS, EnsembleRecordError, record_ensemble
from pipelines.research.ensemble_study import (
    EnsembleStudy,
    EnsembleStudyError,
    Member,
    study_ensemble,
)
from pipelines.research.features import FEATURE_SET_VERSION
from pipelines.research.gates import GateVerdict, load_gates
from pipelines.research.regime_study import not_applicable, regime_model
from pipelines.research.registry import RegisteredVersion, ResearchRegistry
from strategies.roster import get_strategy


@dataclass(frozen=True, slots=True)
class EnsembleRun:
    """The study and, when recorded, the registered ensemble version and its verdict."""

    study: EnsembleStudy
    version: RegisteredVersion | None = None
    verdict: GateVerdict | None = None


def run_ensemble(root: Path, dataset: str, strategies: Sequence[str],
                 research: ResearchSettings, gates_file: Path, order: Sequence[str],
                 progress: Callable[[str], None] | None = None,
                 registry: ResearchRegistry | None = None,
                 resolver: str = "priority") -> EnsembleRun:
    """Walk each strategy forward on ``dataset`` and study their ensemble; with
    ``registry``, gate the ``resolver`` variant and register it as a version of
    ``ensemble_<symbol>`` (refused before any work: fewer than two distinct strategies, an
    unknown one, an unknown resolver)."""
    if resolver not in RESOLVERS:
        raise EnsembleRecordError(f"--resolver: {resolver!r} is not one of {list(RESOLVERS)}")
    names = list(dict.fromkeys(strategies))
    if len(names) < 2:
        raise EnsembleStudyError(f"--strategy: an ensemble needs two strategies or more, "
                                 f"got {names}")
    for name in [*names, *order]:
        get_strategy(name)  # UnknownStrategyError names it
    features = study.build_features(root, dataset, research)
    skipped = not_applicable(root, dataset, features, research)
    stored = None if skipped is not None else regime_model(root, dataset, features,
                                                          research, gates_file)
    bars = features.bars()
    config = study.sim_config(root, dataset, bars, research)
    members = []
    for name in names:
        if progress is not None:
            progress(f"{name}: walk-forward on {dataset}")
        report = study.walk_forward(root, dataset, name, features, research)
        table = confidence_fold_table(features, report, config, stored, research)
        members.append(Member(get_strategy(name), report, table))
    gates = load_gates(gates_file)
    found = study_ensemble(members, bars, config, order, research.confidence, gates,
                           pbo_splits=research.pbo_splits,
                           pbo_spread=research.pbo_spread_splits)
    if registry is None:
        return EnsembleRun(found)
    version, verdict = record_ensemble(
        registry, found, members, resolver=resolver, order=order, dataset=dataset,
        dataset_md5=features.key.dataset_md5, feature_set_version=FEATURE_SET_VERSION,
        feature_key=features.key.digest, gates=gates, root=root)
    return EnsembleRun(found, version, verdict)
