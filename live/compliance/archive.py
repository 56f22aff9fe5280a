"""The read-only retention archive: a journal's rows (and the audit trail, and the report
files) exported to Parquet with a SHA-256 manifest signed by the exporting user, then made
read-only (files 0444, folders 0555).

:func:`verify_archive` checks the manifest's signature against the trusted directory, every
file's checksum (naming the file that differs, is missing or is extra), and that the
archived rows still form their hash chain from the manifest's first ``prev_hash`` to its
last ``hash`` - so an archive proves exactly which journal entries it holds, and a
retention purge can delete only rows an archive verifiably holds."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from live.canonical import canonical_json, sha256_hex
from live.governance.audit import AuditLog
from live.governance.identity import Directory, IdentityError
from live.governance.signing import Signature, SignatureError
from live.hashchain import entry_hash
from live.journal import JOURNAL, Journal, raw_entry_hash
from strategies.errors import BadInputError

ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig.json"
JOURNAL_FILE = "journal.parquet"
AUDIT_FILE = "audit.parquet"
REPORTS = "reports"
BATCH_ROWS = 10_000
_JOURNAL_SCHEMA = pa.schema([("seq", pa.int64()), ("ts_event", pa.string()),
                             ("ts_record", pa.string()), ("kind", pa.string()),
                             ("trace_id", pa.string()), ("body", pa.string()),
                             ("prev_hash", pa.string()), ("hash", pa.string())])
_AUDIT_SCHEMA = pa.schema([("seq", pa.int64()), ("ts", pa.string()), ("kind", pa.string()),
                           ("actor", pa.string()), ("body", pa.string()),
                           ("prev_hash", pa.string()), ("hash", pa.string())])

Signer = Callable[[Mapping[str, Any]], Signature]


class ArchiveError(BadInputError):
    """Base of archive errors."""


class ArchiveExistsError(ArchiveError, FileExistsError):
    """An archive of that name is already there (archives are never overwritten)."""


class ArchiveVerifyError(ArchiveError, ValueError):
    """An archive that does not verify; the file and the reason are named."""


@dataclass(frozen=True, slots=True)
class ChainRange:
    """The rows of a chain an archive holds: ``first_seq..last_seq``, chained from
    ``first_prev_hash`` (the entry before, or the genesis) to ``last_hash``."""

    first_seq: int
    last_seq: int
    first_prev_hash: str
    last_hash: str
    first_ts: str
    last_ts: str

    def to_json(self) -> dict[str, Any]:
        return {"first_seq": self.first_seq, "last_seq": self.last_seq,
                "first_prev_hash": self.first_prev_hash, "last_hash": self.last_hash,
                "first_ts": self.first_ts, "last_ts": self.last_ts}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_parquet(path: Path, schema: pa.Schema,
                   batches: Iterator[list[dict[str, Any]]]) -> None:
    with pq.ParquetWriter(path, schema) as writer:
        for rows in batches:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def _journal_batches(journal: Journal, seen: list[dict[str, Any]]
                     ) -> Iterator[list[dict[str, Any]]]:
    """The stored rows in pages; the first and the last are kept in ``seen``."""
    query = sa.select(*JOURNAL.c).order_by(JOURNAL.c.seq).limit(BATCH_ROWS)
    next_seq = 0
    while True:
        with journal.engine.connect() as conn:
            page = [dict(r._mapping) for r in conn.execute(query.where(
                JOURNAL.c.seq >= next_seq))]
        if not page:
            return
        if not seen:
            seen.append(page[0])
        seen[1:] = [page[-1]]
        yield page
        next_seq = page[-1]["seq"] + 1


def _range(first: Mapping[str, Any], last: Mapping[str, Any], ts: str) -> ChainRange:
    return ChainRange(first_seq=int(first["seq"]), last_seq=int(last["seq"]),
                      first_prev_hash=str(first["prev_hash"]), last_hash=str(last["hash"]),
                      first_ts=str(first[ts]), last_ts=str(last[ts]))


def _audit_rows(audit: AuditLog) -> list[dict[str, Any]]:
    return [{"seq": r.seq, "ts": r.ts, "kind": r.kind, "actor": r.actor,
             "body": canonical_json(r.body()).decode("utf-8"), "prev_hash": r.prev_hash,
             "hash": r.hash} for r in audit.records()]


def _copy_reports(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.is_symlink():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def _read_only(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    folder.chmod(0o555)


def archive_name(chain: str, journal_range: ChainRange) -> str:
    """``<chain>-<first seq>-<last seq>``: from the chain's name and integers only."""
    return f"{chain}-{journal_range.first_seq:010d}-{journal_range.last_seq:010d}"


def export_archive(root: Path, *, journal: Journal, chain: str, signer: Signer,
                   created_at: datetime, audit: AuditLog | None = None,
                   reports: Mapping[str, Path] | None = None) -> Path:
    """Export every stored row of ``journal`` (plus the audit trail, and the report files
    of each ``reports`` folder under ``reports/<key>/``) as a new read-only archive under
    ``root``; returns its folder.

    Raises
    ------
    ArchiveExistsError
        An archive of the same chain and range exists (never overwritten).
    ArchiveError
        The journal holds no row.
    """
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{chain}-{os.getpid()}"
    if staging.exists():
        _remove(staging)
    staging.mkdir()
    try:
        seen: list[dict[str, Any]] = []
        _write_parquet(staging / JOURNAL_FILE, _JOURNAL_SCHEMA, _journal_batches(journal, seen))
        if not seen:
            raise ArchiveError(f"{chain}: the journal holds no row to archive")
        journal_range = _range(seen[0], seen[-1], "ts_event")
        audit_range = None
        if audit is not None:
            rows = _audit_rows(audit)
            _write_parquet(staging / AUDIT_FILE, _AUDIT_SCHEMA, iter([rows] if rows else []))
            audit_range = _range(rows[0], rows[-1], "ts").to_json() if rows else None
        for key, source in sorted((reports or {}).items()):
            if source.is_dir():
                _copy_reports(source, staging / REPORTS / key)
        manifest = {
            "archive_version": ARCHIVE_VERSION, "chain": chain,
            "created_at": created_at.isoformat(), "journal": journal_range.to_json(),
            "audit": audit_range,
            "files": [{"path": p.relative_to(staging).as_posix(), "sha256": sha256_file(p),
                       "bytes": p.stat().st_size}
                      for p in sorted(staging.rglob("*")) if p.is_file()]}
        manifest_bytes = canonical_json(manifest)
        (staging / MANIFEST).write_bytes(manifest_bytes)
        signature = signer({"kind": "retention_archive",
                            "manifest_sha256": sha256_hex(manifest_bytes)})
        (staging / SIGNATURE).write_bytes(canonical_json(signature.to_dict()))
        target = root / archive_name(chain, journal_range)
        if target.exists():
            raise ArchiveExistsError(f"{target} exists: an archive is never overwritten")
        _read_only(staging)
        staging.chmod(0o755)  # renamed first, then closed
        staging.rename(target)
        target.chmod(0o555)
        return target
    except BaseException:
        if staging.exists():
            _remove(staging)
        raise


def _remove(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(stat.S_IRWXU)
    folder.chmod(stat.S_IRWXU)
    shutil.rmtree(folder)


@dataclass(frozen=True, slots=True)
class VerifiedArchive:
    """An archive that verified: its folder, manifest, signer and the journal rows'
    hashes by seq (what a purge compares the database with)."""

    folder: Path
    manifest: dict[str, Any]
    signer: str
    journal: ChainRange

    def journal_hashes(self) -> Iterator[tuple[int, str]]:
        for batch in pq.ParquetFile(self.folder / JOURNAL_FILE).iter_batches(
                batch_size=BATCH_ROWS, columns=["seq", "hash"]):
            yield from zip(batch.column("seq").to_pylist(), batch.column("hash").to_pylist(),
                           strict=True)


def _fail(path: Path, reason: str) -> ArchiveVerifyError:
    return ArchiveVerifyError(f"{path}: {reason}")


def _manifest(folder: Path, trust: Directory) -> tuple[dict[str, Any], str]:
    try:
        manifest_bytes = (folder / MANIFEST).read_bytes()
        manifest = json.loads(manifest_bytes)
        signature = Signature.from_dict(json.loads((folder / SIGNATURE).read_bytes()))
    except (OSError, ValueError, TypeError, SignatureError) as exc:
        raise _fail(folder, f"no readable manifest and signature ({exc})") from None
    payload = {"kind": "retention_archive", "manifest_sha256": sha256_hex(manifest_bytes)}
    try:
        user = trust.verify(payload, signature, now=signature.signed_time)
    except (SignatureError, IdentityError) as exc:
        raise _fail(folder / MANIFEST, f"signature refused: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("archive_version") != ARCHIVE_VERSION:
        raise _fail(folder / MANIFEST, "not an archive manifest of version "
                                       f"{ARCHIVE_VERSION}")
    return manifest, user.name


def _check_files(folder: Path, manifest: dict[str, Any]) -> None:
    listed = {str(f["path"]): f for f in manifest["files"]}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for extra in sorted(present - set(listed) - {MANIFEST, SIGNATURE}):
        raise _fail(folder / extra, "is not in the manifest (added after the export)")
    for name, entry in sorted(listed.items()):
        path = folder / name
        if name not in present:
            raise _fail(path, "is missing (listed in the manifest)")
        found = sha256_file(path)
        if found != entry["sha256"]:
            raise _fail(path, f"SHA-256 {found[:16]}... differs from the manifest's "
                              f"{str(entry['sha256'])[:16]}... (the file was altered)")


def _check_chain(path: Path, expected: Mapping[str, Any],
                 hash_row: Callable[[str, dict[str, Any]], str]) -> None:
    prev, want, count = str(expected["first_prev_hash"]), int(expected["first_seq"]), 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            if row["seq"] != want or row["prev_hash"] != prev:
                raise _fail(path, f"row seq {row['seq']} does not continue the chain "
                                  f"(expected seq {want})")
            if hash_row(prev, row) != row["hash"]:
                raise _fail(path, f"row seq {row['seq']}: hash does not match its content")
            prev, want, count = row["hash"], want + 1, count + 1
    if want - 1 != int(expected["last_seq"]) or prev != expected["last_hash"]:
        raise _fail(path, f"the rows end at seq {want - 1}, the manifest says "
                          f"{expected['last_seq']}")


def _journal_row_hash(prev: str, row: dict[str, Any]) -> str:
    return raw_entry_hash(prev, int(row["seq"]), str(row["body"]), str(row["ts_record"]))


def _audit_row_hash(prev: str, row: dict[str, Any]) -> str:
    return entry_hash(prev, int(row["seq"]), json.loads(row["body"]))


def verify_archive(folder: Path, trust: Directory) -> VerifiedArchive:
    """Check an archive end to end (see the module); returns what verified.

    Raises
    ------
    ArchiveVerifyError
        Naming the file that failed and why.
    """
    manifest, signer = _manifest(folder, trust)
    _check_files(folder, manifest)
    _check_chain(folder / JOURNAL_FILE, manifest["journal"], _journal_row_hash)
    if manifest.get("audit") is not None:
        _check_chain(folder / AUDIT_FILE, manifest["audit"], _audit_row_hash)
    journal = manifest["journal"]
    return VerifiedArchive(folder, manifest, signer, ChainRange(**journal))
