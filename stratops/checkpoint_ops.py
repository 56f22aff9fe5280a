"""Checkpoints from settings: where their files are, who signs them, who is trusted.

The journal's are signed by the runner's service identity (``live.service_key_file``, the
roles file's ``live.service_user``, role ``runner``); the audit log's by the acting user of
each governance command. Both are verified against the roles directory (the lead's pinned
trust file can be passed instead: anything :func:`live.checkpoints.verify_signature` takes).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from live.checkpoint_offhost import CopyReport
from live.checkpoint_writer import Checkpointer, locked
from live.checkpoints import (
    ChainReader,
    Checkpoint,
    CheckpointSignatureError,
    CheckpointVerdict,
    Signer,
    Trust,
    read_checkpoints,
    verify_against,
)
from stratops.settings import Settings

AUDIT_CHAIN = "audit"
RUNNER_ROLE = "runner"


def journal_chain(mode: str) -> str:
    return f"journal-{mode}"


def journal_checkpoint_file(settings: Settings, mode: str) -> Path:
    return settings.path(settings.live.checkpoint_dir) / f"{journal_chain(mode)}.jsonl"


def audit_checkpoint_file(settings: Settings) -> Path:
    return settings.path(settings.governance.checkpoint_dir) / f"{AUDIT_CHAIN}.jsonl"


def service_signer(settings: Settings, directory: Any) -> Signer:
    """Sign as the runner's service identity; its key must be the directory's
    ``live.service_user`` key and that user must hold role ``runner``.

    Raises
    ------
    ServiceKeyError, IdentityError
        No readable, private key file; or a key the directory does not give that user.
    """
    from live.governance.identity import Actor
    from live.service_key import load_service_key
    from stratops.clock import utc_now

    key = load_service_key(settings.path(settings.live.service_key_file))
    actor = Actor(directory.require(settings.live.service_user, RUNNER_ROLE), key)
    ttl = settings.governance.signature_ttl_seconds
    return lambda payload: actor.sign(payload, now=utc_now(), ttl_seconds=ttl)


def offhost_mirror(settings: Settings) -> Callable[[Path, str], object] | None:
    """Copy a checkpoint file's new lines off the host (``offhost_checkpoints.url``) after
    each write; None when no copy is configured.

    The callable raises :class:`~live.checkpoint_offhost.OffhostCheckpointError` when the
    store is unreachable (nothing half-written) or holds a line that differs."""
    url = settings.offhost_checkpoints.url
    if url is None:
        return None
    from live.checkpoint_offhost import OffhostCheckpointError, OffhostCheckpoints

    opened: list[OffhostCheckpoints] = []

    def mirror(path: Path, chain: str) -> object:
        if not opened:
            opened.append(OffhostCheckpoints(url))
        report = opened[0].sync(path, chain)
        if report.first_mismatch is not None:
            raise OffhostCheckpointError(f"{path} ({chain}): {report.reason}")
        return report

    return mirror


def journal_checkpointer(settings: Settings, mode: str, journal: ChainReader, signer: Signer,
                         trust: Trust) -> Checkpointer:
    """Resume MODE's journal checkpoints (refusing a journal that no longer matches them)
    and write an unsealed checkpoint of the head: a session is open."""
    checkpointer = Checkpointer(journal_checkpoint_file(settings, mode), journal_chain(mode),
                                signer, trust, role=RUNNER_ROLE,
                                every=settings.live.checkpoint_every,
                                mirror=offhost_mirror(settings))
    with locked(checkpointer.path):
        checkpointer.resume(journal)
        checkpointer.checkpoint(sealed=False)
    return checkpointer


class AuditCheckpoints:
    """The audit log's checkpoints around one governance command, under one file lock:
    :meth:`open` checks the log against the file and writes an unsealed checkpoint (a
    command is running); :meth:`seal` signs the head after it; :meth:`release` unlocks.

    Checking before the command is what lets the seal attest the command's own records: any
    record appended after the previous seal and before :meth:`open` is refused there.
    """

    def __init__(self, settings: Settings, log: ChainReader, signer: Signer,
                 trust: Trust) -> None:
        self.path = audit_checkpoint_file(settings)
        self.log = log
        self.checkpointer = Checkpointer(self.path, AUDIT_CHAIN, signer, trust,
                                         mirror=offhost_mirror(settings))
        self._lock = ExitStack()
        self._locked = False

    def _hold_lock(self) -> None:
        if not self._locked:
            self._lock.enter_context(locked(self.path))
            self._locked = True

    def open(self) -> Checkpoint:
        """Lock, check the log against its checkpoints, write an unsealed checkpoint.

        Raises
        ------
        CheckpointMismatchError
            Truncated, rewritten, or appended to after the last seal (names the seq).
        """
        self._hold_lock()
        self.checkpointer.resume(self.log)
        return self.checkpointer.checkpoint(sealed=False)

    def seal(self, *, accept_appended: bool = False) -> Checkpoint:
        """Re-check the log (the command's records follow the open checkpoint) and seal its
        head; ``accept_appended`` attests records after a previous seal (after review)."""
        self._hold_lock()
        self.checkpointer.resume(self.log, accept_appended=accept_appended)
        return self.checkpointer.checkpoint(sealed=True)

    def release(self) -> None:
        self._lock.close()
        self._locked = False


def checkpoint_audit(settings: Settings, log: ChainReader, signer: Signer, trust: Trust, *,
                     accept_appended: bool = False) -> Checkpoint:
    """Seal the audit log's head now, signed by ``signer`` (``stratops audit checkpoint``)."""
    checkpoints = AuditCheckpoints(settings, log, signer, trust)
    try:
        return checkpoints.seal(accept_appended=accept_appended)
    finally:
        checkpoints.release()


@dataclass(frozen=True, slots=True)
class AgainstResult:
    """Which checkpoint file was used (None: none given and none configured) and verdict."""

    path: Path | None
    verdict: CheckpointVerdict | None
    implicit: bool


def check_against(reader: ChainReader, given: Path | None, configured: Path,
                  trust: Trust | None, *,
                  chain: str, role: str | None) -> AgainstResult:
    """Verify against ``given``, else the configured file if it exists (``implicit``)."""
    path = given if given is not None else configured if configured.exists() else None
    if path is None:
        return AgainstResult(None, None, False)
    if trust is None:
        raise CheckpointSignatureError(
            f"{path}: no trust lock, so no checkpoint signature can be checked (run the "
            "bootstrap ceremony: stratops trust bootstrap)")
    verdict = verify_against(reader, read_checkpoints(path), trust, chain=chain, role=role)
    return AgainstResult(path, verdict, given is None)


@dataclass(frozen=True, slots=True)
class OffhostResult:
    """The local checkpoint file against its off-host copy, and the chain against the copy's
    checkpoints (None: the copy holds none of this chain)."""

    copy: CopyReport
    verdict: CheckpointVerdict | None


def check_offhost(settings: Settings, reader: ChainReader, local: Path, trust: Trust | None,
                  *, chain: str, role: str | None) -> OffhostResult:
    """Verify ``reader`` against the off-host copy of ``chain`` (not the local file), and
    compare the local file with that copy.

    Raises
    ------
    OffhostCheckpointError
        No copy is configured (``offhost_checkpoints.url``) or the store is unreachable.
    CheckpointSignatureError
        No trust lock, or a copied checkpoint whose signature does not verify.
    """
    from live.checkpoint_offhost import OffhostCheckpointError, OffhostCheckpoints

    url = settings.offhost_checkpoints.url
    if url is None:
        raise OffhostCheckpointError(
            "offhost_checkpoints.url is not set: there is no off-host copy to verify from "
            "(README, Scale-out stores and deployment)")
    store = OffhostCheckpoints(url)
    try:
        copy = store.compare(local, chain)
        copied = store.checkpoints(chain)
    finally:
        store.close()
    if not copied:
        return OffhostResult(copy, None)
    if trust is None:
        raise CheckpointSignatureError(
            f"off-host copy of {chain}: no trust lock, so no checkpoint signature can be "
            "checked (run the bootstrap ceremony: stratops trust bootstrap)")
    return OffhostResult(copy, verify_against(reader, copied, trust, chain=chain, role=role))


def sync_offhost(settings: Settings) -> list[CopyReport]:
    """Copy every local checkpoint file's missing lines off the host (after an outage).

    Raises
    ------
    OffhostCheckpointError
        No copy is configured, or the store is unreachable (nothing half-written).
    """
    from live.checkpoint_offhost import OffhostCheckpointError, OffhostCheckpoints

    url = settings.offhost_checkpoints.url
    if url is None:
        raise OffhostCheckpointError("offhost_checkpoints.url is not set: nowhere to copy to")
    files = [(audit_checkpoint_file(settings), AUDIT_CHAIN)] + [
        (journal_checkpoint_file(settings, mode), journal_chain(mode))
        for mode in ("shadow", "canary", "live")]
    store = OffhostCheckpoints(url)
    try:
        return [store.sync(path, chain) for path, chain in files if path.exists()]
    finally:
        store.close()
