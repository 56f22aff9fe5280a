"""``stratops preopen``: every pre-open check passes on a healthy desk and each one fails,
naming what it saw, when its condition does not hold; the command prints every check and
exits 1 on any failure. Also the static egress IP check (SEBI's algo framework)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from live.compliance_rules.egress import EgressCheckError, egress_address, require_egress
from live.events import ReconciliationCompleted
from pipelines.datasets.instrument_master import build_master
from stratops.cli import main
from stratops.live_ops import open_mode_journal
from stratops.preopen_ops import CHECKS, Probes, run_checks
from stratops.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 4, 3, 0, tzinfo=UTC)  # 08:30 IST, before the open


def _desk(root: Path, *, egress_ip: str | None = None) -> Settings:
    for name in ("gates.yaml", "policy.yaml", "risk.yaml", "compliance.yaml"):
        shutil.copy(REPO / name, root / name)
    if egress_ip is not None:
        data = yaml.safe_load((root / "compliance.yaml").read_text())
        data["algo"]["static_egress_ip"] = egress_ip
        (root / "compliance.yaml").write_text(yaml.safe_dump(data))
    (root / "stratops.yaml").write_text(yaml.safe_dump(
        {"preopen": {"egress_probe_host": "127.0.0.1", "egress_probe_port": 9,
                     "min_free_disk_gb": 0.001}}))
    settings = load_settings(root)
    master = settings.path(settings.instruments.master_file)
    master.parent.mkdir(parents=True)
    master.write_text(build_master(date(2025, 1, 1), date(2025, 12, 31)).to_csv())
    return settings


def _reconciled(settings: Settings, *, clean: bool = True, at: datetime = NOW) -> None:
    journal = open_mode_journal(settings, "shadow")
    journal.append(ReconciliationCompleted(
        trace_id="", ts_event=at - timedelta(hours=15), clean=clean,
        issues=() if clean else ("position NIFTY: journal 75 != broker 0",)))


def _probes(ntp: float | None = 3.0, egress: str = "127.0.0.1") -> Probes:
    return Probes(now=NOW, ntp_offset_ms=lambda: ntp, egress=lambda host, port: egress)


def _failed(settings: Settings, probes: Probes) -> dict[str, str]:
    return {r.name: r.detail for r in run_checks(settings, "shadow", "paper", probes)
            if not r.ok}


def test_preopen_healthy_desk_passes_every_check_in_order(tmp_path: Path) -> None:
    settings = _desk(tmp_path)
    _reconciled(settings)
    results = run_checks(settings, "shadow", "paper", _probes())
    assert [(r.name, r.ok) for r in results] == [(name, True) for name, _ in CHECKS]
    roll = next(r.detail for r in results if r.name == "contract_roll")
    assert "NIFTY -> NIFTY25MARFUT" in roll


def test_preopen_unclean_reconciliation_fails_naming_the_issue(tmp_path: Path) -> None:
    settings = _desk(tmp_path)
    _reconciled(settings, clean=False)
    assert "journal 75 != broker 0" in _failed(settings, _probes())["reconciliation"]


def test_preopen_old_reconciliation_fails(tmp_path: Path) -> None:
    settings = _desk(tmp_path)
    _reconciled(settings, at=NOW - timedelta(days=5))
    assert "preopen.max_reconciliation_age_hours" in \
        _failed(settings, _probes())["reconciliation"]


def test_preopen_no_ntp_daemon_fails_the_clock(tmp_path: Path) -> None:
    settings = _desk(tmp_path)
    _reconciled(settings)
    assert _failed(settings, _probes(ntp=None)) == {
        "clock": "no NTP daemon answered (chronyc/ntpq): the clock is unchecked"}


def test_preopen_clock_offset_over_budget_fails(tmp_path: Path) -> None:
    settings = _desk(tmp_path)
    _reconciled(settings)
    assert "NTP offset +2500.0 ms" in _failed(settings, _probes(ntp=2_500.0))["clock"]


def test_preopen_missing_master_fails_instruments_and_roll(tmp_path: Path) -> None:
    settings = _desk(tmp_path)
    _reconciled(settings)
    settings.path(settings.instruments.master_file).unlink()
    assert set(_failed(settings, _probes())) == {"instruments", "contract_roll"}


def test_preopen_bad_compliance_file_fails_limits_naming_field(tmp_path: Path) -> None:
    settings = _desk(tmp_path)
    _reconciled(settings)
    (tmp_path / "compliance.yaml").write_text("version: 1\nself_trade: ignore\n")
    assert "self_trade" in _failed(settings, _probes())["limits"]


def test_preopen_egress_loopback_matches_whitelisted_loopback(tmp_path: Path) -> None:
    settings = _desk(tmp_path, egress_ip="127.0.0.1")
    _reconciled(settings)
    probes = Probes(now=NOW, ntp_offset_ms=lambda: 1.0, egress=egress_address)
    assert _failed(settings, probes) == {}


def test_preopen_egress_other_than_whitelisted_fails(tmp_path: Path) -> None:
    settings = _desk(tmp_path, egress_ip="203.0.113.7")
    _reconciled(settings)
    probes = Probes(now=NOW, ntp_offset_ms=lambda: 1.0, egress=egress_address)
    detail = _failed(settings, probes)["egress_ip"]
    assert "egress address 127.0.0.1" in detail and "whitelisted 203.0.113.7" in detail


def test_require_egress_mismatch_is_refused_naming_both() -> None:
    with pytest.raises(EgressCheckError, match=r"127\.0\.0\.1 .* static IP 10\.1\.2\.3"):
        require_egress("10.1.2.3", "127.0.0.1", 9)


def test_require_egress_match_returns_address() -> None:
    assert require_egress("127.0.0.1", "127.0.0.1", 9) == "127.0.0.1"


def test_preopen_cli_prints_every_check_and_exits_one_on_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _desk(tmp_path)  # no journal: the reconciliation check fails
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["preopen", "--mode", "shadow", "--broker", "paper"]) == 1
    out = capsys.readouterr().out
    for name, _ in CHECKS:
        assert f" {name}: " in out
    assert "FAIL reconciliation: no shadow journal" in out


def test_live_start_egress_mismatch_holds_and_journals_alert(tmp_path: Path) -> None:
    from live.events import AlertRaised
    from stratops.compliance_setup import check_egress, load_config
    from stratops.errors import LiveSetupError
    from stratops.live_ops import journal_alert

    settings = _desk(tmp_path, egress_ip="203.0.113.7")
    with pytest.raises(LiveSetupError, match=r"live refused: egress address 127\.0\.0\.1"):
        check_egress(settings, load_config(settings), "live",
                     lambda why: journal_alert(settings, "live", "egress_ip", why))
    alerts = [m for _, m in open_mode_journal(settings, "live").read()
              if isinstance(m, AlertRaised)]
    assert [a.code for a in alerts] == ["egress_ip"]


def test_live_start_egress_loopback_matches(tmp_path: Path) -> None:
    from stratops.compliance_setup import check_egress, load_config

    settings = _desk(tmp_path, egress_ip="127.0.0.1")
    held: list[str] = []
    check_egress(settings, load_config(settings), "live", held.append)
    assert held == []
