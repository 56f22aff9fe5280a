"""Byte-identical skops archives: skops names an archive's arrays and references after
``id()`` of the objects and stamps the zip entries with the time of writing, so the same
fitted estimator dumped twice gives different bytes - and, its digest being part of a
version's identity, a rebuild on the same data would register a new version. The
canonical form renumbers those ids in their order of appearance in ``schema.json`` and
writes the entries sorted, with a fixed timestamp; skops loads it as it loads the
original (the ids only link references inside one archive)."""

from __future__ import annotations

import io
import re
import zipfile

from strategies.errors import StratopsError

_ID = re.compile(r'"__id__": (\d+)|"(\d+)\.npy"')
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the zip format's first representable time
SCHEMA = "schema.json"


class SkopsArchiveError(StratopsError, ValueError):
    """An archive that is not the skops layout (schema.json plus <id>.npy arrays)."""


def canonical_skops(data: bytes) -> bytes:
    """``data`` (a skops archive) with its object ids renumbered 1, 2, ... in order of
    appearance and its entries sorted under a fixed timestamp."""
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
        schema = source.read(SCHEMA).decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise SkopsArchiveError(f"not a skops archive: {exc}") from exc
    number: dict[str, str] = {}
    for found in _ID.finditer(schema):
        number.setdefault(found.group(1) or found.group(2), str(len(number) + 1))

    def renumber(found: re.Match[str]) -> str:
        if found.group(1):
            return f'"__id__": {number[found.group(1)]}'
        return f'"{number[found.group(2)]}.npy"'

    entries = {SCHEMA: _ID.sub(renumber, schema).encode("utf-8")}
    for name in source.namelist():
        if name == SCHEMA:
            continue
        stem = name.removesuffix(".npy")
        if stem == name or stem not in number:
            raise SkopsArchiveError(f"skops archive entry {name!r} is not an array the "
                                    "schema refers to")
        entries[f"{number[stem]}.npy"] = source.read(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, entries[name])
    return out.getvalue()
