"""What the live side needs from the research side, as small protocols.

``live`` never imports ``pipelines`` (an import-linter contract in ``pyproject.toml``): the
app layer (``stratops``) builds the real implementations - the MLflow registry
(:class:`pipelines.research.registry.ResearchRegistry`) and the gates loader
(:func:`pipelines.research.gates.load_gates`) - and injects them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from strategies.ensemble_version import EnsembleManifest
    from strategies.version_config import VersionConfig


class GateCheckView(Protocol):
    """One gate's outcome."""

    @property
    def name(self) -> str: ...

    @property
    def passed(self) -> bool: ...


class GateVerdictView(Protocol):
    """A strategy's metrics against the reviewed gates."""

    @property
    def passed(self) -> bool: ...

    @property
    def checks(self) -> Sequence[GateCheckView]: ...


class GatesView(Protocol):
    """The reviewed gates (``gates.yaml``), loaded and validated."""

    def evaluate(self, strategy: str, metrics: Mapping[str, float]) -> GateVerdictView: ...


#: Load and validate a gates file (refusing unknown strategies when given); raises
#: ``ValueError`` for a file that is not a valid gates config.
GatesLoader = Callable[[Path, "set[str] | None"], GatesView]


class RegisteredVersionView(Protocol):
    """A registered strategy version as the registry reports it."""

    @property
    def strategy(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def model_uri(self) -> str: ...

    @property
    def tags(self) -> Mapping[str, str]: ...


class ModelRegistry(Protocol):
    """The model registry as live reads it: versions, their metrics and artifact digests,
    and a version's config as data (nothing from the artifact runs). ``client`` is the
    MLflow client promotion moves the stage aliases with (only there)."""

    @property
    def client(self) -> Any: ...

    def get_version(self, strategy: str, ref: str | int) -> RegisteredVersionView: ...

    def run_metrics(self, version: Any) -> dict[str, float]: ...

    def artifact_digest(self, strategy: str, ref: str | int) -> str: ...

    def load_config(self, strategy: str, ref: str | int, *,
                    expected_digest: str | None = None,
                    expected_source_hash: str | None = None) -> VersionConfig: ...

    def load_ensemble(self, name: str, ref: str | int, *,
                      expected_digest: str | None = None) -> EnsembleManifest: ...
