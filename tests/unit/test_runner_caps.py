"""The portfolio caps run in the runner's path: built as ``stratops live run`` builds them
(repo risk.yaml and policy.yaml, daily closes from the feed's dataset, paper margins), each
entry's ``RiskChecked`` shows them evaluated, and a cap that denies keeps the order from
being intended."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest
import yaml

from live.events import OrderIntended, RiskChecked
from live.governance.policy import load_policy
from live.risk.daily_history import DailyCloses
from live.risk.limits import RiskLimits, load_risk_limits
from live.risk.margin import load_margin_params
from live.risk.margin_source import PaperMargins
from live.risk.portfolio_caps import PortfolioCaps
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.feed import replay_frame
from tests.unit.test_runner_engine import DATASET, Stores, day_bars, stores_in

REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 7, 1)  # ~125 sessions of history before it: enough for a 99 % VaR


def _engine(limits: RiskLimits) -> PreTradeRiskEngine:
    policy = load_policy(REPO / "policy.yaml")
    params = load_margin_params(REPO / limits.margin.params_file)
    caps = PortfolioCaps(limits, policy,
                         history=DailyCloses.from_bars(replay_frame(DATASET, ["NIFTY"],
                                                                    None, None)),
                         margins=PaperMargins(params, limits.margin.available_capital_inr),
                         rate=params.discount_rate)
    return PreTradeRiskEngine(limits, policy, caps=caps)


def _run(folder: Path, limits: RiskLimits) -> Stores:
    stores = stores_in(folder)
    runner = stores.runner(risk=_engine(limits))
    runner.recover()
    runner.run(day_bars(120, start=DAY))
    return stores


def _entry_checks(stores: Stores) -> list[RiskChecked]:
    return [m for m in stores.messages(RiskChecked)
            if isinstance(m, RiskChecked)]


@pytest.fixture(scope="module")
def repo_limits() -> RiskLimits:
    return load_risk_limits(REPO / "risk.yaml")


def test_runner_entry_risk_check_journals_every_cap(tmp_path: Path,
                                                    repo_limits: RiskLimits) -> None:
    stores = _run(tmp_path, repo_limits)
    checks = _entry_checks(stores)
    assert checks and checks[0].passed
    for cap in ("max_open_positions", "exposure", "margin", "max_var_utilisation"):
        assert cap in checks[0].reason
    assert stores.messages(OrderIntended)


def test_runner_entry_denied_by_the_var_cap_is_journaled_and_not_intended(
        tmp_path: Path, repo_limits: RiskLimits) -> None:
    raw = yaml.safe_load((REPO / "risk.yaml").read_text())
    tight = copy.deepcopy(raw)
    tight["portfolio"]["max_var_utilisation"] = 0.001  # 5,000 INR of VaR: under one lot's
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(tight))
    stores = _run(tmp_path / "run", load_risk_limits(path))
    checks = _entry_checks(stores)
    assert checks and all(not c.passed and c.check == "max_var_utilisation" for c in checks)
    assert not stores.messages(OrderIntended)


def test_live_run_builds_paper_margins_for_the_paper_exchange(repo_limits: RiskLimits) -> None:
    from stratops.live_ops import portfolio_caps
    from stratops.settings import load_settings

    policy = load_policy(REPO / "policy.yaml")
    caps = portfolio_caps(load_settings(REPO), repo_limits, policy, object(), None,
                          replay_frame(DATASET, ["NIFTY"], None, None))
    assert isinstance(caps.margins, PaperMargins)
    assert caps.margins.available_inr() == repo_limits.margin.available_capital_inr


def test_live_run_asks_kite_for_margins_when_the_broker_is_kite(
        repo_limits: RiskLimits) -> None:
    from live.adapters.kite.adapter import KiteBroker
    from live.adapters.kite.margins import KiteMargins
    from stratops.live_ops import portfolio_caps
    from stratops.settings import load_settings
    from tests.unit.test_portfolio_caps import FakeKite

    kite = FakeKite([{"total": 1.0}], {"equity": {"net": 123_456.0}})
    caps = portfolio_caps(load_settings(REPO), repo_limits, load_policy(REPO / "policy.yaml"),
                          KiteBroker(kite),  # type: ignore[arg-type]  # the margin calls only
                          None,
                          replay_frame(DATASET, ["NIFTY"], None, None))
    assert isinstance(caps.margins, KiteMargins)
    assert caps.margins.available_inr() == 123_456.0
