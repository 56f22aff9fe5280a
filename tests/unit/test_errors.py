"""One error base: every exception class of ours derives from ``StratopsError``, keeps its
builtin base, and the CLI maps its family to the exit code it had when classes were listed
by hand."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import click
import pytest
import typer

from strategies.errors import BadInputError, RefusedError, StratopsError
from stratops import cli
from stratops.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERNAL,
    bad_input_class_names,
    exit_code_for,
)

PACKAGES = ("strategies", "pipelines", "live", "stratops")

# The classes the CLI listed by hand for exit 2 before the base class existed (their
# subclasses exit 2 too); a regression table, not derived from the code under test.
EXIT_2_BEFORE = {
    "SourceFileError", "NormaliseError", "TimestampParseError", "TimeframeError",
    "DatasetSchemaError", "DatasetNameError", "UnknownDatasetError", "UnknownVenueError",
    "DatasetStoreError", "SettingsError", "DatasetUnavailableError", "BarsInputError",
    "CostScheduleError", "ParamError", "UnknownStrategyError", "StudyError",
    "FeatureStoreError", "GateConfigError", "SplitError", "WalkForwardError",
    "ChangedFilesError", "ReportInputError", "ResearchSelectionError", "InvalidNameError",
    "ResearchInputError", "RegistryError", "IdentityError", "SignatureError",
    "PolicyConfigError", "AuditError", "StoreUrlError", "ActorMissingError", "LiveSetupError",
    "FeedSpecError", "UnsupportedVersionError", "CheckpointError", "ServiceKeyError",
    "StoreUnavailableError", "VersionRefError", "BadKillAction",
    # added since: a cutoff that is not 'venue', 'none' or HH:MM (one parser for --cutoff,
    # settings and versions; before it, each caller raised its own bad-input error)
    "CutoffError",
    # added since: Kite credentials missing or exposed, a rate limit that is not positive
    "KiteCredentialsError", "KiteRateLimitConfigError",
    # added since: `live serve` given a naive time, or a calendar with no session ahead
    "NaiveTimeError", "NoSessionError",
    # added since: an instrument master that is not a valid Kite dump, an instrument or an
    # underlying missing from it; spot and futures arrays that cannot be compared
    "InstrumentMasterError", "UnknownInstrumentError", "UnknownUnderlyingError",
    # added since: a recorded tick file that is missing, altered or not in its schema
    "TickDataError",
    # added since: an impact estimate input out of its domain; a malformed impact
    # calibration file (live/impact)
    "ImpactInputError", "CalibrationFileError",
    # added since: an execution algo param out of bounds, a volume profile with no history,
    # a parent order whose deadline is after the cutoff
    "AlgoParamError", "VolumeProfileError", "AlgoDeadlineError",
    # added since: a smart-order-router venue with a bad name, limit or depth
    "VenueConfigError",
    # added since: a clock-offset budget, window or probe interval that is not positive
    "ClockConfigError",
    # added since: a leader lease that cannot work (a SQLite journal, a TTL out of range)
    "LeaseConfigError",
    # added since: a live.bus.stream_prefix that cannot name NATS subjects and streams
    "BusPrefixError",
    # added since: a PostgreSQL Dagster instance without its URL variable; an off-host
    # checkpoint copy that is unreachable or disagrees with the local file
    "DagsterInstanceError", "OffhostCheckpointError",
    # added since: an anomaly.* detector threshold out of its range; an attribution of a
    # strategy with no cost rates
    "AnomalyConfigError", "AttributionInputError",
    # added since: a playbooks.yaml that cannot be trusted to act; alert delivery settings
    # that cannot work (a tier naming no channel, a missing secret); an unknown alert id
    "PlaybookConfigError", "AlertConfigError", "UnknownAlertError",
    # added since: `stratops trace show` of a trace id no journal entry carries
    "TraceNotFoundError",
    # added since: a surveillance threshold out of its domain; a compliance report or a
    # retention archive that fails verification (the file named); an archive that exists;
    # a retention purge with nothing to delete
    "ThresholdError", "ReportVerifyError", "ArchiveError", "RetentionError",
    # added since: a compliance.yaml that is missing, malformed or contradictory
    "ComplianceConfigError",
    # added since: a broker trade book CSV that cannot be read (end-of-day sign-off)
    "TradebookError",
    # added since: signal governance artifacts that cannot be trusted (other features, a
    # missing or altered drift reference, an unknown regime), a classifier that cannot train
    "SignalGovernanceError", "UnseenRegimeError", "DriftReferenceError",
    "RegimeTrainingError",
    # added since: a health expectation or health limits that cannot be used
    "HealthExpectationError", "TwinLimitsError",
    # added since: a portfolio study that cannot run (fewer than two sleeves, sleeves on
    # other sessions, too few OOS sessions for the allocation windows)
    "PortfolioStudyError",
    # added since: a fold trade table of a report that is not of the bars; an enable
    # matrix that cannot be learned, stored or loaded (issue 17)
    "FoldTradesError", "EnableMatrixError", "InnerWalkForwardError",
    # added since: a confidence calibrator that cannot be trusted (other features, altered,
    # no training hit rate) or trained (too few trades); confidence sizing bounds out of
    # order; an ensemble resolver that does not exist; studies that cannot form an ensemble
    "ConfidenceError", "ConfidenceTrainingError", "SizingError", "ResolverError",
    "EnsembleStudyError", "EnsembleRecordError",
    # added since: an ensemble version's manifest that is malformed or its tags contradict
    "EnsembleManifestError",
    # added since: a SQLite durability mode (live.sqlite_synchronous) other than full/normal
    "DurabilityModeError",
}
# Refusals the commands report and exit 1 on (the governance and import refusals).
EXIT_1_BEFORE = {"GovernanceRefusal", "DatasetRejectedError",
                 # added since: a stale Kite token, or one Kite rejects (log in again)
                 "KiteTokenStaleError", "KiteSessionRejectedError",
                 # added since: an instrument master failing its suite, a contract that may
                 # not trade (expired, none current)
                 "MasterRejectedError", "ContractRefusedError",
                 # added since: a runner that lost its hot-standby leader lease (fenced)
                 "FencedError",
                 # added since: the operator page's refused sign-in, an action without a
                 # session or CSRF token
                 "LoginRefused", "NotSignedIn", "TooManyChallenges",
                 # added since: an egress address that is not the broker-whitelisted IP
                 "EgressCheckError",
                 # added since: an approved ensemble version the runner refuses to load
                 "EnsembleLoadError"}


def _modules() -> Iterator[object]:
    for top in PACKAGES:
        package = importlib.import_module(top)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{top}."):
            yield importlib.import_module(info.name)


def _our_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in _modules():
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__):  # type: ignore[attr-defined]
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[key] for key in sorted(found)]


OUR_EXCEPTIONS = _our_exception_classes()


def _is_exit(cls: type[BaseException]) -> bool:
    """A click/typer ``Exit`` carries its own exit code: control flow, not an error."""
    return issubclass(cls, (click.exceptions.Exit, typer.Exit))


def test_exception_scan_finds_the_known_families() -> None:
    names = {cls.__name__ for cls in OUR_EXCEPTIONS}
    assert len(OUR_EXCEPTIONS) > 90
    assert names >= EXIT_2_BEFORE | EXIT_1_BEFORE


@pytest.mark.parametrize("cls", [c for c in OUR_EXCEPTIONS if not _is_exit(c)],
                         ids=lambda c: c.__name__)
def test_every_exception_class_derives_from_stratops_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, StratopsError), f"{cls.__module__}.{cls.__name__}: {cls.__mro__}"


@pytest.mark.parametrize("cls", [c for c in OUR_EXCEPTIONS if not _is_exit(c)
                                 and c.__module__ != "strategies.errors"],
                         ids=lambda c: c.__name__)
def test_exit_code_is_unchanged_by_the_base_class(cls: type[BaseException]) -> None:
    before = {c.__name__ for c in cls.__mro__}
    expected = (EXIT_BAD_INPUT if before & EXIT_2_BEFORE
                else EXIT_FAILED if before & EXIT_1_BEFORE else EXIT_INTERNAL)
    assert exit_code_for(cls.__new__(cls)) == expected


@pytest.mark.parametrize(("name", "builtin"), [
    ("ParamError", ValueError), ("UnknownStrategyError", KeyError),
    ("UnknownDatasetError", KeyError), ("RegistryError", LookupError),
    ("DatasetStoreError", RuntimeError), ("BrokerUnavailableError", ConnectionError),
    ("CheckpointWriteError", OSError), ("AuditConflictError", RuntimeError),
    ("DatasetRejectedError", ValueError), ("JournalCorruptError", RuntimeError),
    ("SnapshotInputError", ValueError), ("SnapshotDecodeError", ValueError),
    ("FencedError", RuntimeError),
    ("BusUnavailableError", ConnectionError), ("PoisonMessageError", ValueError),
    ("TraceNotFoundError", LookupError), ("ScrapeError", RuntimeError),
    ("MetricsPortError", ValueError),
    ("ThresholdError", ValueError), ("ArchiveExistsError", FileExistsError),
    ("ArchiveVerifyError", ValueError), ("DurabilityModeError", ValueError),
    ("WriterUnavailableError", RuntimeError), ("FollowerBrokerError", RuntimeError),
])
def test_error_keeps_its_builtin_base(name: str, builtin: type[BaseException]) -> None:
    (cls,) = [c for c in OUR_EXCEPTIONS if c.__name__ == name]
    assert issubclass(cls, builtin) and issubclass(cls, StratopsError)


@pytest.fixture
def raising_command() -> Iterator[list[BaseException]]:
    """A hidden ``raise-for-test`` command on the real app raising what the test puts in."""
    to_raise: list[BaseException] = []

    def raise_for_test() -> None:
        raise to_raise[0]

    cli.app.command("raise-for-test", hidden=True)(raise_for_test)
    try:
        yield to_raise
    finally:
        cli.app.registered_commands.pop()


@pytest.mark.parametrize(("exc", "code", "prefix"), [
    (BadInputError("bad field x"), 2, "error: bad field x"),
    (RefusedError("gate y failed"), 1, "error: gate y failed"),
    (StratopsError("lost"), 3, "internal error: StratopsError: lost"),
    (RuntimeError("boom"), 3, "internal error: RuntimeError: boom"),
])
def test_main_maps_error_family_to_exit_code(
        raising_command: list[BaseException], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, exc: BaseException, code: int, prefix: str) -> None:
    monkeypatch.delenv("STRATOPS_DEBUG", raising=False)
    raising_command.append(exc)
    assert cli.main(["raise-for-test"]) == code
    assert capsys.readouterr().err.startswith(prefix)


def test_bad_input_class_names_cover_subclasses_and_only_bad_input() -> None:
    names = bad_input_class_names()  # research job failures are known by class name only
    assert {"ParamError", "WalkForwardError", "InvalidNameError", "UnsafePathError"} <= names
    assert not names & {"JournalCorruptError", "GovernanceRefusal", "StratopsError"}
