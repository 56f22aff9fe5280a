"""Canonical JSON: one byte string per value, so hashes and signatures are reproducible.

Keys sorted, no insignificant whitespace, UTF-8, and no NaN or infinity (which JSON cannot
represent portably): a value that cannot be encoded exactly is refused, never approximated.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from strategies.errors import StratopsError


class CanonicalJsonError(StratopsError, ValueError):
    """A value with no canonical JSON form (NaN, infinity, an unknown type)."""


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CanonicalJsonError(f"no canonical JSON for {value!r:.200}: {exc}") from exc
    return text.encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """SHA-256 hex of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))
