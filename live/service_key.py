"""The runner's service identity: the private key that signs journal checkpoints.

It belongs to the service, not to a person: one PEM file at a configured path
(``live.service_key_file``), mode 0600 in a 0700 folder, owned in production by the
service's own Unix user, so operators (who may read the journal) cannot read it and cannot
sign a checkpoint over a journal they rewrote. Its public key is the ``runner`` user's in
the roles directory, which is what verification trusts.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from live.db import private_dirs
from live.governance.identity import KeyFileError, read_owner_only_key, write_owner_only
from live.governance.signing import public_key_b64


class ServiceKeyError(KeyFileError):
    """A service key file that is missing, exposed, already present or unreadable."""


def create_service_key(path: Path) -> str:
    """Write a new Ed25519 key to ``path`` (0600 from creation, folder 0700); return the
    base64 public key. An existing file is never overwritten."""
    private_dirs(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        write_owner_only(path, pem)
    except KeyFileError as exc:
        raise ServiceKeyError(f"{exc} (a service key; move it away to rotate it)") from exc
    return public_key_b64(key.public_key())


def load_service_key(path: Path) -> Ed25519PrivateKey:
    """Read the service key, refusing a file that group or others can read or write."""
    try:
        return read_owner_only_key(path, missing="no service key; create it as the service's "
                                                 "user with `stratops keys create-service`")
    except KeyFileError as exc:
        raise ServiceKeyError(str(exc)) from exc
