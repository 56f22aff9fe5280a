"""The impact budget in the runner's path, built as ``stratops live run`` builds it: every
entry's ``RiskChecked`` shows its impact estimate, an entry over the budget is denied and
never intended, and a malformed calibration file stops the run from starting."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest
import yaml

from live.events import OrderIntended, RiskChecked
from live.risk.limits import RiskLimits, load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.feed import replay_frame
from stratops.live_ops import LiveSetupError, impact_budget
from stratops.settings import load_settings
from tests.unit.test_runner_engine import DATASET, Stores, day_bars, stores_in

REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 7, 1)


def _run(folder: Path, limits: RiskLimits) -> Stores:
    budget = impact_budget(load_settings(REPO), limits,
                           replay_frame(DATASET, ["NIFTY"], None, None))
    stores = stores_in(folder)
    runner = stores.runner(risk=PreTradeRiskEngine(limits, impact=budget))
    runner.recover()
    runner.run(day_bars(120, start=DAY))
    return stores


def _limits(tmp_path: Path, max_impact_bps: float) -> RiskLimits:
    raw = copy.deepcopy(yaml.safe_load((REPO / "risk.yaml").read_text()))
    raw["execution"] = {"max_impact_bps": max_impact_bps,
                        "calibration_file": "data/calibration/none-here.json"}
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_risk_limits(path)


def test_runner_entry_risk_check_shows_the_impact_estimate(tmp_path: Path) -> None:
    stores = _run(tmp_path / "run", _limits(tmp_path, 10.0))
    checks = [m for m in stores.messages(RiskChecked) if isinstance(m, RiskChecked)]
    assert checks and checks[0].passed
    assert "impact " in checks[0].reason
    assert "calibration_source: literature" in checks[0].reason
    assert stores.messages(OrderIntended)


def test_runner_entry_over_the_impact_budget_is_denied_and_not_intended(
        tmp_path: Path) -> None:
    stores = _run(tmp_path / "run", _limits(tmp_path, 0.01))
    checks = [m for m in stores.messages(RiskChecked) if isinstance(m, RiskChecked)]
    assert checks and all(not c.passed and c.check == "max_impact" for c in checks)
    assert not stores.messages(OrderIntended)


def test_live_run_refuses_a_malformed_calibration_file(tmp_path: Path) -> None:
    (tmp_path / "data" / "calibration").mkdir(parents=True)
    (tmp_path / "data" / "calibration" / "impact.json").write_text("{not json")
    limits = load_risk_limits(REPO / "risk.yaml")
    with pytest.raises(LiveSetupError, match=r"impact\.json: not valid JSON"):
        impact_budget(load_settings(tmp_path), limits,
                      replay_frame(DATASET, ["NIFTY"], None, None))
