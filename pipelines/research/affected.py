"""Which strategies a change affects: the strategy-gates CI researches only those."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from strategies.errors import BadInputError
from strategies.roster import STRATEGIES

#: Paths whose change affects every strategy (shared code, gates, data versions, settings).
SHARED = ("strategies/", "pipelines/research/", "gates.yaml", "dvc.lock", "stratops.yaml",
          "requirements.lock")


class ChangedFilesError(BadInputError, RuntimeError):
    """git could not list the changed files (unknown base ref, not a repository)."""


def affected_strategies(changed: Iterable[str]) -> list[str]:
    """Registered strategies touched by ``changed`` paths, in priority order."""
    hit: set[str] = set()
    for raw in changed:
        path = PurePosixPath(raw)
        if path.parent == PurePosixPath("strategies") and path.stem in STRATEGIES:
            hit.add(path.stem)
        elif any(raw == s or (s.endswith("/") and raw.startswith(s)) for s in SHARED):
            return list(STRATEGIES)
    return [name for name in STRATEGIES if name in hit]


def changed_files(root: Path, base: str) -> list[str]:
    """Files changed between ``base`` and the work tree (committed or not)."""
    try:
        out = subprocess.run(["git", "diff", "--name-only", base], cwd=root, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise ChangedFilesError(f"git diff --name-only {base!r} failed: {detail.strip()}"
                                ) from exc
    return [line for line in out.splitlines() if line]
