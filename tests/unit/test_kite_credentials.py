"""Specification of Kite credentials: environment or an owner-only 0600 secret file, secrets
redacted, and the access token's 06:00 IST expiry."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.adapters.kite.credentials import (
    KiteCredentials,
    KiteCredentialsError,
    KiteTokenStaleError,
    load_credentials,
    require_fresh_token,
    token_expiry,
    token_fresh,
    write_access_token,
)

IST = ZoneInfo("Asia/Kolkata")
SECRET = "s3cr3t-api-secret"
TOKEN = "t0ken-access-value"


def secret_file(folder: Path, mode: int = 0o600, **fields: str) -> Path:
    path = folder / "kite.json"
    body = {"api_key": "key123", "api_secret": SECRET, "access_token": TOKEN,
            "issued_at": "2026-12-07T08:45:00+05:30"} | fields
    path.write_text(json.dumps(body))
    path.chmod(mode)
    return path


def test_credentials_from_a_0600_file_are_read(tmp_path: Path) -> None:
    creds = load_credentials({}, secret_file(tmp_path))
    assert (creds.api_key, creds.api_secret, creds.access_token) == ("key123", SECRET, TOKEN)
    assert creds.issued_at == datetime(2026, 12, 7, 8, 45, tzinfo=IST)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o400, 0o700])
def test_credentials_file_not_exactly_0600_is_refused_naming_path_and_mode(
        tmp_path: Path, mode: int) -> None:
    path = secret_file(tmp_path, mode)
    with pytest.raises(KiteCredentialsError, match=f"{path}: mode {mode:04o}"):
        load_credentials({}, path)


def test_credentials_file_behind_a_symlink_is_refused(tmp_path: Path) -> None:
    target = secret_file(tmp_path)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(KiteCredentialsError, match="symlink"):
        load_credentials({}, link)


def test_credentials_file_of_another_owner_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    path = secret_file(tmp_path)
    os.chown(path, 4242, -1)
    with pytest.raises(KiteCredentialsError, match="owned by uid 4242"):
        load_credentials({}, path)


def test_credentials_error_messages_never_carry_the_secret(tmp_path: Path) -> None:
    path = secret_file(tmp_path, 0o644)
    with pytest.raises(KiteCredentialsError) as caught:
        load_credentials({}, path)
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)


def test_credentials_repr_and_str_redact_the_secret_and_the_token(tmp_path: Path) -> None:
    creds = load_credentials({}, secret_file(tmp_path))
    for text in (repr(creds), str(creds), f"{creds}"):
        assert SECRET not in text and TOKEN not in text
        assert "key123" in text and "<set>" in text


def test_credentials_environment_beats_the_file(tmp_path: Path) -> None:
    env = {"KITE_API_KEY": "envkey", "KITE_ACCESS_TOKEN": "envtoken",
           "KITE_ACCESS_TOKEN_ISSUED_AT": "2026-12-07T09:00:00+05:30"}
    creds = load_credentials(env, secret_file(tmp_path))
    assert (creds.api_key, creds.access_token, creds.api_secret) == \
        ("envkey", "envtoken", SECRET)
    assert creds.issued_at == datetime(2026, 12, 7, 9, tzinfo=IST)
    assert creds.source["access_token"] == "env"


def test_credentials_env_token_never_takes_the_file_token_issue_time(tmp_path: Path) -> None:
    creds = load_credentials({"KITE_ACCESS_TOKEN": "envtoken"}, secret_file(tmp_path))
    assert creds.issued_at is None
    assert not token_fresh(creds, datetime(2026, 12, 7, 10, tzinfo=IST))


def test_credentials_from_the_environment_alone_need_no_file(tmp_path: Path) -> None:
    creds = load_credentials({"KITE_API_KEY": "k"}, tmp_path / "absent.json")
    assert creds.api_key == "k" and creds.access_token is None


def test_credentials_without_an_api_key_are_refused_naming_what_is_missing(
        tmp_path: Path) -> None:
    with pytest.raises(KiteCredentialsError, match="KITE_API_KEY"):
        load_credentials({}, tmp_path / "absent.json")


def test_credentials_issue_time_without_offset_is_refused(tmp_path: Path) -> None:
    path = secret_file(tmp_path, issued_at="2026-12-07T08:45:00")
    with pytest.raises(KiteCredentialsError, match="no UTC offset"):
        load_credentials({}, path)


def test_credentials_file_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    path = secret_file(tmp_path, password="x")
    with pytest.raises(KiteCredentialsError, match="unknown fields"):
        load_credentials({}, path)


@pytest.mark.parametrize(("issued", "expiry"), [
    (datetime(2026, 12, 7, 8, 45, tzinfo=IST), datetime(2026, 12, 8, 6, 0, tzinfo=IST)),
    (datetime(2026, 12, 7, 5, 59, tzinfo=IST), datetime(2026, 12, 7, 6, 0, tzinfo=IST)),
    (datetime(2026, 12, 7, 6, 0, tzinfo=IST), datetime(2026, 12, 8, 6, 0, tzinfo=IST)),
])
def test_token_expires_at_the_first_0600_ist_after_issue(issued: datetime,
                                                         expiry: datetime) -> None:
    assert token_expiry(issued) == expiry


def test_token_issued_yesterday_is_stale_after_0600_ist_today() -> None:
    creds = KiteCredentials(api_key="k", access_token="t",
                            issued_at=datetime(2026, 12, 6, 9, 0, tzinfo=IST))
    assert token_fresh(creds, datetime(2026, 12, 7, 5, 59, tzinfo=IST))
    assert not token_fresh(creds, datetime(2026, 12, 7, 6, 0, tzinfo=IST))
    with pytest.raises(KiteTokenStaleError, match="expired at 2026-12-07T06:00:00"):
        require_fresh_token(creds, datetime(2026, 12, 7, 9, 0, tzinfo=IST))


def test_token_missing_is_refused_with_the_login_command() -> None:
    with pytest.raises(KiteTokenStaleError, match="stratops kite login"):
        require_fresh_token(KiteCredentials(api_key="k"), datetime(2026, 12, 7, tzinfo=IST))


def test_write_access_token_creates_a_0600_file_in_a_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "kite" / "session.json"
    write_access_token(path, TOKEN, datetime(2026, 12, 7, 8, 50, tzinfo=IST))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    creds = load_credentials({"KITE_API_KEY": "k"}, path)
    assert creds.access_token == TOKEN
    assert creds.issued_at == datetime(2026, 12, 7, 8, 50, tzinfo=IST)


def test_write_access_token_keeps_the_other_fields_and_leaves_no_partial_file(
        tmp_path: Path) -> None:
    path = secret_file(tmp_path)
    write_access_token(path, "newtoken", datetime(2026, 12, 8, 8, 50, tzinfo=IST))
    creds = load_credentials({}, path)
    assert (creds.api_key, creds.api_secret, creds.access_token) == \
        ("key123", SECRET, "newtoken")
    assert [p.name for p in tmp_path.iterdir()] == ["kite.json"]


def test_write_access_token_refuses_to_rewrite_an_exposed_file(tmp_path: Path) -> None:
    path = secret_file(tmp_path, 0o644)
    with pytest.raises(KiteCredentialsError, match="mode 0644"):
        write_access_token(path, "newtoken", datetime(2026, 12, 8, 8, 50, tzinfo=IST))
    assert json.loads(path.read_text())["access_token"] == TOKEN
