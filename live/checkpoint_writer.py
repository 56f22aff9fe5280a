"""Writing checkpoints (:mod:`live.checkpoints`): appended durably to a private file, one
writer at a time, every N entries of a chain and when its writer seals it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from live.canonical import canonical_json
from live.checkpoints import (
    MAX_MARKS,
    ChainReader,
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
    CheckpointVerdict,
    CheckpointWriteError,
    Signer,
    Trust,
    make_checkpoint,
    read_checkpoints,
    verify_against,
    verify_signature,
)
from live.db import fsync_dir, private_dirs
from live.hashchain import GENESIS


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line durably: folder 0700, file 0600 from creation, fsync file and folder."""
    line = canonical_json(checkpoint.to_dict()) + b"\n"
    try:
        created = private_dirs(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created or path.stat().st_size == len(line):
            fsync_dir(path.parent)
    except OSError as exc:
        raise CheckpointWriteError(f"{path}: checkpoint of {checkpoint.chain} at seq "
                                   f"{checkpoint.seq} not written ({exc})") from exc


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path`` (``<path>.lock``): one checkpoint writer at a time."""
    private_dirs(path.parent)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)



# -- writing ------------------------------------------------------------------------------

class Checkpointer:
    """Writes signed checkpoints of one chain to one file: every ``every`` entries (fed by
    :meth:`note`), and on request (a session end seals).

    Call :meth:`resume` first: it checks the chain against the file's checkpoints and
    refuses (fail closed) to extend a file the chain no longer matches.
    """

    def __init__(self, path: Path, chain: str, signer: Signer, trust: Trust, *,
                 role: str | None = None, every: int = 1000,
                 mirror: Callable[[Path, str], object] | None = None) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every <= 0:
            raise ValueError(f"checkpoint every={every!r}: must be a positive int")
        self.path, self.chain, self.signer, self.trust = path, chain, signer, trust
        self.role, self.every = role, every
        self.mirror = mirror  # called with (path, chain) after each write: the off-host copy
        self._last: Checkpoint | None = None
        self._pending: list[tuple[int, str]] = []
        self._head: tuple[int, str] = (0, GENESIS)
        self._resumed = False

    @property
    def last(self) -> Checkpoint | None:
        """The newest checkpoint in the file (read or written by this object)."""
        return self._last

    def resume(self, reader: ChainReader, *, accept_appended: bool = False
               ) -> CheckpointVerdict | None:
        """Check ``reader`` against the file (if any) and load the marks since its last
        checkpoint. ``accept_appended``: entries after a sealed checkpoint are attested by
        the next checkpoint (a reviewed decision) instead of refused.

        Raises
        ------
        CheckpointMismatchError
            The chain was truncated or rewritten (or appended to after a seal).
        CheckpointSignatureError, CheckpointFormatError, CheckpointChainError
            The file holds a checkpoint that cannot be trusted.
        """
        verdict = None
        if self.path.exists():
            existing = read_checkpoints(self.path)
            verdict = verify_against(reader, existing, self.trust, chain=self.chain,
                                     role=self.role)
            if not verdict.ok and not (accept_appended and verdict.finding == "appended"):
                raise CheckpointMismatchError(verdict)
            self._last = max(existing, key=lambda c: c.seq)
        self._head = reader.head()
        start = 1 if self._last is None else self._last.seq + 1
        start = max(start, self._head[0] - MAX_MARKS + 1)
        self._pending = list(reader.hashes(start, self._head[0]))
        self._resumed = True
        return verdict

    def note(self, appended: Sequence[tuple[int, str]]) -> Checkpoint | None:
        """Entries just committed, as (seq, hash); writes a checkpoint when a multiple of
        ``every`` was crossed."""
        if not appended:
            return None
        self._require_resumed()
        self._pending.extend(appended)
        self._pending = self._pending[-MAX_MARKS:]
        before = self._head[0]
        self._head = appended[-1]
        if self._head[0] // self.every > before // self.every:
            return self.checkpoint(sealed=False)
        return None

    def checkpoint(self, *, sealed: bool) -> Checkpoint:
        """Sign and append a checkpoint of the current head (``sealed`` at a session end).

        The new checkpoint is verified against the trusted keys before it is written, so a
        key that the directory does not list never produces an unverifiable file.
        """
        self._require_resumed()
        made = make_checkpoint(self.chain, self._head, self._pending, sealed=sealed,
                               signer=self.signer)
        verify_signature(made, self.trust, role=self.role)
        append_checkpoint(self.path, made)
        self._last, self._pending = made, []
        if self.mirror is not None:  # after the local line is durable; its errors propagate
            self.mirror(self.path, self.chain)
        return made

    def _require_resumed(self) -> None:
        if not self._resumed:
            raise CheckpointError(f"{self.path}: call resume() before writing checkpoints")
