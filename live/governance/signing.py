"""Ed25519 signatures over canonical JSON, with signer metadata, expiry and a nonce.

The signed bytes cover the payload *and* the metadata (signer, key id, times, nonce), so none
of them can be altered without breaking the signature. Time is injected (``now``), never
read here, so a replayed journal verifies exactly as it did live.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from live.canonical import canonical_json, digest
from strategies.errors import BadInputError

ALGORITHM = "ed25519"
MAX_CLOCK_SKEW = timedelta(seconds=60)  # a signature dated further ahead than this is refused
_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_SIGNATURE_BYTES = 64
_PUBLIC_KEY_BYTES = 32
_ZERO_SIGNATURE = base64.b64encode(bytes(_SIGNATURE_BYTES)).decode("ascii")


class SignatureError(BadInputError, ValueError):
    """A signature or key that cannot be trusted; subclasses say why."""


class MalformedSignatureError(SignatureError):
    """A signature record with a missing, unknown or invalid field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"signature field {field!r}: {message}")
        self.field = field


class InvalidPublicKeyError(SignatureError):
    """Text that is not a base64 raw 32-byte Ed25519 public key."""


class ForgedSignatureError(SignatureError):
    """The signature does not verify: the payload or the signed metadata was altered."""


class ExpiredSignatureError(SignatureError):
    """The signature is past ``expires_at``, or dated in the future beyond the clock skew."""


class KeyMismatchError(SignatureError):
    """The signature names a key id that is not the key it is checked against."""


@dataclass(frozen=True, slots=True)
class Signature:
    """A detached Ed25519 signature and the metadata it covers (times are ISO-8601 UTC)."""

    signer: str
    key_id: str
    algorithm: str
    signed_at: str
    expires_at: str
    nonce: str
    value: str
    # a session key's signature: the user's signed grant of that key (live.governance.
    # delegation); the grant is checked against the user's listed key, never trusted as is
    delegation: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.delegation is not None and not isinstance(self.delegation, Mapping):
            raise MalformedSignatureError("delegation", f"must be a mapping, got "
                                          f"{self.delegation!r:.80}")
        for f in fields(self):
            if f.name == "delegation":
                continue
            if not isinstance(getattr(self, f.name), str):
                raise MalformedSignatureError(f.name, f"must be a string, got "
                                              f"{getattr(self, f.name)!r:.80}")
        if not self.signer:
            raise MalformedSignatureError("signer", "is empty")
        if not _HEX16.fullmatch(self.key_id):
            raise MalformedSignatureError("key_id", f"{self.key_id!r:.80} is not 16 hex digits")
        if self.algorithm != ALGORITHM:
            raise MalformedSignatureError("algorithm",
                                          f"{self.algorithm!r:.80} is not {ALGORITHM!r}")
        if not _HEX32.fullmatch(self.nonce):
            raise MalformedSignatureError("nonce", f"{self.nonce!r:.80} is not 32 hex digits")
        if self.signed_time >= self.expires_time:
            raise MalformedSignatureError(
                "expires_at", f"{self.expires_at} is not after signed_at {self.signed_at}")
        _decode_b64("value", self.value, _SIGNATURE_BYTES)

    @property
    def signed_time(self) -> datetime:
        """``signed_at`` as an aware UTC datetime."""
        return _parse_utc("signed_at", self.signed_at)

    @property
    def expires_time(self) -> datetime:
        """``expires_at`` as an aware UTC datetime."""
        return _parse_utc("expires_at", self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain strings (and a session key's grant), for JSON storage next to
        what it signs."""
        out: dict[str, Any] = asdict(self)
        if self.delegation is None:
            del out["delegation"]
        else:
            out["delegation"] = dict(self.delegation)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Rebuild a record from ``to_dict`` output; a missing or unknown field is refused."""
        if not isinstance(data, Mapping):
            raise MalformedSignatureError("<record>", f"must be a mapping, got {data!r:.80}")
        names = [f.name for f in fields(cls)]
        for name in names:
            if name not in data and name != "delegation":
                raise MalformedSignatureError(name, "is missing")
        unknown = sorted(str(k) for k in data if k not in names)
        if unknown:
            raise MalformedSignatureError(unknown[0], "is not a signature field")
        return cls(**{name: data[name] for name in names if name in data})


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64, as written in ``roles.yaml``."""
    return base64.b64encode(_raw(public_key)).decode("ascii")


def load_public_key_b64(text: str) -> Ed25519PublicKey:
    """Parse a base64 raw 32-byte Ed25519 public key."""
    if not isinstance(text, str):
        raise InvalidPublicKeyError(f"public key {text!r:.80} is not a base64 string")
    try:
        raw = _decode_b64("public_key", text, _PUBLIC_KEY_BYTES)
    except MalformedSignatureError as exc:
        raise InvalidPublicKeyError(f"public key {text!r:.80}: {exc}") from exc
    return Ed25519PublicKey.from_public_bytes(raw)


def signed_bytes(payload: Mapping[str, Any], signature: Signature) -> bytes:
    """The exact bytes a signature covers: canonical JSON of the payload and its metadata."""
    return _message(payload, signature.signer, signature.key_id, signature.signed_at,
                    signature.expires_at, signature.nonce)


def sign(payload: Mapping[str, Any], private_key: Ed25519PrivateKey, signer: str, *,
         now: datetime, ttl_seconds: int, nonce: str | None = None) -> Signature:
    """Sign ``payload`` as ``signer`` at ``now``, valid for ``ttl_seconds``.

    ``nonce`` defaults to 16 random bytes (hex) so two signatures of one payload differ.
    """
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
        raise SignatureError(f"ttl_seconds must be a positive int, got {ttl_seconds!r}")
    start = _require_aware("now", now)
    nonce = secrets.token_hex(16) if nonce is None else nonce
    kid = key_id(private_key.public_key())
    signed_at = _format_utc(start)
    expires_at = _format_utc(start + timedelta(seconds=ttl_seconds))
    # validate the metadata before signing, so a bad signer or nonce never gets a signature
    draft = Signature(signer, kid, ALGORITHM, signed_at, expires_at, nonce, _ZERO_SIGNATURE)
    value = private_key.sign(signed_bytes(payload, draft))
    return Signature(signer, kid, ALGORITHM, signed_at, expires_at, nonce,
                     base64.b64encode(value).decode("ascii"))


def verify(payload: Mapping[str, Any], signature: Signature, public_key: Ed25519PublicKey, *,
           now: datetime) -> None:
    """Check that ``signature`` is ``public_key``'s over ``payload`` and is current at ``now``.

    Authenticity is checked before time, so altered metadata is reported as forged.
    """
    at = _require_aware("now", now)
    expected = key_id(public_key)
    if signature.key_id != expected:
        raise KeyMismatchError(f"signature by {signature.signer!r} names key "
                               f"{signature.key_id}, but the verifying key is {expected}")
    value = _decode_b64("value", signature.value, _SIGNATURE_BYTES)
    try:
        public_key.verify(value, signed_bytes(payload, signature))
    except InvalidSignature:
        raise ForgedSignatureError(
            f"signature by {signature.signer!r} (key {signature.key_id}, signed_at "
            f"{signature.signed_at}) does not verify over payload digest "
            f"{digest(dict(payload))[:16]}: the payload or its metadata was altered") from None
    if at > signature.expires_time:
        raise ExpiredSignatureError(f"signature by {signature.signer!r} expired at "
                                    f"{signature.expires_at}; now is {_format_utc(at)}")
    if signature.signed_time > at + MAX_CLOCK_SKEW:
        raise ExpiredSignatureError(
            f"signature by {signature.signer!r} is dated {signature.signed_at}, more than "
            f"{MAX_CLOCK_SKEW.total_seconds():.0f} s after now {_format_utc(at)}")



def _message(payload: Mapping[str, Any], signer: str, kid: str, signed_at: str,
             expires_at: str, nonce: str) -> bytes:
    return canonical_json({"payload": dict(payload), "signer": signer, "key_id": kid,
                           "algorithm": ALGORITHM, "signed_at": signed_at,
                           "expires_at": expires_at, "nonce": nonce})


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _decode_b64(field: str, text: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MalformedSignatureError(field, f"{text!r:.80} is not base64 ({exc})") from None
    if len(raw) != length:
        raise MalformedSignatureError(field, f"{text!r:.80} decodes to {len(raw)} bytes, "
                                             f"expected {length}")
    return raw


def _require_aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise SignatureError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _format_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_utc(field: str, text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedSignatureError(field, f"{text!r:.80} is not an ISO-8601 time") from None
    if parsed.utcoffset() != timedelta(0):
        raise MalformedSignatureError(field, f"{text!r:.80} is not a UTC time")
    return parsed.astimezone(UTC)
