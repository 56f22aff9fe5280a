"""Hash chains for append-only logs (the audit trail, the live journal).

Each entry's hash is SHA-256 over the previous entry's hash, the entry's sequence number
and its canonical JSON body, so editing, deleting, inserting or reordering any entry breaks
every hash after it. :func:`verify_chain` walks a log and names the first entry that does
not fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from live.canonical import canonical_json, sha256_hex

GENESIS = "0" * 64


def entry_hash(prev_hash: str, seq: int, body: Mapping[str, Any]) -> str:
    """The chained hash of entry ``seq`` with ``body`` after ``prev_hash``."""
    return sha256_hex(prev_hash.encode("ascii") + b"\n" + str(seq).encode("ascii") + b"\n"
                      + canonical_json(dict(body)))


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """What a stored entry claims: its sequence number, body, previous and own hash."""

    seq: int
    body: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """``ok``, or the first bad entry's sequence number (None if the log is empty of it)
    and why it is bad."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(entries: Iterable[ChainEntry], *, first_seq: int = 1,
                 first_prev: str = GENESIS) -> ChainVerdict:
    """Check sequence numbers are consecutive from ``first_seq`` and every hash links
    (the first entry to ``first_prev``: a retained anchor after a retention purge)."""
    expected_seq, prev, count = first_seq, first_prev, 0
    for entry in entries:
        if entry.seq != expected_seq:
            why = "missing" if entry.seq > expected_seq else "out of order or duplicated"
            return ChainVerdict(False, count, entry.seq,
                                f"expected seq {expected_seq}, found {entry.seq} ({why})")
        if entry.prev_hash != prev:
            return ChainVerdict(False, count, entry.seq,
                                "prev_hash does not match the previous entry's hash "
                                "(an entry before it was removed, inserted or edited)")
        if entry_hash(prev, entry.seq, entry.body) != entry.hash:
            return ChainVerdict(False, count, entry.seq,
                                "hash does not match its content (the entry was edited)")
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    return ChainVerdict(True, count)
