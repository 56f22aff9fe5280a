"""An off-host copy of the signed checkpoint files (:mod:`live.checkpoints`), in a database
on another machine (PostgreSQL), so that someone who rewrites a journal *and* its local
checkpoint file on the runner's host is still caught.

The copy holds the local file's lines byte for byte (no second format), one row per line,
keyed by (chain, line number). It is append-only: :meth:`OffhostCheckpoints.sync` inserts
the lines the copy lacks, in one transaction, and refuses (without writing) when a line it
already holds differs from the local one: a rewritten local file never overwrites the copy.
Give the runner's database role INSERT and SELECT only (README, Scale-out stores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from live.checkpoints import Checkpoint, CheckpointError, CheckpointFormatError
from live.db import StoreUnavailableError, make_engine

TABLE = "stratops_checkpoints"
_AFTER_OUTAGE = ("nothing was half-written (each copy is one transaction); run `stratops "
                 "checkpoints sync` when the store is back")
_META = sa.MetaData()
_LINES = sa.Table(
    TABLE, _META,
    sa.Column("chain", sa.String(64), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("line", sa.Text, nullable=False),
)


class OffhostCheckpointError(CheckpointError):
    """The off-host copy disagrees with the local file, or cannot be read or written (the
    message names the chain, the line and the store; nothing was half-written)."""


@dataclass(frozen=True, slots=True)
class CopyReport:
    """The local file against the copy: lines in both, copied now, and the first line that
    differs (None: none), with why."""

    chain: str
    local_lines: int
    offhost_lines: int
    copied: int = 0
    first_mismatch: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Every local line is in the copy, unchanged, and the copy holds no other line."""
        return self.first_mismatch is None and self.local_lines == self.offhost_lines


def _local_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointFormatError(f"{path}: cannot read ({exc})") from exc


class OffhostCheckpoints:
    """The copy in the database at ``url`` (``postgresql://...``; a ``sqlite:///`` path only
    for tests or a separately mounted disk)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url, create=False, what="off-host checkpoint store",
                                      hint=_AFTER_OUTAGE)
            _META.create_all(self.engine)
        except StoreUnavailableError as exc:
            raise OffhostCheckpointError(str(exc)) from None
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable("open", exc) from None

    def _unavailable(self, doing: str, exc: Exception) -> OffhostCheckpointError:
        from live.db import redacted

        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return OffhostCheckpointError(
            f"off-host checkpoint store {redacted(self.url)}: cannot {doing} ({first}): "
            f"{_AFTER_OUTAGE}")

    def lines(self, chain: str) -> list[str]:
        """The copied lines of ``chain``, in file order."""
        query = sa.select(_LINES.c.line).where(_LINES.c.chain == chain) \
            .order_by(_LINES.c.line_no)
        try:
            with self.engine.connect() as conn:
                return [str(row[0]) for row in conn.execute(query)]
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable("read", exc) from None

    def checkpoints(self, chain: str) -> list[Checkpoint]:
        """The copied checkpoints of ``chain``, parsed as the local file's would be."""
        where = f"{TABLE}[{chain}]"
        found = []
        for number, line in enumerate(self.lines(chain), 1):
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise CheckpointFormatError(f"{where}:{number}: not JSON ({exc})") from None
            found.append(Checkpoint.from_dict(data, f"{where}:{number}"))
        return found

    def compare(self, path: Path, chain: str) -> CopyReport:
        """``path`` (the local checkpoint file) against the copy of ``chain``."""
        return _compare(chain, _local_lines(path), self.lines(chain))

    def sync(self, path: Path, chain: str) -> CopyReport:
        """Copy the local lines the copy lacks, in one transaction; nothing when a line
        already copied differs (the report names it) or the copy holds more lines."""
        local = _local_lines(path)
        try:
            with self.engine.begin() as conn:
                held = [str(r[0]) for r in conn.execute(
                    sa.select(_LINES.c.line).where(_LINES.c.chain == chain)
                    .order_by(_LINES.c.line_no).with_for_update())]
                report = _compare(chain, local, held)
                if report.first_mismatch is not None or len(held) >= len(local):
                    return report
                rows = [{"chain": chain, "line_no": n, "seq": json.loads(line)["seq"],
                         "line": line} for n, line in enumerate(local, 1) if n > len(held)]
                conn.execute(sa.insert(_LINES), rows)
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable("write", exc) from None
        return CopyReport(chain, len(local), len(local), copied=len(rows))

    def close(self) -> None:
        self.engine.dispose()


def _compare(chain: str, local: list[str], held: list[str]) -> CopyReport:
    mismatch, reason = _first_difference(local, held)
    return CopyReport(chain, len(local), len(held), first_mismatch=mismatch, reason=reason)


def _first_difference(local: list[str], held: list[str]) -> tuple[int | None, str]:
    """The first line where the local file and the copy disagree (None: none), and why."""
    for number, (mine, theirs) in enumerate(zip(local, held, strict=False), 1):
        if mine != theirs:
            return number, (f"line {number} of the local file differs from the off-host "
                            "copy: one of them was rewritten")
    if len(held) > len(local):
        return len(local) + 1, (f"the off-host copy holds {len(held)} lines, the local file "
                                f"{len(local)}: the local file lost lines")
    if len(local) > len(held):
        return None, f"lines {len(held) + 1}..{len(local)} are not copied yet"
    return None, ""
