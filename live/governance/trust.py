"""The root of trust: which roles file is approved, proven by signatures kept outside the
governance database.

The trust lock (``roles.lock.json``, committed beside ``roles.yaml``) is a chain of entries.
Entry 1 (genesis) comes from the bootstrap ceremony: a listed user (maker) and a different
listed risk officer (checker) sign the SHA-256 of the first roles file, each with the key
that file gives them. Every later entry is a roles change: requested by a user listed in the
previous entry's roles and approved by a different risk officer listed there, both verified
against the previous entry's keys. Only the head entry's roles are ever used to check a
signature. A ``roles.yaml`` on disk that is not the head is a pending change: it blocks
approvals and grants nothing. A database row, a copied key file or an edited roles file
cannot change who may approve; changing the lock needs the signatures above, and replacing
the whole lock is refused where a desk pins its genesis digest (``governance.trust_root``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from live.canonical import digest
from live.governance.identity import Directory, IdentityError, User, parse_directory
from live.governance.signing import Signature, SignatureError

LOCK_SCHEMA = 1
MAKER_ROLES = ("quant", "desk_head", "risk_officer")
CHECKER_ROLE = "risk_officer"
_ENTRY_KEYS = frozenset({"seq", "sha256", "previous", "content", "request", "approval"})


class TrustError(IdentityError):
    """No trust lock, or one whose chain of signatures does not verify (names the entry)."""


@dataclass(frozen=True, slots=True)
class TrustedDirectory:
    """The roles of the lock's head entry, and where the roles file on disk stands."""

    directory: Directory
    head_seq: int
    head_sha: str
    root_sha: str
    on_disk_sha: str
    roles_path: Path
    lock_path: Path

    @property
    def pending(self) -> bool:
        """True when ``roles.yaml`` on disk is not the approved head (an unapproved edit)."""
        return self.on_disk_sha != self.head_sha

    def pending_problem(self) -> str | None:
        """Why approvals are blocked by the roles file, or None."""
        if not self.pending:
            return None
        return (f"{self.roles_path.name} (sha {self.on_disk_sha[:12]}) is not its approved "
                f"version (trust lock entry {self.head_seq}, sha {self.head_sha[:12]}); "
                f"request it: `stratops config request roles --reason ...`")


def lock_path_for(roles_path: Path) -> Path:
    """The trust lock kept beside a roles file: ``roles.yaml`` -> ``roles.lock.json``."""
    return roles_path.with_name(f"{roles_path.stem}.lock.json")


def sha256_text(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def request_payload(content_sha: str, previous: str | None, reason: str, file: str,
                    ) -> dict[str, Any]:
    """What the maker of a roles change signs (the ``config_request`` shape)."""
    return {"action": "config_request", "kind": "roles", "file": file, "sha256": content_sha,
            "previous": previous, "reason": reason}


def read_lock(lock_path: Path) -> list[dict[str, Any]]:
    """The lock's entries; a missing, unreadable or malformed lock is a :class:`TrustError`."""
    try:
        raw = json.loads(lock_path.read_bytes())
    except FileNotFoundError:
        raise TrustError(
            f"{lock_path}: no trust lock, so no signature can be trusted; run the bootstrap "
            f"ceremony: `stratops trust bootstrap --maker USER --checker RISK_OFFICER "
            f"--reason ...` (README, Root of trust)") from None
    except (OSError, ValueError) as exc:
        raise TrustError(f"{lock_path}: unreadable trust lock ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("schema") != LOCK_SCHEMA or \
            not isinstance(raw.get("entries"), list) or not raw["entries"]:
        raise TrustError(f"{lock_path}: not a trust lock (schema {LOCK_SCHEMA} with entries)")
    return list(raw["entries"])


def _verified(directory: Directory, half: Any, role: str | Sequence[str], label: str,
              where: str) -> tuple[User, str]:
    """Verify one signed half of an entry (at its signing time); its signer and key id."""
    try:
        payload, signature = half["payload"], Signature.from_dict(half["signature"])
        user = directory.verify(payload, signature, now=signature.signed_time)
    except (KeyError, TypeError, SignatureError, IdentityError) as exc:
        raise TrustError(f"{where}: {label} signature does not verify: {exc}") from exc
    roles = (role,) if isinstance(role, str) else tuple(role)
    if not set(roles) & user.roles:
        raise TrustError(f"{where}: {label} signer {user.name!r} has roles "
                         f"{sorted(user.roles)}; needs one of {list(roles)}")
    return user, signature.key_id


def verify_entry(entry: Mapping[str, Any], seq: int, previous: str | None,
                 signing: Directory | None, where: str) -> Directory:
    """Check one entry against the previous head; return the roles it makes trusted.

    ``signing`` is the previous entry's directory (None for genesis, which is signed by
    users of its own roles - the ceremony).
    """
    if not isinstance(entry, Mapping) or set(entry) != _ENTRY_KEYS:
        raise TrustError(f"{where}: entry fields must be {sorted(_ENTRY_KEYS)}")
    content = entry["content"]
    if entry["seq"] != seq or not isinstance(content, str):
        raise TrustError(f"{where}: seq {entry['seq']!r} != {seq} or content is not text")
    sha = sha256_text(content)
    if entry["sha256"] != sha or entry["previous"] != previous:
        raise TrustError(f"{where}: sha256/previous {entry['sha256']!r:.20}/"
                         f"{entry['previous']!r:.20} do not chain (content sha {sha[:12]}, "
                         f"previous head {str(previous)[:12]})")
    try:
        roles = parse_directory(content.encode("utf-8"), f"{where} roles")
    except IdentityError as exc:
        raise TrustError(str(exc)) from exc
    keys = roles if signing is None else signing
    request, approval = entry["request"], entry["approval"]
    maker, maker_key = _verified(keys, request, MAKER_ROLES, "request", where)
    checker, checker_key = _verified(keys, approval, CHECKER_ROLE, "approval", where)
    req = request["payload"]
    if req.get("action") != "config_request" or req.get("kind") != "roles" or \
            req.get("sha256") != sha or req.get("previous") != previous:
        raise TrustError(f"{where}: the request does not ask for this roles content")
    if approval["payload"].get("action") != "config_approve" or \
            approval["payload"].get("request_digest") != digest(req):
        raise TrustError(f"{where}: the approval does not approve this request")
    if maker.name == checker.name or maker_key == checker_key:
        raise TrustError(f"{where}: maker {maker.name!r} and checker {checker.name!r} must be "
                         "different people with different keys")
    return roles


def _verified_chain(lock: Path) -> tuple[list[dict[str, Any]], Directory | None, str | None]:
    """The lock's entries, each verified against the one before; the head's roles and sha."""
    entries = read_lock(lock)
    directory: Directory | None = None
    previous: str | None = None
    for index, entry in enumerate(entries, start=1):
        directory = verify_entry(entry, index, previous, directory, f"{lock} entry {index}")
        previous = entry["sha256"]
    return entries, directory, previous


def load_trusted(roles_path: Path, lock_path: Path | None = None,
                 pinned_root: str | None = None) -> TrustedDirectory:
    """Verify the whole lock and return the head's roles (what signatures are checked with).

    Raises :class:`TrustError` naming the first entry that does not verify, or when the
    genesis digest is not ``pinned_root`` (a replaced lock).
    """
    lock = lock_path or lock_path_for(roles_path)
    entries, directory, previous = _verified_chain(lock)
    assert directory is not None and previous is not None
    root = str(entries[0]["sha256"])
    if pinned_root is not None and root != pinned_root:
        raise TrustError(f"{lock}: genesis roles sha {root[:16]}... is not the pinned trust "
                         f"root {pinned_root[:16]}... (governance.trust_root): a replaced lock")
    try:
        on_disk = hashlib.sha256(roles_path.read_bytes()).hexdigest()
    except OSError:
        on_disk = "none"
    trusted = Directory(directory.users, previous, f"{lock.name} entry {len(entries)}",
                        directory.revoked)
    return TrustedDirectory(trusted, len(entries), previous, root, on_disk, roles_path, lock)


def new_entry(entries: Sequence[Mapping[str, Any]], content: str,
              request: Mapping[str, Any], approval: Mapping[str, Any]) -> dict[str, Any]:
    """The next entry after ``entries`` (empty for genesis)."""
    previous = entries[-1]["sha256"] if entries else None
    return {"seq": len(entries) + 1, "sha256": sha256_text(content), "previous": previous,
            "content": content, "request": dict(request), "approval": dict(approval)}


def write_lock(lock_path: Path, entries: Sequence[Mapping[str, Any]], *,
               create: bool = False) -> None:
    """Write the lock atomically (a temp file, fsync, rename); ``create`` refuses to replace
    an existing lock (the ceremony happens once)."""
    if create and lock_path.exists():
        raise TrustError(f"{lock_path}: a trust lock already exists; the bootstrap ceremony "
                         "happens once (change roles with `stratops config request roles`)")
    text = json.dumps({"schema": LOCK_SCHEMA, "entries": list(entries)}, indent=1,
                      sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{lock_path.name}.", dir=lock_path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # committed and public: it holds public keys and signatures
        os.replace(tmp, lock_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_verified(lock_path: Path, entry: Mapping[str, Any]) -> None:
    """Append ``entry`` after checking the lock and the entry verify (nothing half-written)."""
    entries, directory, previous = _verified_chain(lock_path)
    verify_entry(entry, len(entries) + 1, previous, directory,
                 f"{lock_path} new entry {len(entries) + 1}")
    write_lock(lock_path, [*entries, dict(entry)])


def bootstrap(roles_path: Path, lock_path: Path, reason: str, maker_sign: Any,
              checker_sign: Any) -> dict[str, Any]:
    """The ceremony: the first roles file, signed by a listed maker and a different listed
    risk officer (``*_sign`` take a payload and return a :class:`Signature`)."""
    if not reason.strip():
        raise TrustError("the bootstrap ceremony needs a reason (recorded and signed)")
    content = roles_path.read_text()
    request = request_payload(sha256_text(content), None, reason, roles_path.name)
    maker_sig: Signature = maker_sign(request)
    approval = {"action": "config_approve", "request_id": "genesis",
                "request_digest": digest(request)}
    checker_sig: Signature = checker_sign(approval)
    entry = new_entry([], content,
                      {"payload": request, "signature": maker_sig.to_dict()},
                      {"payload": approval, "signature": checker_sig.to_dict()})
    verify_entry(entry, 1, None, None, f"{lock_path} genesis")
    write_lock(lock_path, [entry], create=True)
    return entry
