"""The per-symbol ensemble as a registered version: registered model ``ensemble_<symbol>``,
gated by ``gates.yaml`` like any version (the study's PBO, stability, DSR and OOS metrics of
the chosen resolver), with its lineage (the dataset, code, gates and verdict, the members'
params), its members' registered versions and their model digests, the resolver and the
priority order, and the trial matrix its PBO and DSR came from.

The version's model files are one data file, ``ensemble.json`` (members, resolver, order):
nothing executable, and its SHA-256 is the version's ``model_digest``. A member with no
registered version of the same params, dataset and symbol is recorded as unregistered
(``<strategy>:unregistered``): such an ensemble can never be promoted
(:func:`strategies.ensemble_version.ensemble_member_problems`). Nothing here knows about
Dagster or the CLI.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.research.ensemble_study import ENSEMBLE, VARIANTS, EnsembleStudy, Member
from pipelines.research.gates import Gates, GateVerdict
from pipelines.research.lineage import (
    TAG_PREFIX,
    Lineage,
    code_revision,
    strategies_source_hash,
)
from pipelines.research.registry import (
    MODEL_DIGEST_TAG,
    OVERFITTING_DIR,
    TRIALS_FILE,
    RegisteredVersion,
    ResearchRegistry,
)
from strategies.ensemble_version import (
    ENSEMBLE_KIND,
    KIND_TAG,
    MANIFEST_FILE,
    MEMBERS_TAG,
    RESOLVER_TAG,
    UNREGISTERED,
)
from strategies.errors import BadInputError
from strategies.names import validate_name
from strategies.params import params_hash

MANIFEST = MANIFEST_FILE  # the one model file (strategies.ensemble_version reads it)
RESOLVERS = tuple(v for v in VARIANTS if v != "independent")


class EnsembleRecordError(BadInputError, ValueError):
    """An ensemble that cannot be recorded: an unknown resolver, a symbol that makes no
    registered model name."""


@dataclass(frozen=True, slots=True)
class MemberVersion:
    """One member: its chosen params and the registered version of them (None: none)."""

    strategy: str
    params: dict[str, Any]
    params_hash: str
    version: int | None
    model_digest: str | None

    def tag(self) -> str:
        if self.version is None:
            return f"{self.strategy}:{UNREGISTERED}"
        return f"{self.strategy}:{self.version}:{self.model_digest}"


def ensemble_name(symbol: str) -> str:
    """``ensemble_<symbol>``: the symbol lower-cased, other characters than [a-z0-9_] as
    ``_`` (refused when that makes no valid name)."""
    name = f"{ENSEMBLE}_{re.sub(r'[^a-z0-9_]', '_', symbol.lower())}"
    try:
        return validate_name(name, field="ensemble name")
    except ValueError as exc:
        raise EnsembleRecordError(f"symbol {symbol!r}: {exc}") from exc


def member_versions(registry: ResearchRegistry, members: Sequence[Member], dataset: str,
                    symbol: str) -> list[MemberVersion]:
    """Each member's latest registered version of its chosen params on ``dataset`` and
    ``symbol`` (a version the research pipeline registered from the same study)."""
    out = []
    for m in members:
        params = m.report.chosen_params()
        phash = params_hash(m.spec.params_cls(**params))
        found = registry.client.search_model_versions(
            filter_string=f"name = '{m.spec.name}' and "
                          f"tags.`{TAG_PREFIX}params_hash` = '{phash}' and "
                          f"tags.`{TAG_PREFIX}dataset` = '{dataset}' and "
                          f"tags.`{TAG_PREFIX}symbol` = '{symbol}'")
        latest = max(found, key=lambda mv: int(mv.version)) if found else None
        out.append(MemberVersion(
            m.spec.name, params, phash, None if latest is None else int(latest.version),
            None if latest is None else latest.tags.get(MODEL_DIGEST_TAG)))
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def record_ensemble(registry: ResearchRegistry, study: EnsembleStudy,
                    members: Sequence[Member], *, resolver: str, order: Sequence[str],
                    dataset: str, dataset_md5: str, feature_set_version: str,
                    feature_key: str, gates: Gates, root: Path
                    ) -> tuple[RegisteredVersion, GateVerdict]:
    """Gate the study's ``resolver`` variant and register it as a version of
    ``ensemble_<symbol>`` (or return the one already registered for the same candidate)."""
    if resolver not in RESOLVERS:
        raise EnsembleRecordError(f"resolver {resolver!r} is not one of {list(RESOLVERS)}")
    name = ensemble_name(study.symbol)
    if name in gates.overrides:
        raise EnsembleRecordError(f"gates.yaml strategies.{name}: an ensemble is judged by "
                                  "the defaults, the same gates as the study's; no override")
    summary = study.summaries[resolver]
    verdict = gates.evaluate(name, summary)
    versions = member_versions(registry, members, dataset, study.symbol)
    manifest = {"kind": ENSEMBLE, "symbol": study.symbol, "dataset": dataset,
                "resolver": resolver, "priority": list(order),
                "members": [asdict(v) for v in versions]}
    params = {"resolver": resolver, "priority": list(order),
              "members": {v.strategy: v.params for v in versions}}
    lineage = Lineage(
        strategy=name, dataset=dataset, dataset_md5=dataset_md5, symbol=study.symbol,
        code_revision=code_revision(root), strategies_source_hash=strategies_source_hash(),
        params_hash=hashlib.sha256(_canonical(params).encode()).hexdigest(), params=params,
        feature_set_version=feature_set_version, feature_key=feature_key,
        gates_digest=verdict.gates_digest, verdict_digest=verdict.digest(),
        verdict_passed=verdict.passed)
    tags = {KIND_TAG: ENSEMBLE_KIND, RESOLVER_TAG: resolver,
            MEMBERS_TAG: ",".join(v.tag() for v in versions)}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, artifacts = Path(tmp) / "model", Path(tmp) / "artifacts"
        model_dir.mkdir()
        (artifacts / OVERFITTING_DIR).mkdir(parents=True)
        (model_dir / MANIFEST).write_text(_canonical(manifest))
        study.trials.to_parquet(artifacts / OVERFITTING_DIR / TRIALS_FILE)
        (artifacts / "gate_verdict.json").write_text(_canonical(verdict.to_dict()))
        (artifacts / "notes.json").write_text(_canonical(study.notes))
        version = registry.record_files(
            name, lineage, verdict, {**study.metrics, **summary},
            {"resolver": resolver, "members": ",".join(study.strategies)}, tags, artifacts,
            model_dir, f"per-symbol ensemble of {study.symbol}: {', '.join(study.strategies)}")
    return version, verdict

