"""Signed checkpoints of a hash chain's head, kept outside the database they protect.

A hash chain alone cannot show that its tail was cut off, or that someone who can write the
table re-chained it (edited an entry and recomputed every hash after it, or appended a forged
entry with a correct hash). A :class:`Checkpoint` is an Ed25519-signed statement by the
writer's identity: "chain C had hash H at seq S", plus a 16-hex-digit mark (hash prefix) of
every entry since the previous checkpoint, so a rewrite is located at its *first* entry, not
only somewhere before the next checkpoint. Checkpoints are appended as JSON lines to a file
(0600, in a 0700 folder, fsynced; :mod:`live.checkpoint_writer`), never to the database.

:func:`verify_against` compares a chain with checkpoints and names the first bad entry:

- a different hash (or mark) at a checkpointed seq: the chain was edited or re-chained there;
- a head before a checkpoint's seq: the tail was truncated, the first missing seq is named;
- entries after a *sealed* checkpoint (a runner's session end, a governance command): they
  were appended after the writer finished, the first one is named.

Entries after an unsealed checkpoint (a session still running, or one that crashed) are not
covered yet: reported, not failed. A checkpoint whose signature does not verify against the
trusted keys is refused (:class:`CheckpointSignatureError`), never skipped.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from live.governance.identity import Directory, IdentityError
from live.governance.signing import Signature, SignatureError, verify
from live.hashchain import GENESIS
from strategies.errors import BadInputError

CHECKPOINT_VERSION = 1
MARK_HEX = 16  # 64 bits of each entry hash: locates a rewrite; the full head hash detects it
MAX_MARKS = 10_000  # marks per checkpoint; older entries of a long gap are bounded, not marked
_HASH = re.compile(r"[0-9a-f]{64}")
_MARK = re.compile(rf"[0-9a-f]{{{MARK_HEX}}}")
_CHAIN = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_PAYLOAD_KEYS = frozenset(("version", "chain", "seq", "hash", "from_seq", "marks", "sealed"))

Signer = Callable[[Mapping[str, Any]], Signature]
Trust = Directory | Mapping[str, Ed25519PublicKey]
Finding = Literal["ok", "open_tail", "rewritten", "truncated", "appended"]


class CheckpointError(BadInputError):
    """Base of checkpoint errors."""


class CheckpointFormatError(CheckpointError, ValueError):
    """A checkpoint file or record that cannot be parsed; names the file and line."""


class CheckpointChainError(CheckpointError, ValueError):
    """A checkpoint of another chain (e.g. the shadow journal's against the live one)."""


class CheckpointSignatureError(CheckpointError):
    """A checkpoint whose signature does not verify against the trusted keys: refused."""


class CheckpointMismatchError(CheckpointError):
    """The chain disagrees with its checkpoints; ``verdict`` names the first bad entry."""

    def __init__(self, verdict: CheckpointVerdict) -> None:
        super().__init__(f"{verdict.chain}: first bad entry seq {verdict.first_bad_seq}: "
                         f"{verdict.reason}")
        self.verdict = verdict


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint that could not be written durably."""


class ChainReader(Protocol):
    """What checkpointing reads of a chain: its head and its stored hashes by seq."""

    def head(self) -> tuple[int, str]: ...

    def hashes(self, from_seq: int, to_seq: int) -> Iterator[tuple[int, str]]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """Chain ``chain`` had hash ``hash`` at ``seq``; ``marks`` are the hash prefixes of
    entries ``from_seq..seq``; ``sealed``: the writer finished (no entries may follow until
    it writes again). ``signature`` covers :meth:`payload`."""

    chain: str
    seq: int
    hash: str
    from_seq: int
    marks: tuple[str, ...]
    sealed: bool
    signature: Signature

    def __post_init__(self) -> None:
        _check_fields(self.chain, self.seq, self.hash, self.from_seq, self.marks, self.sealed)

    def payload(self) -> dict[str, Any]:
        """What the signature covers (canonical JSON of this, plus the signature metadata)."""
        return _payload(self.chain, self.seq, self.hash, self.from_seq, self.marks, self.sealed)

    def to_dict(self) -> dict[str, Any]:
        """One line of a checkpoint file (also the form of an exported checkpoint)."""
        return self.payload() | {"signature": self.signature.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, where: str = "<checkpoint>") -> Checkpoint:
        """Parse :meth:`to_dict` output; anything missing, extra or malformed is refused."""
        if not isinstance(data, Mapping):
            raise CheckpointFormatError(f"{where}: not a JSON object: {data!r:.80}")
        keys = set(data)
        if keys != _PAYLOAD_KEYS | {"signature"}:
            raise CheckpointFormatError(
                f"{where}: fields {sorted(keys)} are not {sorted(_PAYLOAD_KEYS | {'signature'})}")
        if data["version"] != CHECKPOINT_VERSION:
            raise CheckpointFormatError(f"{where}: version {data['version']!r} is not "
                                        f"{CHECKPOINT_VERSION}")
        marks = data["marks"]
        if not isinstance(marks, list):
            raise CheckpointFormatError(f"{where}: marks {marks!r:.80} is not a list")
        try:
            return cls(chain=data["chain"], seq=data["seq"], hash=data["hash"],
                       from_seq=data["from_seq"], marks=tuple(marks), sealed=data["sealed"],
                       signature=Signature.from_dict(data["signature"]))
        except (SignatureError, CheckpointFormatError) as exc:
            raise CheckpointFormatError(f"{where}: {exc}") from None


def _payload(chain: str, seq: int, head: str, from_seq: int, marks: Sequence[str],
             sealed: bool) -> dict[str, Any]:
    return {"version": CHECKPOINT_VERSION, "chain": chain, "seq": seq, "hash": head,
            "from_seq": from_seq, "marks": list(marks), "sealed": sealed}


def _check_fields(chain: Any, seq: Any, head: Any, from_seq: Any, marks: tuple[Any, ...],
                  sealed: Any) -> None:
    if not isinstance(chain, str) or not _CHAIN.fullmatch(chain):
        raise CheckpointFormatError(f"chain {chain!r:.80} is not a chain name")
    for name, value in (("seq", seq), ("from_seq", from_seq)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointFormatError(f"{name} {value!r:.80} is not a non-negative int")
    if not isinstance(head, str) or not _HASH.fullmatch(head):
        raise CheckpointFormatError(f"hash {head!r:.80} is not 64 hex digits")
    if not isinstance(sealed, bool):
        raise CheckpointFormatError(f"sealed {sealed!r:.80} is not true or false")
    if not 1 <= from_seq <= seq + 1 or len(marks) != seq - from_seq + 1:
        raise CheckpointFormatError(f"from_seq {from_seq} and {len(marks)} marks do not end "
                                    f"at seq {seq}")
    for mark in marks:
        if not isinstance(mark, str) or not _MARK.fullmatch(mark):
            raise CheckpointFormatError(f"mark {mark!r:.80} is not {MARK_HEX} hex digits")
    if marks and marks[-1] != head[:MARK_HEX]:
        raise CheckpointFormatError(f"last mark {marks[-1]} is not the head hash's prefix")


def make_checkpoint(chain: str, head: tuple[int, str], marks: Sequence[tuple[int, str]],
                    *, sealed: bool, signer: Signer) -> Checkpoint:
    """Sign a checkpoint of ``head`` = (seq, hash); ``marks`` are (seq, hash) of the entries
    since the previous checkpoint, ending at ``head`` (only the last ``MAX_MARKS`` kept)."""
    seq, digest = head
    kept = list(marks)[-MAX_MARKS:]
    if kept and kept[-1][0] != seq:
        raise CheckpointFormatError(f"marks end at seq {kept[-1][0]}, the head is seq {seq}")
    from_seq = kept[0][0] if kept else seq + 1
    prefixes = tuple(h[:MARK_HEX] for _, h in kept)
    _check_fields(chain, seq, digest, from_seq, prefixes, sealed)
    signature = signer(_payload(chain, seq, digest, from_seq, prefixes, sealed))
    return Checkpoint(chain=chain, seq=seq, hash=digest, from_seq=from_seq, marks=prefixes,
                      sealed=sealed, signature=signature)


def verify_signature(checkpoint: Checkpoint, trust: Trust, *, role: str | None = None) -> str:
    """Check the checkpoint's signature against the trusted keys; return the signer's name.

    ``trust`` is a :class:`~live.governance.identity.Directory` (the signer must be listed,
    and hold ``role`` if given) or a mapping of signer name to public key. Checkpoints attest
    a past head, so they do not expire: time is checked as of ``signed_at``.

    Raises
    ------
    CheckpointSignatureError
        Unknown signer, missing role, wrong key, or a signature that does not verify.
    """
    signature = checkpoint.signature
    what = f"checkpoint of {checkpoint.chain} at seq {checkpoint.seq} by {signature.signer!r}"
    try:
        if isinstance(trust, Directory):
            if role is not None:
                trust.require(signature.signer, role)
            trust.verify(checkpoint.payload(), signature, now=signature.signed_time)
        else:
            key = trust.get(signature.signer)
            if key is None:
                raise CheckpointSignatureError(f"{what}: signer is not one of the trusted "
                                               f"{sorted(trust)}")
            verify(checkpoint.payload(), signature, key, now=signature.signed_time)
    except (SignatureError, IdentityError) as exc:
        raise CheckpointSignatureError(f"{what} refused: {exc}") from None
    return signature.signer


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """A checkpoint file (JSON lines) or one exported checkpoint (a JSON object), in order."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointFormatError(f"{path}: cannot read ({exc})") from exc
    stripped = text.strip()
    if not stripped:
        raise CheckpointFormatError(f"{path}: holds no checkpoint")
    if "\n" in stripped and not stripped.startswith("{\n"):
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        lines = [(1, stripped)]
    found = []
    for number, line in lines:
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise CheckpointFormatError(f"{path}:{number}: not JSON ({exc})") from None
        found.append(Checkpoint.from_dict(data, f"{path}:{number}"))
    return found


# -- verification -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CheckpointVerdict:
    """The chain against its checkpoints: ``finding`` and, unless ok, the first bad seq."""

    chain: str
    finding: Finding
    head_seq: int
    checkpoint_seq: int
    checkpoints: int
    signers: tuple[str, ...] = ()
    first_bad_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """No entry contradicts a checkpoint (an uncovered open tail is ok, and reported)."""
        return self.finding in ("ok", "open_tail")


@dataclass(slots=True)
class _Expected:
    """What the checkpoints say about each seq: a hash prefix, and which checkpoint said it."""

    marks: dict[int, tuple[str, Checkpoint]] = field(default_factory=dict)
    conflict: tuple[int, str] | None = None

    def add(self, checkpoint: Checkpoint) -> None:
        pairs = list(zip(range(checkpoint.from_seq, checkpoint.seq + 1), checkpoint.marks,
                         strict=True))
        if checkpoint.seq > 0:
            pairs.append((checkpoint.seq, checkpoint.hash))
        elif checkpoint.hash != GENESIS:
            self._conflict(0, f"checkpoint at seq 0 has hash {checkpoint.hash[:16]}..., "
                              "not the genesis")
        for seq, digest in pairs:
            known = self.marks.get(seq)
            if known is not None and not _agrees(known[0], digest):
                self._conflict(seq, f"checkpoints disagree about seq {seq}")
            elif known is None or len(digest) > len(known[0]):
                self.marks[seq] = (digest, checkpoint)

    def _conflict(self, seq: int, reason: str) -> None:
        if self.conflict is None or seq < self.conflict[0]:
            self.conflict = (seq, reason)


def _agrees(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def verify_against(reader: ChainReader, checkpoints: Sequence[Checkpoint], trust: Trust, *,
                   chain: str, role: str | None = None) -> CheckpointVerdict:
    """Compare the chain ``reader`` with ``checkpoints``; name the first bad entry.

    Run the chain's own verify too: this compares the stored hashes with the signed ones,
    the chain's verify checks that those hashes are the hashes of the stored entries.

    Raises
    ------
    CheckpointFormatError
        No checkpoints were given.
    CheckpointChainError
        A checkpoint is of another chain.
    CheckpointSignatureError
        A checkpoint's signature does not verify (the whole check is refused: fail closed).
    """
    if not checkpoints:
        raise CheckpointFormatError(f"{chain}: no checkpoints to verify against")
    signers: list[str] = []
    expected = _Expected()
    for checkpoint in checkpoints:
        if checkpoint.chain != chain:
            raise CheckpointChainError(f"checkpoint at seq {checkpoint.seq} is of chain "
                                       f"{checkpoint.chain!r}, not {chain!r}")
        name = verify_signature(checkpoint, trust, role=role)
        if name not in signers:
            signers.append(name)
        expected.add(checkpoint)
    top = max(c.seq for c in checkpoints)
    latest = [c for c in checkpoints if c.seq == top][-1]
    head_seq = reader.head()[0]
    base = functools.partial(CheckpointVerdict, chain=chain, head_seq=head_seq,
                             checkpoint_seq=top, checkpoints=len(checkpoints),
                             signers=tuple(signers))
    bad = _first_mismatch(reader, expected, min(head_seq, top))
    if bad is not None:
        return base(finding="rewritten", first_bad_seq=bad[0], reason=bad[1])
    if head_seq < top:
        return base(
            finding="truncated", first_bad_seq=head_seq + 1,
            reason=f"the chain ends at seq {head_seq}, but a checkpoint signed by "
                   f"{latest.signature.signer!r} at {latest.signature.signed_at} covers seq "
                   f"{top}: entries {head_seq + 1}..{top} were removed")
    if head_seq > top and latest.sealed:
        return base(
            finding="appended", first_bad_seq=top + 1,
            reason=f"entries {top + 1}..{head_seq} follow the checkpoint sealed at seq {top} "
                   f"by {latest.signature.signer!r} at {latest.signature.signed_at}: appended "
                   "after the writer finished")
    if head_seq > top:
        return base(
            finding="open_tail", first_bad_seq=None,
            reason=f"entries {top + 1}..{head_seq} are not covered by a checkpoint yet (the "
                   "writer is running, or stopped without sealing)")
    return base(finding="ok")


def _first_mismatch(reader: ChainReader, expected: _Expected,
                    upto: int) -> tuple[int, str] | None:
    found = expected.conflict
    if found is not None and found[0] == 0:
        return found
    limit = upto if found is None else min(upto, found[0] - 1)
    # a journal purged by retention starts after its anchor (the last purged entry), which
    # must itself agree with the signed checkpoints' mark of that seq
    anchor_of = getattr(reader, "anchor", None)
    start, anchor_hash = anchor_of() if anchor_of is not None else (0, GENESIS)
    signed_anchor = expected.marks.get(start) if start else None
    if signed_anchor is not None and not _agrees(signed_anchor[0], anchor_hash):
        return start, (f"the retained anchor's hash {anchor_hash[:16]}... at seq {start} "
                       f"differs from the signed checkpoint ({signed_anchor[0][:16]}...)")
    next_seq = start + 1
    for seq, digest in reader.hashes(start + 1, limit):
        if seq != next_seq:
            return next_seq, f"seq {next_seq} is missing from the chain"
        known = expected.marks.get(seq)
        if known is not None and not _agrees(known[0], digest):
            signed = known[1].signature
            return seq, (f"hash {digest[:16]}... differs from the checkpoint signed by "
                         f"{signed.signer!r} at {signed.signed_at} ({known[0][:16]}...): "
                         "the entry was edited, or the chain re-written from here")
        next_seq += 1
    if next_seq <= limit:
        return next_seq, f"seq {next_seq} is missing from the chain"
    return found if found is not None and found[0] <= upto else None
