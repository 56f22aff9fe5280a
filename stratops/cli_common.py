"""What every ``stratops`` command shares: the one version syntax, ``--json`` output,
deprecated flag spellings and ``NO_COLOR``.

Version syntax (every command that names a registered version takes both forms):
``STRATEGY@REF`` or ``STRATEGY REF``, where REF is a version number (``3``), ``latest`` or an
alias (``shadow``, ``canary``, ``live``, written bare or as ``@live`` in the second form).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import typer

from stratops.errors import VersionRefError as VersionRefError  # defined there: no cycle

VERSION_FORMS = ("STRATEGY@ALIAS, STRATEGY@VERSION or STRATEGY VERSION (e.g. ema_cross@live, "
                 "ema_cross@3, ema_cross 3)")
_REF = re.compile(r"[A-Za-z0-9_.-]{1,255}")

JsonOpt = Annotated[bool, typer.Option(
    "--json", help="print the same data as JSON (for scripts)")]


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A parsed version argument: ``ref`` is ``"3"``, ``"latest"`` or ``"@alias"`` - the
    form :meth:`ResearchRegistry.get_version` takes."""

    strategy: str
    ref: str

    @property
    def number(self) -> int | None:
        return int(self.ref) if self.ref.isdigit() else None

    @property
    def alias(self) -> str | None:
        return self.ref[1:] if self.ref.startswith("@") else None

    def __str__(self) -> str:
        return f"{self.strategy}@{self.ref.removeprefix('@')}"


def parse_version(target: str, version: str | int | None = None) -> VersionRef:
    """``S@REF`` (and no second argument) or ``S`` plus ``REF``; see the module docstring."""
    strategy, sep, ref = target.partition("@")
    if sep and version is not None:
        raise VersionRefError(f"{target!r} {version!r}: give the version once, as "
                              f"{strategy}@{ref} or {strategy} {ref}")
    if not sep:
        if version is None:
            raise VersionRefError(f"{target!r} names no version; use {VERSION_FORMS}")
        ref = str(version)
    if not strategy or not ref:
        raise VersionRefError(f"{target!r}{'' if version is None else f' {version!r}'} is "
                              f"not a version; use {VERSION_FORMS}")
    bare = ref.removeprefix("@")
    if not _REF.fullmatch(bare):
        raise VersionRefError(f"version {ref!r} of {strategy!r} is not a number, 'latest' or "
                              f"an alias; use {VERSION_FORMS}")
    if bare.isdigit():
        return VersionRef(strategy, str(int(bare)))
    if bare == "latest":
        return VersionRef(strategy, "latest")
    return VersionRef(strategy, f"@{bare}")


def print_json(data: Any) -> None:
    """One JSON document on stdout (dates and paths as strings)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def deprecated(old: str, new: str) -> None:
    """The one-line note a deprecated spelling prints (on stderr; the command still runs)."""
    typer.echo(f"note: {old} is deprecated; use {new}", err=True, color=colour())


def colour() -> bool | None:
    """False when ``NO_COLOR`` is set (https://no-color.org), else None (click decides by
    the terminal). Rich consoles honour ``NO_COLOR`` themselves; click does not."""
    return False if os.environ.get("NO_COLOR", "") != "" else None


def date_option(text: str | None, flag: str) -> date | None:
    """A ``YYYY-MM-DD`` option's value (None when not given); anything else is refused
    naming the flag."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{flag} {text!r} is not a date YYYY-MM-DD") from None
