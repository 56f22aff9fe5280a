"""The paper twin end to end (stratops/twin_ops.py): the project's policy and risk limits, a
live journal at ``live.journal_url``, the twin run on the bars it journaled (its own journal
``journal-live_twin.db`` and exchange), ``twin.json`` written, a ``twin_drift`` alert in the
live journal on a breach, and ``stratops report twin`` printing it (exit 1 on a breach)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from live.events import AlertRaised, HealthObserved
from live.journal import Journal
from live.runner.deployments import build
from live.twin import TWIN_ALERT, journaled_bars
from strategies.version_config import VersionConfig
from stratops.cli import app, main
from stratops.errors import LiveSetupError
from stratops.live_ops import open_mode_journal
from stratops.settings import Settings
from stratops.twin_ops import open_twin_journal, run_twin_day, twin_report, twin_runner
from tests.unit.test_runner_engine import day_bars, strategy_config

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 3, 3)


def project(root: Path, live_slippage_ticks: float) -> tuple[Settings, list[Any]]:
    """A project folder whose live journal traded DAY through the policy and risk engine,
    on a paper book that slips ``live_slippage_ticks`` per fill (the twin: the version's)."""
    for name in ("policy.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    deployed = [build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)]
    config = strategy_config()
    config["sim"] = {**config["sim"], "slippage_ticks": live_slippage_ticks}
    live_deployed = [build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)]
    live_book = Settings(root=root, live={  # live's paper book: another store
        "paper_twin_exchange_url": "sqlite:///.stratops/live_exchange.db"})
    journal = open_mode_journal(live_book, "live")
    runner = twin_runner(live_book, "live", live_deployed, journal)
    runner.recover()
    runner.run(day_bars())
    journal.engine.dispose()
    return Settings(root=root, live={"paper_twin": True}), deployed


def _journal(settings: Settings) -> Journal:
    return open_mode_journal(settings, "live")


def test_twin_of_a_clean_live_day_agrees_and_the_cli_prints_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings, deployed = project(tmp_path, live_slippage_ticks=1.0)  # the version's own
    done = run_twin_day(settings, "live", _journal(settings), deployed, DAY,
                        tmp_path / "days" / "twin")
    assert done is not None and done.report.breaches == [] and done.fills > 0
    assert json.loads((tmp_path / "days" / "twin" / "twin.json").read_text())["breaches"] == []
    assert (tmp_path / ".stratops" / "journal-live_twin.db").exists()
    assert open_twin_journal(settings, "live").head()[0] > 0
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    result = CliRunner().invoke(app, ["report", "twin", "--day", "2025-03-03", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["strategies"]
    assert row["signal_agreement"] == 1.0 and row["live"]["fills"] == row["twin"]["fills"]
    assert main(["report", "twin", "--day", "2025-03-03", "--mode", "canary"]) == 2
    assert "no paper twin session of canary on 2025-03-03" in capsys.readouterr().err


def test_live_slipping_more_than_its_twin_is_alerted_and_the_cli_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, deployed = project(tmp_path, live_slippage_ticks=8.0)
    done = run_twin_day(settings, "live", _journal(settings), deployed, DAY, None)
    assert done is not None and any("slippage: KS" in b for b in done.report.breaches)
    alerts = [m for _, m in _journal(settings).read()
              if isinstance(m, AlertRaised) and m.code == TWIN_ALERT]
    assert len(alerts) == 1 and "drifted apart" in alerts[0].message
    again = run_twin_day(settings, "live", _journal(settings), deployed, DAY, None)
    assert again is not None and again.rebuilt_bars == 0  # its journal has the day: read
    assert again.fills == done.fills and done.rebuilt_bars == done.bars
    assert not [m for _, m in open_twin_journal(settings, "live").read()
                if isinstance(m, HealthObserved)]  # no health expectation in this version
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    result = CliRunner().invoke(app, ["report", "twin", "--day", "2025-03-03"])
    assert result.exit_code == 1 and "BREACH slippage: KS" in result.output


def test_report_of_a_day_the_twin_never_traded_rebuilds_it(tmp_path: Path) -> None:
    settings, deployed = project(tmp_path, live_slippage_ticks=1.0)  # live.paper_twin was off
    report, rebuilt = twin_report(settings, DAY, "live", lambda: deployed)
    assert rebuilt == 375 and report.breaches == []
    (row,) = report.strategies
    assert row.signal_agreement == 1.0 and row.twin["fills"] == row.live["fills"] > 0
    assert twin_report(settings, DAY, "live", lambda: [])[1] == 0  # stored now: read only
    assert not [m for _, m in _journal(settings).read()
                if isinstance(m, AlertRaised) and m.code == TWIN_ALERT]  # a report alerts not


def test_report_rebuild_with_another_deployed_version_is_refused(tmp_path: Path) -> None:
    settings, _ = project(tmp_path, live_slippage_ticks=1.0)
    other = [build(VersionConfig.from_json(strategy_config()), 2, "live", 1.0, "0" * 64)]
    with pytest.raises(LiveSetupError, match=r"live traded ema_cross v1 \(deployed at live "
                                             r"now: v2\)"):
        twin_report(settings, DAY, "live", lambda: other)
    assert not journaled_bars(open_twin_journal(settings, "live"), DAY)  # nothing traded
