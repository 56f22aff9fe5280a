"""Exit codes and the exception types the CLI reports as a plain message (no traceback)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # a validation, check or gate failed
EXIT_BAD_INPUT = 2  # bad file, field, value or configuration
EXIT_INTERNAL = 3

# The CLI's own error types live here, not in the modules that raise them, so that
# expected_errors() imports nothing that imports this module (no import cycle).


class ResearchInputError(ValueError):
    """Studies that failed on their input or configuration (a user error, not a bug); the
    message names each study and its error."""


class ResearchSelectionError(ValueError):
    """A --strategy or --dataset outside the research partitions."""


class BadKillAction(ValueError):
    """A kill switch action that is not halt, reduce or flatten."""


class ActorMissingError(ValueError):
    """No acting user: pass --as USER or set STRATOPS_USER."""


class LiveSetupError(ValueError):
    """A live run that cannot start (bad mode, nothing deployed, mixed fill models)."""


class VersionRefError(ValueError):
    """A version argument that is not one of :data:`stratops.cli_common.VERSION_FORMS`."""


def expected_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input or configuration: reported as ``error: <message>``, exit 2."""
    from pipelines.datasets.catalog import (
        DatasetNameError,
        DatasetUnavailableError,
        UnknownDatasetError,
    )
    from pipelines.datasets.importer import DatasetStoreError
    from pipelines.datasets.normalise import NormaliseError
    from pipelines.datasets.schema import DatasetSchemaError
    from pipelines.datasets.source_file import SourceFileError
    from pipelines.datasets.timeframes import TimeframeError
    from pipelines.datasets.timestamps import TimestampParseError
    from pipelines.research.affected import ChangedFilesError
    from pipelines.research.features import FeatureStoreError
    from pipelines.research.gates import GateConfigError
    from pipelines.research.report import ReportInputError
    from pipelines.research.splits import SplitError
    from pipelines.research.study import StudyError
    from pipelines.research.walk_forward import WalkForwardError
    from strategies.bars import BarsInputError
    from strategies.costs import CostScheduleError
    from strategies.names import InvalidNameError
    from strategies.params import ParamError
    from strategies.registry import UnknownStrategyError
    from strategies.venues import UnknownVenueError
    from stratops.settings import SettingsError

    return (
        SourceFileError, NormaliseError, TimestampParseError, TimeframeError, DatasetSchemaError,
        DatasetNameError, UnknownDatasetError, UnknownVenueError, DatasetStoreError,
        SettingsError, DatasetUnavailableError, BarsInputError, CostScheduleError, ParamError,
        UnknownStrategyError, StudyError, FeatureStoreError, GateConfigError, SplitError,
        WalkForwardError, ChangedFilesError, ReportInputError, ResearchSelectionError,
        InvalidNameError, ResearchInputError, *_registry_errors(),
    )


def _registry_errors() -> tuple[type[BaseException], ...]:
    from live.checkpoints import CheckpointError
    from live.db import StoreUnavailableError, StoreUrlError
    from live.governance.audit import AuditError
    from live.governance.identity import IdentityError
    from live.governance.policy import PolicyConfigError
    from live.governance.signing import SignatureError
    from live.runner.decisions import UnsupportedVersionError
    from live.runner.feed import FeedSpecError
    from live.service_key import ServiceKeyError
    from pipelines.research.registry import RegistryError

    return (RegistryError, IdentityError, SignatureError, PolicyConfigError, AuditError,
            StoreUrlError, ActorMissingError, LiveSetupError, FeedSpecError,
            UnsupportedVersionError, CheckpointError, ServiceKeyError, StoreUnavailableError,
            VersionRefError, BadKillAction)
