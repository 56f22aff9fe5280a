"""The runner's service identity: the private key that signs journal checkpoints.

It belongs to the service, not to a person: one PEM file at a configured path
(``live.service_key_file``), mode 0600 in a 0700 folder, owned in production by the
service's own Unix user, so operators (who may read the journal) cannot read it and cannot
sign a checkpoint over a journal they rewrote. Its public key is the ``runner`` user's in
the roles directory, which is what verification trusts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from live.db import private_dirs
from live.governance.signing import public_key_b64


class ServiceKeyError(Exception):
    """A service key file that is missing, exposed, already present or unreadable."""


def create_service_key(path: Path) -> str:
    """Write a new Ed25519 key to ``path`` (0600 from creation, folder 0700); return the
    base64 public key. An existing file is never overwritten."""
    private_dirs(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ServiceKeyError(f"{path}: a service key already exists; refusing to overwrite "
                              "it (move it away to rotate it)") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return public_key_b64(key.public_key())


def load_service_key(path: Path) -> Ed25519PrivateKey:
    """Read the service key, refusing a file that group or others can read or write."""
    try:
        with path.open("rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = handle.read()
    except FileNotFoundError:
        raise ServiceKeyError(f"{path}: no service key; create it as the service's user with "
                              "`stratops keys create-service`") from None
    except OSError as exc:
        raise ServiceKeyError(f"{path}: cannot read the service key ({exc})") from exc
    if mode & 0o077:
        raise ServiceKeyError(f"{path}: mode {mode:04o} lets group or others at the service "
                              f"key; refusing (run `chmod 600 {path}`)")
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ServiceKeyError(f"{path}: not a readable PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ServiceKeyError(f"{path}: holds a {type(key).__name__}, expected Ed25519")
    return key
