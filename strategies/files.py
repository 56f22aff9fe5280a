"""Small file helpers both sides share: an atomic file write and the dataset reader.

Research writes datasets, features and reports with :func:`atomic_write`; the live side
writes reconciliation reports with it and replays datasets with :func:`read_dataset`. They
sit here, the one package both sides import, so ``live`` never imports ``pipelines``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from strategies.errors import BadInputError
from strategies.names import SYMBOL


class DatasetSchemaError(BadInputError, ValueError):
    """A frame or file does not follow the normalised bar schema."""


def check_symbols(source: object, symbols: Iterable[object]) -> None:
    """Refuse (:class:`DatasetSchemaError`) a ``symbol`` column holding a value that is not a
    valid symbol (:data:`strategies.names.SYMBOL`): symbols name files and registry keys."""
    bad = sorted({repr(s) for s in symbols if not isinstance(s, str) or not SYMBOL.fullmatch(s)})
    if bad:
        raise DatasetSchemaError(
            f"{source}: column 'symbol' holds invalid symbol(s) {', '.join(bad[:5])}; a symbol "
            "is 1-32 characters of A-Z, a-z, 0-9, '.', '_' and '-' starting with a letter or "
            "digit")


def atomic_write(path: Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, fsync it, then rename it into
    place: readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp_name)
        os.chmod(tmp_name, 0o644)
        with open(tmp_name, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def read_dataset(path: Path) -> pd.DataFrame:
    """Read a dataset file into a frame in the normalised schema; a file whose ``symbol``
    column holds an invalid symbol is refused (:class:`DatasetSchemaError`)."""
    frame = pd.read_parquet(path)
    if "symbol" in frame.columns:
        check_symbols(path, frame["symbol"].unique())
    return frame


def read_manifest(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """A model folder's JSON manifest with its ``files`` table (``what`` names it in the
    ``error`` raised when it is missing, unreadable or has no files table)."""
    if not path.is_file():
        raise error(f"{path}: {what} manifest is missing")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise error(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise error(f"{path}: manifest has no files table")
    return manifest
