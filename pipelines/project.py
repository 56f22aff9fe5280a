"""What the research pipelines need from the project's settings, as a protocol.

The settings themselves (``stratops.yaml`` + ``STRATOPS_*``) are the app layer's
(:class:`stratops.settings.Settings`); ``pipelines`` never imports ``stratops``, so the
Dagster definitions take any object with these attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pipelines.datasets.validation import ValidationConfig
from pipelines.research.config import ResearchSettings


class ProjectSettings(Protocol):
    """The project's root, research and validation settings, and where things are stored."""

    @property
    def root(self) -> Path: ...

    @property
    def research(self) -> ResearchSettings: ...

    @property
    def validation(self) -> ValidationConfig: ...

    @property
    def dagster_home_path(self) -> Path: ...

    @property
    def tracking_uri(self) -> str: ...

    @property
    def artifact_root(self) -> Path | str: ...

    @property
    def gates_path(self) -> Path: ...

    def path(self, relative: Path | str) -> Path: ...
