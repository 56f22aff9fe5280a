"""The hot-standby settings (``live.ha``) and ``--standby``: refused unless they can work."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratops.errors import LiveSetupError
from stratops.ha_ops import take_lead
from stratops.settings import SettingsError, load_settings
from tests.unit.test_settings import _project

PG_JOURNAL = "postgresql://postgres@127.0.0.1:5432/stratops_journal_{mode}"


def test_ha_enabled_with_sqlite_journal_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"live.ha.enabled=true .*PostgreSQL journal"):
        load_settings(_project(tmp_path, "live:\n  ha:\n    enabled: true\n"))


def test_ha_ttl_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"lease_ttl_seconds"):
        load_settings(_project(tmp_path, "live:\n  ha:\n    lease_ttl_seconds: 0.1\n"))


def test_ha_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"live.ha.ttl"):
        load_settings(_project(tmp_path, "live:\n  ha:\n    ttl: 3\n"))


def test_ha_with_postgres_journal_loads(tmp_path: Path) -> None:
    settings = load_settings(_project(
        tmp_path, f"live:\n  journal_url: {PG_JOURNAL}\n  ha:\n    enabled: true\n"))
    assert settings.live.ha.enabled and settings.live.ha.lease_ttl_seconds == 3.0


def test_standby_without_ha_enabled_is_refused(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path))
    with pytest.raises(LiveSetupError, match=r"--standby needs live\.ha\.enabled"):
        take_lead(settings, "live", object(), standby=True, say=print)


def test_ha_disabled_leaves_the_runner_unfenced(tmp_path: Path) -> None:
    assert take_lead(load_settings(_project(tmp_path)), "live", object(), standby=False,
                     say=print) is None


def test_live_serve_under_ha_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from stratops.cli import main

    monkeypatch.chdir(_project(tmp_path, f"live:\n  journal_url: {PG_JOURNAL}\n"
                                         "  ha:\n    enabled: true\n"))
    monkeypatch.delenv("STRATOPS_ROOT", raising=False)
    assert main(["live", "serve", "--mode", "shadow"]) == 2
    assert "live serve does not run under the hot-standby lease" in capsys.readouterr().err
