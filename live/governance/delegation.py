"""Session keys: a user's short-lived, narrow grant that lets a server-held key sign a few
actions (the operator page's pause, kill and re-arm request) in the user's name.

The user signs, with their own Ed25519 key and on their own machine, a grant naming a
random one-time challenge, the session's public key, the actions it may sign and (by the
signature's ``expires_at``) until when. The server then signs each action with the session
key and attaches the grant (:attr:`Signature.delegation`). Whoever verifies the action - the
governance service now, the runner later - checks the grant against the user's key in the
trusted roles (revocation included), that the session key is the granted one, that the
action is one the grant names, and that the action was signed while the grant was valid. The
user's key never leaves their machine; a stolen session key signs nothing else and nothing
after the grant expires.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from live.governance.signing import (
    KeyMismatchError,
    Signature,
    SignatureError,
    key_id,
    load_public_key_b64,
    public_key_b64,
)

GRANT_ACTION = "ops_session"
# what a page session may sign: the kill switch, a re-arm request (a maker's half only: the
# approval stays a risk officer's own signature), and the audit checkpoints around them
SESSION_ACTIONS = ("kill_switch", "rearm_request", "audit_checkpoint")
_CHALLENGE = re.compile(r"[0-9a-f]{32}")


class DelegationError(SignatureError):
    """A session grant that is malformed, does not cover the action, or names another key."""


def challenge_text(challenge: str, session_key: Ed25519PublicKey) -> str:
    """What the page shows the user to sign: ``<challenge>.<session public key, base64url>``."""
    raw = base64.b64decode(public_key_b64(session_key))
    return f"{challenge}.{base64.urlsafe_b64encode(raw).decode('ascii')}"


def parse_challenge(text: str) -> tuple[str, str]:
    """``(challenge, session public key base64)`` from :func:`challenge_text` output."""
    challenge, sep, key = text.strip().partition(".")
    if not sep or not _CHALLENGE.fullmatch(challenge):
        raise DelegationError(f"challenge {text!r:.80}: expected <32 hex digits>.<session "
                              "key>, as the operator page shows it")
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise DelegationError(f"challenge {text!r:.80}: the session key is not base64url "
                              f"({exc})") from None
    text_key = base64.b64encode(raw).decode("ascii")
    load_public_key_b64(text_key)  # 32 bytes, or InvalidPublicKeyError naming it
    return challenge, text_key


def grant_payload(challenge_with_key: str) -> dict[str, Any]:
    """The payload a user signs to grant a session key (``stratops ops login``)."""
    challenge, session_key = parse_challenge(challenge_with_key)
    return {"action": GRANT_ACTION, "challenge": challenge, "session_key": session_key,
            "actions": list(SESSION_ACTIONS)}


def action_of(payload: Mapping[str, Any]) -> str | None:
    """What a payload asks for: its ``action``, or ``audit_checkpoint`` for an audit-chain
    checkpoint (which carries no action field)."""
    action = payload.get("action")
    if isinstance(action, str):
        return action
    return "audit_checkpoint" if payload.get("chain") == "audit" else None


def split_grant(grant: Mapping[str, Any]) -> tuple[dict[str, Any], Signature]:
    """The grant's payload and the user's signature over it (not yet verified)."""
    try:
        payload, signature = grant["payload"], Signature.from_dict(grant["signature"])
    except (KeyError, TypeError) as exc:
        raise DelegationError(f"session grant is malformed: {exc!r}") from None
    if not isinstance(payload, Mapping) or payload.get("action") != GRANT_ACTION:
        raise DelegationError(f"session grant payload {payload!r:.120} is not an "
                              f"{GRANT_ACTION} grant")
    if signature.delegation is not None:
        raise DelegationError("a session grant must be signed with the user's own key, not "
                              "another session key")
    return dict(payload), signature


def granted_key(grant_payload_: Mapping[str, Any], payload: Mapping[str, Any],
                signature: Signature) -> Ed25519PublicKey:
    """The session key the grant names, after checking it covers ``payload``'s action and is
    the key ``signature`` names."""
    actions = grant_payload_.get("actions")
    action = action_of(payload)
    if action not in SESSION_ACTIONS:  # whatever a (tampered) grant lists
        raise DelegationError(f"session of {signature.signer!r}: a session key signs only "
                              f"{list(SESSION_ACTIONS)}, not {action!r}; sign it with your "
                              "own key")
    if not isinstance(actions, list) or action not in actions:
        raise DelegationError(f"session of {signature.signer!r} may sign {actions!r:.120}, "
                              f"not {action!r}")
    session_key = load_public_key_b64(str(grant_payload_.get("session_key")))
    if key_id(session_key) != signature.key_id:
        raise KeyMismatchError(f"signature by {signature.signer!r} names key "
                               f"{signature.key_id}, but its session grant is for key "
                               f"{key_id(session_key)}")
    return session_key


def session_keypair() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    """A fresh session key pair (held in the server's memory only)."""
    private = Ed25519PrivateKey.generate()
    return private, private.public_key()
