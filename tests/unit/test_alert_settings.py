"""``alerts.*`` settings: secrets are named, never written; tiers must name channels; the
resolved config reads the secret from the environment or an owner-only file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from live.alerts.config import AlertConfigError, WebhookChannel
from stratops.alert_settings import AlertSettings
from stratops.alerts_ops import delivery_config
from stratops.settings import Settings

HOOK = {"name": "desk", "url": "http://127.0.0.1:9/hook", "secret_env": "STRATOPS_TEST_HOOK"}


def settings(tmp_path: Path, **alerts: Any) -> Settings:
    return Settings(root=tmp_path, alerts={"webhooks": [HOOK], "tiers": [["desk"]], **alerts})


def test_alert_settings_webhook_without_a_secret_source_is_refused() -> None:
    with pytest.raises(ValidationError, match="exactly one of secret_env and secret_file"):
        AlertSettings(webhooks=[{"name": "desk", "url": "http://127.0.0.1:9/"}])


def test_alert_settings_webhook_secret_in_the_settings_is_refused() -> None:
    with pytest.raises(ValidationError, match="secret"):
        AlertSettings(webhooks=[{**HOOK, "secret": "s3cr3t"}])


def test_alert_settings_tier_naming_an_unknown_channel_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"alerts.tiers\[0\].*pager"):
        AlertSettings(webhooks=[HOOK], tiers=[["pager"]])


def test_alert_settings_enabled_without_tiers_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"no alerts\.tiers"):
        AlertSettings(enabled=True)


def test_delivery_config_missing_secret_env_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATOPS_TEST_HOOK", raising=False)
    with pytest.raises(AlertConfigError, match="STRATOPS_TEST_HOOK"):
        delivery_config(settings(tmp_path))


def test_delivery_config_reads_the_secret_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_TEST_HOOK", "a-secret-of-24-characters")
    channel = delivery_config(settings(tmp_path)).channels["desk"]
    assert isinstance(channel, WebhookChannel) and channel.secret == b"a-secret-of-24-characters"


def test_delivery_config_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "hook.secret"
    secret.write_text("a-secret-of-24-characters")
    secret.chmod(0o644)
    hook = {"name": "desk", "url": "http://127.0.0.1:9/hook", "secret_file": str(secret)}
    with pytest.raises(AlertConfigError, match="chmod 600"):
        delivery_config(Settings(root=tmp_path, alerts={"webhooks": [hook],
                                                        "tiers": [["desk"]]}))


def test_alert_delivery_beside_a_session_delivers_its_journal_alerts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    from datetime import UTC, datetime

    from live.events import AlertRaised, Severity
    from stratops.alerts_ops import alert_delivery
    from stratops.live_ops import open_mode_journal
    from tests.unit.test_alert_delivery import SECRET, Receiver, _serve, free_port

    monkeypatch.setenv("STRATOPS_TEST_HOOK", SECRET.decode())
    receiver = Receiver(free_port())
    server = _serve(receiver)
    configured = Settings(root=tmp_path, alerts={
        "enabled": True, "webhooks": [{**HOOK, "url": receiver.url}], "tiers": [["desk"]]})
    journal = open_mode_journal(configured, "shadow")
    try:
        with alert_delivery(configured, "shadow", journal.head()[0]):
            journal.append(AlertRaised(trace_id="al1", ts_event=datetime.now(UTC),
                                       severity=Severity.CRITICAL, code="stale_feed",
                                       message="NIFTY: no bar for 10 minutes"))
            deadline = time.monotonic() + 5
            while not receiver.bodies and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        server.shutdown()
        server.server_close()
    assert [(b["code"], b["scope"]) for b in receiver.bodies] == [("stale_feed", "NIFTY")]
