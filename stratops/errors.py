"""Exit codes, and the error families of ``strategies.errors`` mapped to them.

Every exception class stratops defines derives from :class:`~strategies.errors.StratopsError`
(a test checks it); the CLI maps the family, never a hand-kept list of classes:
:class:`~strategies.errors.BadInputError` exits 2 with ``error: <message>`` (no traceback),
:class:`~strategies.errors.RefusedError` exits 1, anything else reaching the CLI exits 3.
"""

from __future__ import annotations

from strategies.errors import BadInputError, RefusedError, StratopsError

EXIT_OK = 0
EXIT_FAILED = 1  # a validation, check or gate failed
EXIT_BAD_INPUT = 2  # bad file, field, value or configuration
EXIT_INTERNAL = 3

#: The exit code of each error family, most specific first.
EXIT_CODES: tuple[tuple[type[StratopsError], int], ...] = (
    (BadInputError, EXIT_BAD_INPUT),
    (RefusedError, EXIT_FAILED),
)


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for an exception that reached the command line."""
    for family, code in EXIT_CODES:
        if isinstance(exc, family):
            return code
    return EXIT_INTERNAL


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    sub: type
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def bad_input_class_names() -> set[str]:
    """Names of the (imported) bad-input error classes, for errors known only by class name
    (a Dagster step failure records ``cls_name``, not the class)."""
    return {cls.__name__ for cls in _subclasses(BadInputError)}


# The CLI's own error types live here, not in the modules that raise them, so that no
# command module imports another for its errors (no import cycle).


class ResearchInputError(BadInputError, ValueError):
    """Studies that failed on their input or configuration (a user error, not a bug); the
    message names each study and its error."""


class ResearchSelectionError(BadInputError, ValueError):
    """A --strategy or --dataset outside the research partitions."""


class BadKillAction(BadInputError, ValueError):
    """A kill switch action that is not halt, reduce or flatten."""


class ActorMissingError(BadInputError, ValueError):
    """No acting user: pass --as USER or set STRATOPS_USER."""


class LiveSetupError(BadInputError, ValueError):
    """A live run that cannot start (bad mode, nothing deployed, mixed fill models)."""


class VersionRefError(BadInputError, ValueError):
    """A version argument that is not one of :data:`stratops.cli_common.VERSION_FORMS`."""
