"""Reviewed configuration files and their approved versions.

``gates.yaml``, ``policy.yaml``, ``risk.yaml``, ``playbooks.yaml`` and ``compliance.yaml``
change only through maker/checker (a config change request approved by a risk officer),
which stores the approved content as a numbered config version. A file on disk that
differs from its latest approved version - or has none - blocks approvals (fail closed)
until its change is approved; so does an optional file that was approved once and is gone
(deleting ``playbooks.yaml`` would otherwise switch the incident playbooks off unreviewed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from live.governance import store
from live.ports import GatesLoader, GatesView

KINDS = ("gates", "policy", "risk", "playbooks", "compliance")
REQUIRED = ("gates", "policy")  # the others are checked once they exist


@dataclass(frozen=True, slots=True)
class ConfigFiles:
    """Where each reviewed file lives, and the store holding their approved versions."""

    engine: sa.Engine
    paths: dict[str, Path]
    #: the gates validator the app layer injects (``pipelines.research.gates.load_gates``)
    load_gates: GatesLoader | None = None

    def path(self, kind: str) -> Path:
        if kind not in self.paths:
            raise ValueError(f"config kind {kind!r} is not one of {sorted(self.paths)}")
        return self.paths[kind]

    def digest(self, kind: str) -> str:
        """SHA-256 of the file's bytes now ("none" when it does not exist or this service
        was given no path for ``kind``)."""
        if kind in KINDS and kind not in self.paths:
            return "none"
        path = self.path(kind)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "none"

    def gates(self, known_strategies: set[str] | None = None,
              path: Path | None = None) -> GatesView:
        """The gates file (or ``path``) loaded and validated by the injected loader."""
        if self.load_gates is None:
            raise ValueError("no gates loader was given to ConfigFiles: cannot evaluate "
                             "gates (refusing)")
        return self.load_gates(path or self.path("gates"), known_strategies or None)

    def approved(self, kind: str) -> tuple[int, str] | None:
        """(version, sha256) of the latest approved version of ``kind``."""
        with self.engine.connect() as conn:
            row = store.latest_config(conn, kind)
        return (int(row.version), str(row.sha256)) if row is not None else None

    def unapproved(self) -> list[str]:
        """A problem per reviewed file whose bytes are not its latest approved version."""
        problems = []
        for kind in KINDS:
            if kind not in self.paths:  # a store that reviews fewer files (tests)
                continue
            path = self.path(kind)
            approved = self.approved(kind)
            hint = f"request a config change: `stratops config request {kind} --reason ...`"
            if kind not in REQUIRED and not path.is_file():
                if approved is not None:  # removing a reviewed file is a change too
                    problems.append(f"{path.name} is missing but has approved version "
                                    f"{approved[0]} (sha {approved[1][:12]}): a reviewed file "
                                    "deleted without maker/checker; put the approved file back "
                                    "(each approved version's content is kept in "
                                    "gov_config_versions)")
                continue
            actual = self.digest(kind)
            if approved is None:
                problems.append(f"{path.name} has no approved version; {hint}")
            elif approved[1] != actual:
                problems.append(f"{path.name} (sha {actual[:12]}) is not its approved version "
                                f"{approved[0]} (sha {approved[1][:12]}); {hint}")
        return problems
