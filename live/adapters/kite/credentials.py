"""Kite Connect credentials: the api key and secret, and the day's access token with the time
it was issued, from the environment or from one owner-only secret file.

The secret file is JSON (``{"api_key": ..., "api_secret": ..., "access_token": ...,
"issued_at": "<ISO 8601 with offset>"}``). It must be a regular file (not a symlink), owned
by the user running stratops, with mode exactly 0600; anything else is refused, naming the
path and the mode, never the contents. A variable of the environment (``KITE_API_KEY``,
``KITE_API_SECRET``, ``KITE_ACCESS_TOKEN`` with ``KITE_ACCESS_TOKEN_ISSUED_AT``) beats the
file's field. Kite access tokens expire at 06:00 IST the day after they are issued, so a
token issued before the current day's 06:00 IST is stale (:func:`token_fresh`). Secrets
never appear in a ``repr``, a log line or an exception message.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from strategies.errors import BadInputError, RefusedError

KITE_TZ = ZoneInfo("Asia/Kolkata")
TOKEN_EXPIRY_IST = time(6, 0)  # Kite access tokens die at 06:00 IST the next day
ENV_API_KEY = "KITE_API_KEY"
ENV_API_SECRET = "KITE_API_SECRET"
ENV_ACCESS_TOKEN = "KITE_ACCESS_TOKEN"
ENV_ISSUED_AT = "KITE_ACCESS_TOKEN_ISSUED_AT"
SECRET_FILE_MODE = 0o600
_FIELDS = ("api_key", "api_secret", "access_token", "issued_at")


class KiteCredentialsError(BadInputError, ValueError):
    """Credentials that are missing, unreadable or kept in a file others could read."""


class KiteTokenStaleError(RefusedError, RuntimeError):
    """The access token is missing or past its 06:00 IST expiry: log in again."""


@dataclass(frozen=True, kw_only=True, slots=True)
class KiteCredentials:
    """What a Kite session needs. ``issued_at`` (aware) is when the access token was issued;
    ``source`` says where each field came from (``env`` or the file's path)."""

    api_key: str
    api_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    issued_at: datetime | None = None
    source: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        secret = "<set>" if self.api_secret else "<missing>"
        token = "<set>" if self.access_token else "<missing>"
        issued = self.issued_at.isoformat() if self.issued_at is not None else None
        return (f"KiteCredentials(api_key={self.api_key!r}, api_secret={secret}, "
                f"access_token={token}, issued_at={issued!r})")

    __str__ = __repr__


def token_expiry(issued_at: datetime) -> datetime:
    """When a token issued at ``issued_at`` dies: the first 06:00 IST after it."""
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise KiteCredentialsError(f"issued_at {issued_at!r}: needs a timezone")
    local = issued_at.astimezone(KITE_TZ)
    expiry = datetime.combine(local.date(), TOKEN_EXPIRY_IST, tzinfo=KITE_TZ)
    return expiry if local < expiry else expiry + timedelta(days=1)


def token_fresh(credentials: KiteCredentials, now: datetime) -> bool:
    """True when the access token is present and ``now`` is before its 06:00 IST expiry.
    A token without an issue time is never fresh (fail closed)."""
    if not credentials.access_token or credentials.issued_at is None:
        return False
    return now < token_expiry(credentials.issued_at)


def require_fresh_token(credentials: KiteCredentials, now: datetime) -> None:
    """Raise :class:`KiteTokenStaleError` (saying why, never the token) unless fresh."""
    if not credentials.access_token:
        raise KiteTokenStaleError(
            f"no Kite access token (set {ENV_ACCESS_TOKEN} or log in: stratops kite login)")
    if credentials.issued_at is None:
        raise KiteTokenStaleError(
            f"the Kite access token has no issue time (set {ENV_ISSUED_AT}, ISO 8601 with "
            "offset, or log in: stratops kite login): its freshness cannot be checked")
    expiry = token_expiry(credentials.issued_at)
    if now >= expiry:
        raise KiteTokenStaleError(
            f"the Kite access token issued {credentials.issued_at.isoformat()} expired at "
            f"{expiry.isoformat()}; log in again: stratops kite login")


def load_credentials(env: Mapping[str, str], secret_file: Path | None) -> KiteCredentials:
    """The credentials from ``env`` and (when it exists) ``secret_file``; env beats file.

    An access token from the environment takes its issue time from the environment too
    (never the file's, which belongs to the file's token).
    """
    stored = read_secret_file(secret_file) if secret_file is not None and \
        os.path.lexists(secret_file) else {}
    where = str(secret_file)
    values: dict[str, str] = {}
    source: dict[str, str] = {}
    for name, var in (("api_key", ENV_API_KEY), ("api_secret", ENV_API_SECRET)):
        if env.get(var):
            values[name], source[name] = env[var], "env"
        elif stored.get(name):
            values[name], source[name] = stored[name], where
    if env.get(ENV_ACCESS_TOKEN):
        values["access_token"], source["access_token"] = env[ENV_ACCESS_TOKEN], "env"
        if env.get(ENV_ISSUED_AT):
            values["issued_at"], source["issued_at"] = env[ENV_ISSUED_AT], "env"
    elif stored.get("access_token"):
        values["access_token"], source["access_token"] = stored["access_token"], where
        if stored.get("issued_at"):
            values["issued_at"], source["issued_at"] = stored["issued_at"], where
    if not values.get("api_key"):
        raise KiteCredentialsError(
            f"no Kite api key: set {ENV_API_KEY} or put api_key in the secret file "
            f"{where} (live.kite.secret_file)")
    issued = values.get("issued_at")
    return KiteCredentials(
        api_key=values["api_key"], api_secret=values.get("api_secret"),
        access_token=values.get("access_token"),
        issued_at=None if issued is None else _parse_issued(
            issued, ENV_ISSUED_AT if source["issued_at"] == "env" else source["issued_at"]),
        source=source)


def read_secret_file(path: Path) -> dict[str, str]:
    """The secret file's fields, after checking it is a regular 0600 file of this user."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KiteCredentialsError(f"{path}: no such Kite secret file") from None
    except OSError as exc:
        if os.path.islink(path):
            raise KiteCredentialsError(f"{path}: is a symlink; refusing (the Kite secret "
                                       "file must be a regular file)") from None
        raise KiteCredentialsError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        _check_owner_only(path, os.fstat(fd))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(65536)
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise KiteCredentialsError(f"{path}: not a JSON object of Kite credentials") from None
    if not isinstance(data, dict):
        raise KiteCredentialsError(f"{path}: not a JSON object of Kite credentials")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise KiteCredentialsError(f"{path}: unknown fields {unknown}; known: {list(_FIELDS)}")
    bad = sorted(k for k, v in data.items() if v is not None and not isinstance(v, str))
    if bad:
        raise KiteCredentialsError(f"{path}: fields {bad} must be strings")
    return {k: v for k, v in data.items() if v}


def write_access_token(path: Path, access_token: str, issued_at: datetime) -> None:
    """Record a new access token (and its issue time) in the secret file, atomically: a new
    0600 file beside it (0600 from creation), fsynced, renamed over the old one. The file's
    other fields are kept; a file that is not owner-only is refused, not rewritten."""
    if not access_token:
        raise KiteCredentialsError("refusing to record an empty Kite access token")
    token_expiry(issued_at)  # an aware time, or refused
    kept = read_secret_file(path) if os.path.lexists(path) else {}
    kept.update(access_token=access_token, issued_at=issued_at.isoformat())
    body = json.dumps(kept, indent=2, sort_keys=True).encode() + b"\n"
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".partial")
    partial = Path(name)  # created 0600 (mkstemp), O_EXCL: never someone else's file
    try:
        os.fchmod(fd, SECRET_FILE_MODE)
        os.write(fd, body)
        os.fsync(fd)
    except OSError:
        os.close(fd)
        partial.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(partial, path)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _check_owner_only(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise KiteCredentialsError(f"{path}: not a regular file; refusing")
    if info.st_uid != os.geteuid():
        raise KiteCredentialsError(
            f"{path}: owned by uid {info.st_uid}, not this user (uid {os.geteuid()}); "
            "refusing")
    mode = stat.S_IMODE(info.st_mode)
    if mode != SECRET_FILE_MODE:
        raise KiteCredentialsError(
            f"{path}: mode {mode:04o}, the Kite secret file must be exactly 0600; refusing "
            f"(run `chmod 600 {path}`)")


def _parse_issued(text: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise KiteCredentialsError(
            f"{where}: issued_at {text!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise KiteCredentialsError(
            f"{where}: issued_at {text!r} has no UTC offset (e.g. 2026-12-05T08:40:00+05:30)")
    return parsed
