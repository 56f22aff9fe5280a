"""The wall clock, at the shell's edge only (domain code takes an injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The wall clock, at the shell's edge only (domain code takes an injected clock)."""
    return datetime.now(UTC)
