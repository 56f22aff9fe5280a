"""``stratops live serve``'s command line and settings: refusals before anything sleeps,
and the ``live.serve`` keys from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratops.cli import main
from stratops.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_serve_refuses_a_broker_this_build_lacks_with_exit_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "serve", "--broker", "kite", "--sessions", "1"]) == 2
    err = capsys.readouterr().err
    assert "--broker kite" in err and "kite with the kite broker" in err


def test_serve_refuses_a_naive_sim_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "serve", "--sim-start", "2025-03-03T09:00"]) == 2
    assert "needs an offset" in capsys.readouterr().err


def test_serve_settings_read_the_page_command_and_timings_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__SERVE__PAGE_COMMAND", '["/usr/local/bin/page-oncall"]')
    monkeypatch.setenv("STRATOPS_LIVE__SERVE__PAGE_EVERY_MINUTES", "2")
    serve = load_settings(ROOT).live.serve
    assert serve.page_command == ["/usr/local/bin/page-oncall"]
    assert serve.page_every_minutes == 2 and serve.wake_seconds == 30


def test_serve_settings_refuse_a_zero_page_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__SERVE__PAGE_EVERY_MINUTES", "0")
    with pytest.raises(SettingsError, match="page_every_minutes"):
        load_settings(ROOT)


def test_desk_watch_logs_a_kill_pulled_while_the_service_sleeps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from live.governance.kill import pull_unsigned
    from stratops.serve_ops import DeskWatch

    monkeypatch.setenv("STRATOPS_GOVERNANCE__DB_URL", f"sqlite:///{tmp_path / 'gov.db'}")
    watch = DeskWatch(load_settings(ROOT))
    clock = lambda: datetime(2025, 3, 1, tzinfo=UTC)  # noqa: E731
    pull_unsigned(watch.engine, "all", "halt", "before the service started", "ops", "test",
                  clock)
    assert watch() == []  # the first look learns where the desk is
    pull_unsigned(watch.engine, "all", "flatten", "weekend news", "ops", "test", clock)
    (note,) = watch()
    assert note.startswith("desk command K2 flatten all by ") and "(weekend news)" in note
    assert watch() == []
