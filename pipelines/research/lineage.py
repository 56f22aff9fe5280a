"""Lineage of a strategy version: which data, code, params, features and gates produced it.

The same facts become MLflow tags (``stratops.*``) on the run and the registered version, and
a *candidate key* hashes the ones that define the candidate, so recording the same research
result twice finds the version already registered instead of creating another.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TAG_PREFIX = "stratops."
GIT_TIMEOUT_S = 30.0

# Fields of Lineage that define a candidate (the strategy is the registered model's name).
CANDIDATE_FIELDS = ("dataset_md5", "symbol", "code_revision", "strategies_source_hash",
                    "params_hash", "feature_key", "gates_digest", "verdict_digest")


def _git(root: Path, *args: str) -> bytes | None:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


#: Reviewed config files and docs: versioned by their own digests, not by the code revision.
NOT_CODE = ("gates.yaml", "policy.yaml", "risk.yaml", "roles.yaml", "stratops.yaml", "*.md")


def code_revision(root: Path) -> str:
    """The git HEAD sha of ``root``; ``<sha>+dirty.<12 hex>`` when tracked files differ from
    HEAD (the hex hashes ``git diff HEAD``); ``"unknown"`` outside a git work tree. Never
    raises. Reviewed configuration and documentation (:data:`NOT_CODE`) do not count: they
    carry their own digests (gates, policy, risk limits, roles) in the lineage."""
    head = _git(root, "rev-parse", "--verify", "HEAD")
    if not head:
        return "unknown"
    sha = head.decode().strip()
    diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff", "--binary", "--", ".",
                *(f":(exclude){name}" for name in NOT_CODE))
    if diff is None:
        return "unknown"
    if not diff:
        return sha
    return f"{sha}+dirty.{hashlib.sha256(diff).hexdigest()[:12]}"


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
