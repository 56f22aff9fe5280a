"""Sign-in for the operator page: a one-time challenge the user signs with the CLI, a
session bound to that identity, and the session's signer for the governed actions.

Flow (README, Operator web page): the page asks for a challenge (32 random hex digits and
a fresh session public key; the private half stays in this process's memory); the user runs
``stratops ops login --challenge <text> --as <user>``, which signs a session grant with their
own key file and prints a token; the page posts the token; :meth:`OpsAuth.login` checks the
challenge (known, unused, not expired, naming this session key), the signature against the
trusted roles, and the role; then a session cookie (HttpOnly, SameSite=Strict, short) and a
CSRF token (sent back in a header on every POST) are issued. Every refusal is audited.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live.canonical import canonical_json
from live.governance.delegation import (
    GRANT_ACTION,
    DelegationError,
    challenge_text,
    session_keypair,
)
from live.governance.identity import Directory, IdentityError
from live.governance.kill import PULLERS, REARM_MAKERS
from live.governance.signing import Signature, SignatureError, public_key_b64, sign
from strategies.errors import RefusedError

LOGIN_ROLES = tuple(sorted(set(PULLERS) | set(REARM_MAKERS)))
COOKIE = "stratops_ops"
MAX_PENDING_CHALLENGES = 256  # unauthenticated callers make them: bound the memory
CSRF_HEADER = "X-CSRF-Token"


class LoginRefused(RefusedError):
    """A sign-in that is not accepted (the reason is audited and shown); ``actor`` is who
    it claimed to be (``unverified:<name>``) or, past the signature check, who it was."""

    def __init__(self, message: str, actor: str = "unauthenticated") -> None:
        super().__init__(message)
        self.actor = actor


class NotSignedIn(RefusedError):
    """An action without a valid session or CSRF token (refused and audited)."""


class TooManyChallenges(RefusedError):
    """More unused sign-in challenges are pending than :data:`MAX_PENDING_CHALLENGES`."""


@dataclass(frozen=True, slots=True)
class _Challenge:
    private_key: Ed25519PrivateKey
    expires: datetime


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user: the session key their grant names, and until when it holds."""

    id: str
    user: str
    roles: tuple[str, ...]
    csrf: str
    private_key: Ed25519PrivateKey
    grant: Mapping[str, Any]
    expires: datetime


def encode_token(payload: Mapping[str, Any], signature: Signature) -> str:
    """The login token ``stratops ops login`` prints: base64url of the signed grant."""
    grant = {"payload": dict(payload), "signature": signature.to_dict()}
    return base64.urlsafe_b64encode(canonical_json(grant)).decode("ascii")


def decode_token(token: str) -> tuple[dict[str, Any], Signature]:
    """The grant payload and signature of a login token (not yet verified)."""
    try:
        grant = json.loads(base64.urlsafe_b64decode(token.strip().encode("ascii")))
        payload, signature = grant["payload"], Signature.from_dict(grant["signature"])
    except (ValueError, binascii.Error, UnicodeError, KeyError, TypeError) as exc:
        raise LoginRefused(f"login token is not a signed grant from `stratops ops login` "
                           f"({exc})") from None
    if not isinstance(payload, dict) or payload.get("action") != GRANT_ACTION:
        raise LoginRefused(f"login token signs {str(payload)[:80]!r}, not an {GRANT_ACTION} "
                           "grant")
    return payload, signature


class OpsAuth:
    """Challenges and sessions of one page server (in memory: a restart signs everyone out).

    ``directory`` returns the trusted roles (the trust lock's head) at each sign-in;
    ``audit(actor, action, reason)`` records a refusal."""

    def __init__(self, directory: Callable[[], Directory], clock: Callable[[], datetime],
                 audit: Callable[[str, str, str], None], *, challenge_ttl_seconds: int,
                 session_ttl_seconds: int) -> None:
        self.directory, self.clock, self.audit = directory, clock, audit
        self.challenge_ttl = timedelta(seconds=challenge_ttl_seconds)
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self._challenges: dict[str, _Challenge] = {}
        self._sessions: dict[str, Session] = {}

    def new_challenge(self) -> str:
        """A one-time challenge with a new session key (shown to the user to sign)."""
        now = self.clock()
        self._challenges = {k: c for k, c in self._challenges.items() if c.expires > now}
        if len(self._challenges) >= MAX_PENDING_CHALLENGES:
            raise TooManyChallenges(f"{len(self._challenges)} sign-in challenges are pending; "
                                    "try again when they expire")
        private, public = session_keypair()
        nonce = secrets.token_hex(16)
        self._challenges[nonce] = _Challenge(private, now + self.challenge_ttl)
        return challenge_text(nonce, public)

    def login(self, token: str) -> Session:
        """Check a login token; a session, or :class:`LoginRefused` (audited)."""
        try:
            return self._login(token)
        except LoginRefused as exc:
            self.audit(exc.actor, "ops_login", str(exc))
            raise

    def _login(self, token: str) -> Session:
        payload, signature = decode_token(token)
        claimed = f"unverified:{signature.signer}"[:64]
        now = self.clock()
        challenge = self._challenges.pop(str(payload.get("challenge")), None)  # one use
        if challenge is None or challenge.expires < now:
            raise _refused(claimed, f"challenge {str(payload.get('challenge'))[:40]!r} is "
                                    "unknown, already used or expired; ask the page for a "
                                    "new one")
        if payload.get("session_key") != public_key_b64(challenge.private_key.public_key()):
            raise _refused(claimed, "the grant names another session key than the challenge")
        try:
            user = self.directory().verify(payload, signature, now=now)
        except (SignatureError, IdentityError, DelegationError) as exc:
            raise _refused(claimed, f"signature does not verify: {exc}") from None
        if not set(LOGIN_ROLES) & user.roles:
            raise _refused(user.name, f"user {user.name!r} has roles {sorted(user.roles)}; "
                                      f"the page's actions need one of {list(LOGIN_ROLES)}")
        expires = min(signature.expires_time, now + self.session_ttl)
        session = Session(secrets.token_urlsafe(32), user.name, tuple(sorted(user.roles)),
                          secrets.token_urlsafe(32), challenge.private_key,
                          {"payload": payload, "signature": signature.to_dict()}, expires)
        self._sessions = {k: v for k, v in self._sessions.items() if v.expires > now}
        self._sessions[session.id] = session
        return session

    def session(self, cookie: str | None, csrf: str | None, action: str) -> Session:
        """The live session behind ``cookie`` whose CSRF token is ``csrf``; otherwise
        :class:`NotSignedIn` (audited)."""
        found = self._sessions.get(cookie or "")
        problem = None
        if found is None:
            problem = "not signed in (no session, or the server restarted)"
        elif found.expires <= self.clock():
            self._sessions.pop(found.id, None)
            problem = f"the session of {found.user!r} expired at {found.expires.isoformat()}"
        elif not csrf or not secrets.compare_digest(csrf, found.csrf):
            problem = f"missing or wrong {CSRF_HEADER} header"
        if problem is not None:
            actor = "unauthenticated" if found is None else found.user
            self.audit(actor, action, problem)
            raise NotSignedIn(f"{action} refused: {problem}")
        assert found is not None
        return found

    def current(self, cookie: str | None) -> Session | None:
        """The unexpired session behind ``cookie`` (reads need none)."""
        found = self._sessions.get(cookie or "")
        return found if found is not None and found.expires > self.clock() else None

    def logout(self, cookie: str | None) -> None:
        self._sessions.pop(cookie or "", None)

    def signer(self, session: Session) -> Callable[[Mapping[str, Any]], Signature]:
        """Signs as ``session.user`` with the session key, the grant attached: verifiers
        accept it only for the granted actions and while the grant holds."""
        def sign_as(payload: Mapping[str, Any]) -> Signature:
            now = self.clock()
            ttl = int((session.expires - now).total_seconds())
            if ttl <= 0:
                raise DelegationError(f"the session of {session.user!r} has expired")
            signature = sign(payload, session.private_key, session.user, now=now,
                             ttl_seconds=ttl)
            return replace(signature, delegation=dict(session.grant))

        return sign_as


def _refused(actor: str, reason: str) -> LoginRefused:
    return LoginRefused(f"sign-in refused: {reason}", actor)
