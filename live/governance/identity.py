"""Who may do what: users, their roles and public keys (``roles.yaml``), and local key files.

The directory is reviewed YAML like gates and policies; its digest goes into every audit
record so a later change to who holds which role is visible. Private keys live outside the
repository (``default_keys_dir()``), one PEM file per user, readable by its owner only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from pydantic import BaseModel, ConfigDict, ValidationError

from live.governance.signing import (
    KeyMismatchError,
    Signature,
    SignatureError,
    key_id,
    load_public_key_b64,
    public_key_b64,
    sign,
    signed_bytes,
    verify,
)
from strategies.errors import BadInputError

ROLES = ("quant", "desk_head", "risk_officer", "runner")
Role = Literal["quant", "desk_head", "risk_officer", "runner"]
USER_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
KEYS_DIR_ENV = "STRATOPS_KEYS_DIR"


class IdentityError(BadInputError):
    """Base of identity, authorization and key-file errors."""


class IdentityConfigError(IdentityError):
    """``roles.yaml`` is unreadable, malformed, or names an unknown role, field or key."""


class UnknownUserError(IdentityError):
    """A user name that is not in the directory."""


class UnknownRoleError(IdentityError):
    """A role name that is not one of ``ROLES``."""


class AuthorizationError(IdentityError):
    """A known user lacks the role an action needs."""


class InvalidUserNameError(IdentityError):
    """A user name that does not match ``USER_NAME`` (it becomes a file name)."""


class KeyFileError(IdentityError):
    """A private key file that is missing, exposed, already present or unreadable."""


class KeyRevokedError(IdentityError):
    """A signature made with a key the trusted directory lists as revoked."""


@dataclass(frozen=True, slots=True)
class User:
    """One person or service: its name, roles and base64 raw Ed25519 public key."""

    name: str
    roles: frozenset[str]
    public_key_b64: str


@dataclass(frozen=True, slots=True)
class Directory:
    """The parsed ``roles.yaml``: users by name, plus the SHA-256 of the file bytes."""

    users: Mapping[str, User]
    digest: str
    source: str = "<memory>"
    revoked: frozenset[str] = frozenset()  # key ids that must never verify again

    def user(self, name: str) -> User:
        """The user called ``name``."""
        found = self.users.get(name)
        if found is None:
            raise UnknownUserError(f"{self.source}: unknown user {name!r}; known users: "
                                   f"{sorted(self.users)}")
        return found

    def require(self, name: str, role: str) -> User:
        """The user called ``name``, provided they hold ``role``."""
        if role not in ROLES:
            raise UnknownRoleError(f"unknown role {role!r}; roles are {list(ROLES)}")
        found = self.user(name)
        if role not in found.roles:
            raise AuthorizationError(f"user {name!r} has roles {sorted(found.roles)}, but this "
                                     f"needs role {role!r} ({self.source})")
        return found

    def verify(self, payload: Mapping[str, Any], signature: Signature, *,
               now: datetime) -> User:
        """Verify ``signature`` with the signer's key from this directory; return the signer.

        A session key's signature (``signature.delegation``) verifies when the user's grant
        does, at the time the action was signed, and covers this action
        (:mod:`live.governance.delegation`)."""
        if signature.delegation is not None:
            return self._verify_delegated(payload, signature, now=now)
        if signature.key_id in self.revoked:
            raise KeyRevokedError(f"signature by {signature.signer!r} was made with key "
                                  f"{signature.key_id}, which {self.source} lists as revoked")
        signer = self.user(signature.signer)
        public_key = load_public_key_b64(signer.public_key_b64)
        expected = key_id(public_key)
        if signature.key_id != expected:
            raise KeyMismatchError(
                f"signature by {signer.name!r} names key {signature.key_id}, but "
                f"{self.source} (digest {self.digest[:16]}) gives them key {expected}")
        verify(payload, signature, public_key, now=now)
        return signer

    def _verify_delegated(self, payload: Mapping[str, Any], signature: Signature, *,
                          now: datetime) -> User:
        from live.governance.delegation import DelegationError, granted_key, split_grant

        assert signature.delegation is not None
        grant, grant_signature = split_grant(signature.delegation)
        # the grant must have been valid when the action was signed (and verify as the user)
        user = self.verify(grant, grant_signature, now=signature.signed_time)
        if user.name != signature.signer:
            raise DelegationError(f"signature claims {signature.signer!r} but its session "
                                  f"grant is {user.name!r}'s")
        verify(payload, signature, granted_key(grant, payload, signature), now=now)
        return user

    def key_owner(self, payload: Mapping[str, Any], signature: Signature) -> str | None:
        """Which listed user's key really made ``signature`` over ``payload`` (ignoring the
        name it claims and its age), as ``"user (key id)"``; None when no listed key did."""
        try:
            value = base64.b64decode(signature.value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            return None
        message = signed_bytes(payload, signature)
        for user in self.users.values():
            public_key = load_public_key_b64(user.public_key_b64)
            try:
                public_key.verify(value, message)
            except InvalidSignature:
                continue
            return f"{user.name} ({key_id(public_key)})"
        return None

    def key_id_of(self, name: str) -> str:
        """The key id of ``name``'s listed public key."""
        return key_id(load_public_key_b64(self.user(name).public_key_b64))


class _UserEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: list[Role]
    public_key: str


class _RolesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    users: dict[str, _UserEntry]
    revoked_keys: dict[str, str] = {}  # key id -> why (a lost or leaked key, a leaver)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping key given twice (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_directory(path: Path) -> Directory:
    """Parse and validate ``roles.yaml``.

    Unknown fields and roles, invalid names or keys, a key shared by two users and an empty
    ``users`` are refused, each naming the file and the user or field.
    """
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise IdentityConfigError(f"{path}: cannot read ({exc})") from exc
    return parse_directory(raw_bytes, str(path))


def parse_directory(raw_bytes: bytes, path: str) -> Directory:
    """Parse and validate a roles file's bytes; ``path`` names it in errors."""
    try:
        raw = yaml.load(raw_bytes, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise IdentityConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise IdentityConfigError(f"{path}: expected a mapping with version and users, got "
                                  f"{type(raw).__name__}")
    try:
        parsed = _RolesFile.model_validate(raw)
    except ValidationError as exc:
        raise IdentityConfigError(f"{path}: {_describe(exc)}") from exc
    if not parsed.users:
        raise IdentityConfigError(f"{path}: users is empty; list at least one user")
    users = _build_users(path, parsed.users)
    revoked = frozenset(parsed.revoked_keys)
    for kid in sorted(revoked):
        if not re.fullmatch(r"[0-9a-f]{16}", kid):
            raise IdentityConfigError(f"{path}: revoked_keys.{kid}: not a 16-hex-digit key id")
    for user in users.values():
        kid = key_id(load_public_key_b64(user.public_key_b64))
        if kid in revoked:
            raise IdentityConfigError(f"{path}: users.{user.name}.public_key is key {kid}, "
                                      f"which revoked_keys lists; give them a new key")
    return Directory(MappingProxyType(users), hashlib.sha256(raw_bytes).hexdigest(), path,
                     revoked)


def _build_users(path: str, entries: Mapping[str, _UserEntry]) -> dict[str, User]:
    users: dict[str, User] = {}
    owner_of_key: dict[str, str] = {}
    for name, entry in entries.items():
        if not USER_NAME.fullmatch(name):
            raise IdentityConfigError(f"{path}: users.{name}: invalid user name; names match "
                                      f"{USER_NAME.pattern}")
        if not entry.roles:
            raise IdentityConfigError(f"{path}: users.{name}.roles is empty")
        if "runner" in entry.roles and len(set(entry.roles)) > 1:
            raise IdentityConfigError(
                f"{path}: users.{name}.roles {entry.roles}: a service identity (runner) holds "
                "no human role, so its key can never make or check a decision")
        try:
            canonical_key = public_key_b64(load_public_key_b64(entry.public_key))
        except SignatureError as exc:
            raise IdentityConfigError(f"{path}: users.{name}.public_key: {exc}") from exc
        if canonical_key in owner_of_key:
            raise IdentityConfigError(
                f"{path}: users.{name}.public_key is the same key as "
                f"users.{owner_of_key[canonical_key]}.public_key; each user needs their own key")
        owner_of_key[canonical_key] = name
        users[name] = User(name, frozenset(entry.roles), canonical_key)
    return users


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "<root>"
        parts.append(f"{where}: {error['msg']} (got {error.get('input')!r:.80})")
    return "; ".join(parts)


def default_keys_dir() -> Path:
    """``$STRATOPS_KEYS_DIR`` if set, else ``~/.config/stratops/keys`` (never the repo)."""
    configured = os.environ.get(KEYS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "stratops" / "keys"


def key_path(user: str, keys_dir: Path) -> Path:
    """Where ``user``'s private key lives under ``keys_dir``."""
    _check_user_name(user)
    return keys_dir / f"{user}.key"


def create_keys(user: str, keys_dir: Path, *, overwrite: bool = False,
                passphrase: bytes | None = None) -> tuple[Path, str]:
    """Generate an Ed25519 key pair for ``user``; return the key file and the public key.

    The private key is PKCS8 PEM, mode 0600 from creation, in a 0700 directory; it is
    unencrypted unless ``passphrase`` is given. A desk should keep keys in an encrypted
    store or an HSM; this file form is for a single workstation and the demo.
    """
    path = key_path(user, keys_dir)
    if not keys_dir.exists():
        keys_dir.mkdir(mode=0o700, parents=True)
        keys_dir.chmod(0o700)  # mkdir's mode is filtered by the umask
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path}: a key for {user!r} already exists; refusing to overwrite "
                           f"it (pass overwrite=True to replace it)")
    private_key = Ed25519PrivateKey.generate()
    encryption = NoEncryption() if passphrase is None else BestAvailableEncryption(passphrase)
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    if overwrite:
        partial = keys_dir / f".{user}.key.{os.getpid()}.tmp"
        write_owner_only(partial, pem)
        os.replace(partial, path)
    else:
        write_owner_only(path, pem)
    return path, public_key_b64(private_key.public_key())


def write_owner_only(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 holding ``data`` (fsynced); never replaces a file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; refusing to overwrite it") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def load_private_key(user: str, keys_dir: Path, *,
                     passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Read ``user``'s private key, refusing a file that group or others can read."""
    return read_owner_only_key(key_path(user, keys_dir), passphrase=passphrase,
                               missing=f"no private key for {user!r}; run "
                                       f"`stratops keys create {user}`")


def read_owner_only_key(path: Path, *, passphrase: bytes | None = None,
                        missing: str = "no private key") -> Ed25519PrivateKey:
    """An Ed25519 PEM key file readable by its owner only (a person's or a service's)."""
    try:
        with path.open("rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = handle.read()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: {missing}") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc})") from exc
    if mode & 0o077:
        raise KeyFileError(f"{path}: mode {mode:04o} lets group or others read it; refusing "
                           f"(run `chmod 600 {path}`)")
    try:
        key = load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a readable PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: holds a {type(key).__name__}, expected an Ed25519 key")
    return key


def _check_user_name(user: str) -> None:
    if not isinstance(user, str) or not USER_NAME.fullmatch(user):
        raise InvalidUserNameError(f"invalid user name {user!r}; names match "
                                   f"{USER_NAME.pattern}")


@dataclass(frozen=True, slots=True)
class Actor:
    """A user together with their private key: the one who signs an approval."""

    user: User
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        held = key_id(self.private_key.public_key())
        listed = key_id(load_public_key_b64(self.user.public_key_b64))
        if held != listed:
            raise KeyMismatchError(
                f"private key for {self.user.name!r} is key {held}, but the directory gives "
                f"them key {listed}")

    def sign(self, payload: Mapping[str, Any], *, now: datetime,
             ttl_seconds: int) -> Signature:
        """Sign ``payload`` as this user."""
        return sign(payload, self.private_key, self.user.name, now=now,
                    ttl_seconds=ttl_seconds)


def load_actor(directory: Directory, name: str, keys_dir: Path | None = None, *,
               passphrase: bytes | None = None) -> Actor:
    """The directory's user ``name`` with their private key from ``keys_dir``."""
    folder = default_keys_dir() if keys_dir is None else keys_dir
    return Actor(directory.user(name), load_private_key(name, folder, passphrase=passphrase))
