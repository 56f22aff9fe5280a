"""Choosing Kite as the broker (``--broker`` / ``live.broker``), refusing it before anything
loads when its credentials are missing, stale or rejected, and the daily login commands
(a stub ``KiteConnect`` in process: no sockets)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from kiteconnect import exceptions as kex

from live.adapters.kite import KiteBroker
from live.adapters.kite.credentials import KiteTokenStaleError, load_credentials
from stratops.cli import main
from stratops.errors import EXIT_BAD_INPUT, EXIT_FAILED
from stratops.kite_ops import (
    KiteSessionRejectedError,
    login,
    open_kite_broker,
    session_status,
)
from stratops.live_ops import LiveSetupError, choose_broker, prepare
from stratops.settings import Settings, load_settings

IST = ZoneInfo("Asia/Kolkata")
MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=IST)
FAKE_ROOT = "http://127.0.0.1:1"
FRESH = {"KITE_API_KEY": "key123", "KITE_ACCESS_TOKEN": "tok-fresh-value",
         "KITE_ACCESS_TOKEN_ISSUED_AT": "2026-12-07T08:40:00+05:30"}


PINNED = {"trust_root": "0" * 64}  # a desk that trades real orders pins its trust root


def settings_in(root: Path, **live: Any) -> Settings:
    return Settings(root=root, live={"kite": {"root": FAKE_ROOT}} | live,
                    governance=PINNED)


class StubKite:
    """The part of ``KiteConnect`` the login and session check use; records what it got."""

    built: ClassVar[list[dict[str, Any]]] = []
    profile_error: ClassVar[Exception | None] = None
    book: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, api_key: str, access_token: str | None = None, root: str | None = None,
                 timeout: float | None = None) -> None:
        self.built.append({"api_key": api_key, "access_token": access_token, "root": root})
        self.sessions: list[tuple[str, str]] = []

    def login_url(self) -> str:
        return "https://kite.zerodha.com/connect/login?api_key=key123&v=3"

    def profile(self) -> dict[str, Any]:
        if self.profile_error is not None:
            raise self.profile_error
        return {"user_id": "AB1234", "user_name": "A B"}

    def orders(self) -> list[dict[str, Any]]:
        return list(self.book)

    def generate_session(self, request_token: str, api_secret: str) -> dict[str, Any]:
        self.sessions.append((request_token, api_secret))
        return {"user_id": "AB1234", "access_token": "tok-new-value"}


@pytest.fixture(autouse=True)
def _no_kite_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ACCESS_TOKEN",
                "KITE_ACCESS_TOKEN_ISSUED_AT", "STRATOPS_LIVE__BROKER"):
        monkeypatch.delenv(var, raising=False)
    StubKite.built, StubKite.profile_error, StubKite.book = [], None, []


# --- which broker --------------------------------------------------------------------------

def test_broker_defaults_to_paper(tmp_path: Path) -> None:
    assert choose_broker(settings_in(tmp_path), "live", "replay:x", None) == "paper"


def test_broker_from_settings_is_kite(tmp_path: Path) -> None:
    assert choose_broker(settings_in(tmp_path, broker="kite"), "live", "replay:x", None) == \
        "kite"


def test_broker_flag_overrides_settings(tmp_path: Path) -> None:
    assert choose_broker(settings_in(tmp_path, broker="kite"), "live", "replay:x", "paper") == \
        "paper"


def test_broker_from_the_environment_variable(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__BROKER", "kite")
    assert load_settings(tmp_path).live.broker == "kite"


def test_broker_kite_in_shadow_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match="shadow runs on the paper exchange only"):
        choose_broker(settings_in(tmp_path), "shadow", "replay:x", "kite")


def test_broker_unknown_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match="--broker 'ib'"):
        choose_broker(settings_in(tmp_path), "live", "replay:x", "ib")


def test_broker_real_kite_with_a_replayed_feed_is_refused(tmp_path: Path) -> None:
    real = Settings(root=tmp_path)
    with pytest.raises(LiveSetupError, match="replayed bars are refused"):
        choose_broker(real, "live", "replay:nse_index_1m", "kite")


def test_prepare_kite_without_credentials_is_refused_before_anything_loads(
        tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match="no Kite api key: set KITE_API_KEY"):
        prepare("live", "replay:nse_index_1m", None, None, None, False,
                settings=settings_in(tmp_path), broker="kite")
    assert not (tmp_path / ".stratops").exists()  # no journal, no governance store


def test_prepare_kite_without_a_pinned_trust_root_is_refused_and_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unpinned, a replaced roles.lock.json (a ceremony of two keys one person made) would be
    believed: real orders are refused before the broker is contacted."""
    from live.db import make_engine
    from live.governance.audit import AuditLog

    for var, value in FRESH.items():
        monkeypatch.setenv(var, value)
    settings = Settings(root=tmp_path, live={"kite": {"root": FAKE_ROOT}})
    with pytest.raises(LiveSetupError, match=r"governance\.trust_root is not pinned"):
        prepare("canary", "replay:nse_index_1m", None, None, None, False, settings=settings,
                broker="kite")
    refused = AuditLog(make_engine(settings.governance.db_url, tmp_path)).records()[-1]
    assert (refused.kind, refused.actor, refused.detail["action"]) == \
        ("refused", "runner:canary", "live_start")


def test_prepare_kite_with_a_stale_token_is_refused_naming_its_expiry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in (FRESH | {"KITE_ACCESS_TOKEN_ISSUED_AT":
                                "2020-01-02T09:00:00+05:30"}).items():
        monkeypatch.setenv(var, value)
    with pytest.raises(LiveSetupError, match="expired at 2020-01-03T06:00:00") as caught:
        prepare("canary", "replay:nse_index_1m", None, None, None, False,
                settings=settings_in(tmp_path), broker="kite")
    assert "tok-fresh-value" not in str(caught.value)


def test_cli_live_run_kite_in_shadow_exits_2_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    assert main(["live", "run", "--mode", "shadow", "--broker", "kite"]) == EXIT_BAD_INPUT
    assert "shadow runs on the paper exchange only" in capsys.readouterr().err


# --- the session check at start --------------------------------------------------------------

def test_open_kite_broker_checks_the_session_and_points_at_the_root(tmp_path: Path) -> None:
    broker = open_kite_broker(settings_in(tmp_path), clock=lambda: MORNING, env=FRESH,
                              connect=StubKite)
    assert isinstance(broker, KiteBroker)
    assert StubKite.built == [{"api_key": "key123", "access_token": "tok-fresh-value",
                               "root": FAKE_ROOT}]


def test_open_kite_broker_token_rejected_at_start_is_refused(tmp_path: Path) -> None:
    StubKite.profile_error = kex.TokenException("Incorrect `api_key` or `access_token`.")
    with pytest.raises(KiteSessionRejectedError, match="Kite rejected the access token"):
        open_kite_broker(settings_in(tmp_path), clock=lambda: MORNING, env=FRESH,
                         connect=StubKite)


def test_open_kite_broker_unanswered_session_check_is_refused(tmp_path: Path) -> None:
    StubKite.profile_error = ConnectionError("connection refused")
    with pytest.raises(KiteSessionRejectedError, match="did not confirm the session"):
        open_kite_broker(settings_in(tmp_path), clock=lambda: MORNING, env=FRESH,
                         connect=StubKite)


def test_open_kite_broker_stale_token_never_reaches_kite(tmp_path: Path) -> None:
    after_expiry = datetime(2026, 12, 8, 0, 31, tzinfo=UTC)  # 06:01 IST the next day
    with pytest.raises(KiteTokenStaleError):
        open_kite_broker(settings_in(tmp_path), clock=lambda: after_expiry, env=FRESH,
                         connect=StubKite)
    assert StubKite.built == []


# --- the daily login -----------------------------------------------------------------------

def test_login_records_the_access_token_in_a_new_0600_file(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    env = {"KITE_API_KEY": "key123", "KITE_API_SECRET": "the-secret"}
    status = login(settings, "reqTOKEN123", clock=lambda: MORNING, env=env, connect=StubKite)
    path = tmp_path / ".stratops" / "kite" / "session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"access_token": "tok-new-value",
                                            "issued_at": MORNING.isoformat()}
    assert status.expires_at == datetime(2026, 12, 8, 6, 0, tzinfo=IST)
    assert load_credentials(env, path).access_token == "tok-new-value"


def test_login_without_the_api_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no Kite api secret"):
        login(settings_in(tmp_path), "reqTOKEN123", clock=lambda: MORNING,
              env={"KITE_API_KEY": "key123"}, connect=StubKite)


def test_session_status_names_the_user_and_the_expiry(tmp_path: Path) -> None:
    found = session_status(settings_in(tmp_path), clock=lambda: MORNING, env=FRESH,
                           connect=StubKite)
    assert (found.user_id, found.access_token_from) == ("AB1234", "env")
    assert found.expires_at == datetime(2026, 12, 8, 6, 0, tzinfo=IST)


def test_cli_kite_login_prints_the_login_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    monkeypatch.setenv("KITE_API_KEY", "key123")
    assert main(["kite", "login"]) == 0
    assert "connect/login?api_key=key123" in capsys.readouterr().out


def test_cli_kite_status_with_a_stale_token_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    for var, value in (FRESH | {"KITE_ACCESS_TOKEN_ISSUED_AT":
                                "2020-01-02T09:00:00+05:30"}).items():
        monkeypatch.setenv(var, value)
    assert main(["kite", "status"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "expired" in err and "tok-fresh-value" not in err


def test_cli_kite_status_with_an_exposed_secret_file_exits_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    path = tmp_path / ".stratops" / "kite" / "session.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"api_key": "key123"}))
    path.chmod(0o644)
    assert main(["kite", "status"]) == EXIT_BAD_INPUT
    assert "mode 0644" in capsys.readouterr().err


def test_token_problem_is_none_for_a_fresh_token_and_the_reason_otherwise(
        tmp_path: Path) -> None:
    from stratops.kite_ops import kite_token_problem

    settings = settings_in(tmp_path)
    assert kite_token_problem(settings, MORNING, env=FRESH) is None
    next_day = datetime(2026, 12, 8, 6, 0, tzinfo=IST)
    assert "expired at 2026-12-08T06:00:00+05:30" in str(
        kite_token_problem(settings, next_day, env=FRESH))
    assert "KITE_API_KEY" in str(kite_token_problem(settings, MORNING, env={}))


def test_kite_client_is_the_real_kiteconnect_on_the_configured_root_behind_the_limiter(
        tmp_path: Path) -> None:
    from kiteconnect import KiteConnect

    from live.adapters.kite import RateLimitedKite
    from stratops.kite_ops import kite_client

    settings = settings_in(tmp_path, kite={"root": FAKE_ROOT, "max_command_wait_ms": 100})
    creds = load_credentials(FRESH, None)
    client = kite_client(settings, creds, clock=lambda: MORNING)
    assert isinstance(client, RateLimitedKite) and isinstance(client.client, KiteConnect)
    assert (client.client.root, client.client.debug) == (FAKE_ROOT, False)
    assert client.limits.max_command_wait_s == pytest.approx(0.1)


def test_open_kite_broker_counts_the_days_orders_toward_the_daily_cap(tmp_path: Path) -> None:
    from tests.unit.test_kite_adapter import load_kite_fixture

    StubKite.book = load_kite_fixture("orders")["data"]
    broker = open_kite_broker(settings_in(tmp_path), clock=lambda: MORNING, env=FRESH,
                              connect=StubKite)
    assert broker.client.orders_placed_today == len(StubKite.book)  # type: ignore[attr-defined]


def test_open_kite_broker_with_an_unreadable_order_book_is_refused(tmp_path: Path) -> None:
    StubKite.book = [{"order_id": "1"}]
    with pytest.raises(KiteSessionRejectedError, match="order book could not be read"):
        open_kite_broker(settings_in(tmp_path), clock=lambda: MORNING, env=FRESH,
                         connect=StubKite)
