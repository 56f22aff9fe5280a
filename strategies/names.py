"""Names that reach file paths, URLs and registry names: instrument symbols, dataset names,
strategy names. One validator for research and live (this module imports nothing of ours).

A symbol is 1-32 characters of ``A-Z a-z 0-9 . _ -`` starting with a letter or digit: no path
separator, no ``..`` component, no whitespace and no shell metacharacter can pass. Dataset
and strategy names are lower-case identifiers (``[a-z][a-z0-9_]{0,62}``). Where a path is
built from a name, :func:`path_under` also checks the resolved path stays under its root.
"""

from __future__ import annotations

import re
from pathlib import Path

from strategies.errors import BadInputError

SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class InvalidNameError(BadInputError, ValueError):
    """A symbol, dataset or strategy name outside its allowed charset or length."""


class UnsafePathError(InvalidNameError):
    """A path built from names that would leave its root folder."""


def validate_symbol(value: object, *, field: str = "symbol") -> str:
    """Return ``value`` if it is a valid instrument symbol, else raise
    :class:`InvalidNameError` naming ``field`` and the value."""
    if not isinstance(value, str) or not SYMBOL.fullmatch(value):
        raise InvalidNameError(
            f"{field} {value!r} is not a valid symbol: use 1-32 characters of A-Z, a-z, "
            "0-9, '.', '_' and '-', starting with a letter or digit (no '/', spaces or "
            "shell characters)")
    return value


def validate_name(value: object, *, field: str = "name") -> str:
    """Return ``value`` if it is a valid dataset or strategy name (``[a-z][a-z0-9_]{0,62}``),
    else raise :class:`InvalidNameError` naming ``field`` and the value."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise InvalidNameError(
            f"{field} {value!r} must start with a letter and hold only a-z, 0-9 and _ "
            "(at most 63 characters)")
    return value


def path_under(root: Path, *parts: str) -> Path:
    """``root / part / ...``, refused with :class:`UnsafePathError` unless every part is one
    plain path component and the resolved result stays inside ``root`` (symlinks followed)."""
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
            raise UnsafePathError(f"path component {part!r} under {root} is not a plain name")
    path = root.joinpath(*parts)
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        raise UnsafePathError(f"{path} resolves outside {base}")
    return path
