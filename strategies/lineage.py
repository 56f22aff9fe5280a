"""Lineage of a strategy version: which data, code, params, features and gates produced it -
and its codec to and from the registered version's MLflow tags (``stratops.*``).

Research writes the tags (:meth:`Lineage.tags`) and hashes the fields that define a
candidate (:meth:`Lineage.candidate_key`); governance reads them back typed
(:meth:`VersionLineage.from_tags`). Pure data (the git revision is computed by the research
side, :func:`pipelines.research.lineage.code_revision`); ``strategies_source_hash`` hashes
this package's own files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

TAG_PREFIX = "stratops."

# Fields of Lineage that define a candidate (the strategy is the registered model's name).
CANDIDATE_FIELDS = ("dataset_md5", "symbol", "code_revision", "strategies_source_hash",
                    "params_hash", "feature_key", "gates_digest", "verdict_digest")


def strategies_source_hash(package_dir: Path | None = None) -> str:
    """SHA-256 over the sorted ``strategies/*.py`` and ``strategies/cost_schedules/*.yaml``
    (names and contents): the code that computes signals, costs and fills."""
    if package_dir is None:
        import strategies

        package_dir = Path(strategies.__file__).parent
    files = sorted([*package_dir.glob("*.py"), *package_dir.glob("cost_schedules/*.yaml")],
                   key=lambda p: p.relative_to(package_dir).as_posix())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True, kw_only=True, slots=True)
class Lineage:
    """What produced one walk-forward result and its gate verdict."""

    strategy: str
    dataset: str
    dataset_md5: str
    symbol: str
    code_revision: str
    strategies_source_hash: str
    params_hash: str
    params: dict[str, Any]
    feature_set_version: str
    feature_key: str
    gates_digest: str
    verdict_digest: str
    verdict_passed: bool

    def tags(self) -> dict[str, str]:
        """MLflow tags, ``stratops.<field>``; ``stratops.gate_verdict`` is pass/fail."""
        return {
            f"{TAG_PREFIX}strategy": self.strategy,
            f"{TAG_PREFIX}dataset": self.dataset,
            f"{TAG_PREFIX}dataset_md5": self.dataset_md5,
            f"{TAG_PREFIX}symbol": self.symbol,
            f"{TAG_PREFIX}code_revision": self.code_revision,
            f"{TAG_PREFIX}strategies_source_hash": self.strategies_source_hash,
            f"{TAG_PREFIX}params_hash": self.params_hash,
            f"{TAG_PREFIX}params": _canonical(self.params),
            f"{TAG_PREFIX}feature_set_version": self.feature_set_version,
            f"{TAG_PREFIX}feature_key": self.feature_key,
            f"{TAG_PREFIX}gates_digest": self.gates_digest,
            f"{TAG_PREFIX}verdict_digest": self.verdict_digest,
            f"{TAG_PREFIX}gate_verdict": "pass" if self.verdict_passed else "fail",
        }

    def candidate_key(self) -> str:
        """SHA-256 of the fields that define the candidate (:data:`CANDIDATE_FIELDS`)."""
        payload = {name: getattr(self, name) for name in CANDIDATE_FIELDS}
        return hashlib.sha256(_canonical(payload).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class VersionLineage:
    """A registered version's lineage read back from its tags (None where a tag is absent):
    what promotion checks and signs into the deployment snapshot. ``params`` stays the
    canonical JSON text it was tagged with, so a signed snapshot carries it byte for byte."""

    dataset: str | None = None
    dataset_md5: str | None = None
    symbol: str | None = None
    code_revision: str | None = None
    params_hash: str | None = None
    params: str | None = None
    feature_set_version: str | None = None
    gates_digest: str | None = None
    verdict_digest: str | None = None
    gate_verdict: str | None = None
    candidate_key: str | None = None
    model_digest: str | None = None
    strategies_source_hash: str | None = None

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> VersionLineage:
        """The ``stratops.<field>`` tags of a version (other tags are not lineage)."""
        return cls(**{f.name: tags.get(f"{TAG_PREFIX}{f.name}") for f in fields(cls)})

    def missing(self) -> list[str]:
        """Tag names (``stratops.<field>``) that are absent or empty."""
        return [f"{TAG_PREFIX}{f.name}" for f in fields(self) if not getattr(self, f.name)]

    @property
    def passed(self) -> bool:
        """Did the version pass its gates at registration?"""
        return self.gate_verdict == "pass"

    @property
    def committed(self) -> bool:
        """Was it researched on a committed code revision (not dirty, not unknown)?"""
        revision = self.code_revision or ""
        return "+dirty" not in revision and revision != "unknown"
