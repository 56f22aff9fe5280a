"""The example systemd unit of ``stratops live serve``: graceful stop with time to flatten,
restart on failure only, a dedicated user, settings by file path, and no secret in it."""

from __future__ import annotations

import re
from pathlib import Path

from stratops.settings import ServeSettings

DEPLOY = Path(__file__).resolve().parents[2] / "live" / "deploy"


def unit_keys() -> dict[str, str]:
    keys = {}
    for line in (DEPLOY / "stratops-live.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys


def test_unit_stops_by_sigterm_with_more_time_than_the_flatten_wait() -> None:
    keys = unit_keys()
    assert keys["KillSignal"] == "SIGTERM" and keys["Restart"] == "on-failure"
    minutes = int(re.fullmatch(r"(\d+)min", keys["TimeoutStopSec"]).group(1))  # type: ignore[union-attr]
    assert minutes > ServeSettings().flatten_wait_minutes
    assert "live serve" in keys["ExecStart"]


def test_unit_runs_as_its_own_user_with_settings_from_a_file_and_no_secret() -> None:
    keys = unit_keys()
    assert keys["User"] not in ("root", "") and keys["WorkingDirectory"].startswith("/")
    assert keys["EnvironmentFile"].startswith("/etc/")
    text = (DEPLOY / "stratops-live.service").read_text() + \
        (DEPLOY / "live.env.example").read_text()
    assert "Environment=" not in text.replace("EnvironmentFile=", "")
    assert not re.search(r"(?i)(access_token|api_secret|password)\s*=", text)
