"""Kite Connect from settings: credentials, the rate-limited client, the session check at
start, and the daily login (request token -> access token written to the secret file).

Nothing here prints, logs or raises a secret: messages name the variable or the file and
the field, never its value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from live.broker import BrokerUnavailableError
from strategies.errors import RefusedError
from stratops.settings import Settings

if TYPE_CHECKING:  # imported where used: kiteconnect is not needed by `stratops --help`
    from live.adapters.kite import KiteBroker
    from live.adapters.kite.credentials import KiteCredentials
    from live.adapters.kite.rate_limit import RateLimitedKite

Clock = Callable[[], datetime]


class KiteSessionRejectedError(RefusedError, RuntimeError):
    """Kite refused the access token (or did not answer the session check): log in again."""


@dataclass(frozen=True, slots=True)
class KiteStatus:
    """What ``stratops kite status`` reports (no secret in it)."""

    user_id: str
    issued_at: datetime
    expires_at: datetime
    api_key_from: str
    access_token_from: str


def kite_credentials(settings: Settings, env: Mapping[str, str] | None = None
                     ) -> KiteCredentials:
    """The credentials from the environment and ``live.kite.secret_file``."""
    from live.adapters.kite.credentials import load_credentials

    return load_credentials(os.environ if env is None else env,
                            settings.path(settings.live.kite.secret_file))


def kite_token_problem(settings: Settings, now: datetime,
                       env: Mapping[str, str] | None = None) -> str | None:
    """Why Kite cannot be traded on at ``now`` (credentials missing or exposed, token absent
    or stale), or None when the token is fresh. No network call: a long-lived service asks
    this before each session and holds (and pages) while it answers a reason."""
    from live.adapters.kite.credentials import (
        KiteCredentialsError,
        KiteTokenStaleError,
        require_fresh_token,
    )

    try:
        require_fresh_token(kite_credentials(settings, env), now)
    except (KiteCredentialsError, KiteTokenStaleError) as exc:
        return str(exc)
    return None


def kite_client(settings: Settings, credentials: KiteCredentials, *, clock: Clock,
                sleep: Callable[[float], None] = time.sleep,
                connect: Callable[..., Any] | None = None) -> RateLimitedKite:
    """A ``KiteConnect`` on ``live.kite.root`` behind the rate limiter (``connect`` builds
    the client: ``KiteConnect`` by default; a test passes a stub)."""
    from live.adapters.kite.rate_limit import KiteRateLimits, RateLimitedKite

    connect = _connector(connect)
    kite = settings.live.kite
    client = connect(credentials.api_key, access_token=credentials.access_token,
                     root=kite.root, timeout=kite.timeout_s)
    limits = KiteRateLimits(max_command_wait_s=kite.max_command_wait_ms / 1000)
    return RateLimitedKite(client, clock=clock, sleep=sleep, limits=limits)


def check_session(client: Any) -> str:
    """Ask Kite who the token belongs to (``profile()``); the user id, or
    :class:`KiteSessionRejectedError` when the token is refused or Kite does not answer."""
    from live.adapters.kite.errors import KITE_CALL_ERRORS, classify_kite_error

    try:
        profile = client.profile()
    except KITE_CALL_ERRORS as exc:
        failure = classify_kite_error(exc)
        what = "rejected the access token" if failure.session_invalid else \
            "did not confirm the session"
        raise KiteSessionRejectedError(
            f"Kite {what} ({failure.reason}); log in again: stratops kite login") from None
    if not isinstance(profile, Mapping) or not profile.get("user_id"):
        raise KiteSessionRejectedError("Kite's profile answer has no user_id; session "
                                       "not confirmed")
    return str(profile["user_id"])


def open_kite_broker(settings: Settings, *, clock: Clock,
                     env: Mapping[str, str] | None = None,
                     connect: Callable[..., Any] | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> KiteBroker:
    """A :class:`KiteBroker` whose token is fresh and accepted by Kite (``profile()``), or
    a refusal naming what is missing, stale or rejected - before anything trades."""
    from live.adapters.kite import KiteBroker
    from live.adapters.kite.credentials import require_fresh_token

    credentials = kite_credentials(settings, env)
    require_fresh_token(credentials, clock())
    client = kite_client(settings, credentials, clock=clock, sleep=sleep, connect=connect)
    check_session(client)
    broker = KiteBroker(client, api_secret=credentials.api_secret)
    try:  # the day's order book: Kite's daily order cap counts from there, not from zero
        client.count_placed_today(len(broker.orders()))
    except (BrokerUnavailableError, ValueError) as exc:  # no answer, or one we cannot parse
        raise KiteSessionRejectedError(f"Kite's order book could not be read at start "
                                       f"({exc}); nothing is traded blind") from None
    return broker


def login_url(settings: Settings, env: Mapping[str, str] | None = None,
              connect: Callable[..., Any] | None = None) -> str:
    """The URL where a person logs in to Kite (it redirects with a request token)."""
    connect = _connector(connect)
    credentials = kite_credentials(settings, env)
    return str(connect(credentials.api_key, root=settings.live.kite.root).login_url())


def login(settings: Settings, request_token: str, *, clock: Clock,
          env: Mapping[str, str] | None = None,
          connect: Callable[..., Any] | None = None) -> KiteStatus:
    """Exchange ``request_token`` for the day's access token (``generate_session``) and
    record it with its issue time in the secret file (0600, replaced atomically)."""
    from live.adapters.kite.credentials import (
        KiteCredentialsError,
        token_expiry,
        write_access_token,
    )
    from live.adapters.kite.errors import KITE_CALL_ERRORS, classify_kite_error

    connect = _connector(connect)
    credentials = kite_credentials(settings, env)
    if not credentials.api_secret:
        raise KiteCredentialsError("no Kite api secret: set KITE_API_SECRET or put "
                                   "api_secret in the secret file (live.kite.secret_file)")
    if not request_token.strip().isalnum():
        raise KiteCredentialsError("--request-token: expected the letters and digits of "
                                   "the request_token in the login redirect")
    client = connect(credentials.api_key, root=settings.live.kite.root,
                     timeout=settings.live.kite.timeout_s)
    issued_at = clock()
    try:
        session = client.generate_session(request_token.strip(),
                                          api_secret=credentials.api_secret)
    except KITE_CALL_ERRORS as exc:
        reason = classify_kite_error(exc).reason
        raise KiteSessionRejectedError(f"Kite refused the login ({reason}); get a new "
                                       "request token") from None
    token = session.get("access_token") if isinstance(session, Mapping) else None
    if not isinstance(token, str) or not token:
        raise KiteSessionRejectedError("Kite's session answer has no access_token")
    path = settings.path(settings.live.kite.secret_file)
    write_access_token(path, token, issued_at)
    return KiteStatus(user_id=str(session.get("user_id", "?")), issued_at=issued_at,
                      expires_at=token_expiry(issued_at), api_key_from=credentials.source.get(
                          "api_key", "?"), access_token_from=str(path))


def session_status(settings: Settings, *, clock: Clock,
                   env: Mapping[str, str] | None = None,
                   connect: Callable[..., Any] | None = None) -> KiteStatus:
    """The token's freshness and Kite's answer to ``profile()``; refused when stale or
    rejected."""
    from live.adapters.kite.credentials import require_fresh_token, token_expiry

    credentials = kite_credentials(settings, env)
    require_fresh_token(credentials, clock())
    assert credentials.issued_at is not None  # checked just above
    client = kite_client(settings, credentials, clock=clock, connect=connect)
    user = check_session(client)
    return KiteStatus(user_id=user, issued_at=credentials.issued_at,
                      expires_at=token_expiry(credentials.issued_at),
                      api_key_from=credentials.source.get("api_key", "?"),
                      access_token_from=credentials.source.get("access_token", "?"))


def _connector(connect: Callable[..., Any] | None) -> Callable[..., Any]:
    """``connect``, or the real ``kiteconnect.KiteConnect`` (imported only when used)."""
    if connect is not None:
        return connect
    from kiteconnect import KiteConnect

    return KiteConnect  # type: ignore[no-any-return]  # kiteconnect ships no types
