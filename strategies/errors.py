"""The one base of every exception stratops raises on purpose, and its two exit-code families.

It lives in ``strategies`` (the lowest layer, which imports nothing of ours) so that every
layer - ``strategies``, ``pipelines``, ``live`` and the CLI - can derive its errors from it.
An error class keeps its builtin base as well (``class ParamError(BadInputError,
ValueError)``), so code that catches ``ValueError`` or ``KeyError`` behaves as before.

The CLI (``stratops.errors.exit_code_for``) maps the family to the process exit code:

- ``BadInputError``: bad file, field, value or configuration - ``error: <message>``, exit 2;
- ``RefusedError``: a check, validation or governance rule refused the action - exit 1;
- any other ``StratopsError`` that reaches the CLI is a failure the command did not expect -
  ``internal error: ...``, exit 3, like any other exception.
"""

from __future__ import annotations


class StratopsError(Exception):
    """Base of every exception class defined in stratops."""


class BadInputError(StratopsError):
    """Caused by input or configuration the user can fix (the CLI exits 2)."""


class RefusedError(StratopsError):
    """A check, validation or governance rule refused the action (the CLI exits 1)."""


__all__ = ["BadInputError", "RefusedError", "StratopsError"]
