"""Lineage of a strategy version: which data, code, params, features and gates produced it.

The same facts become MLflow tags (``stratops.*``) on the run and the registered version, and
a *candidate key* hashes the ones that define the candidate, so recording the same research
result twice finds the version already registered instead of creating another.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from strategies.lineage import (
    CANDIDATE_FIELDS,
    TAG_PREFIX,
    Lineage,
    VersionLineage,
    strategies_source_hash,
)

__all__ = ["CANDIDATE_FIELDS", "TAG_PREFIX", "Lineage", "VersionLineage", "code_revision",
           "strategies_source_hash"]
GIT_TIMEOUT_S = 30.0


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
