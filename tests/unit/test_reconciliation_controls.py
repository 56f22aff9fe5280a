"""Reconciliation tells the runner's own controls (a denied entry) apart from a real break.

Real replays of NSE days through the runner on the paper exchange (EMA cross), once with the
risk engine denying one entry; the journal is then reconciled against the simulator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from live.backtest_reconciliation import DayReport, expectation_config, reconcile_journal
from live.events import OrderIntended, RiskChecked
from live.risk.interface import OrderProposal, RiskDecision
from live.state import LiveState
from strategies.version_config import SimRules
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_engine import Stores, day_bars, stores_in

BARS = day_bars()


class DeniesSecondEntry(PassThroughRisk):
    """A risk engine that denies the second entry it is asked about."""

    def __init__(self) -> None:
        self.entries = 0

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        if not proposal.reduces_exposure:
            self.entries += 1
            if self.entries == 2:
                return RiskDecision(False, "lockout_window", "test lockout")
        return super().check(proposal, state)


def _run(stores: Stores, risk: PassThroughRisk) -> list[DayReport]:
    runner = stores.runner(risk=risk)
    runner.recover()
    runner.run(BARS)
    qty = next(m.qty for m in stores.messages(OrderIntended))
    sim = expectation_config(SimRules.from_json(stores.config.get("sim")), qty)
    return reconcile_journal(stores.journal(), strategy=stores.config["strategy"],
                             params=stores.config["params"], venue=stores.config["venue"],
                             symbol="NIFTY", sim=sim)


@pytest.fixture(scope="module")
def denied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, list[DayReport]]:
    stores = stores_in(tmp_path_factory.mktemp("denied"), mode="canary")
    return stores, _run(stores, DeniesSecondEntry())


def test_reconcile_journal_entry_denied_by_risk_is_explained_not_a_break(
        denied: tuple[Stores, list[DayReport]]) -> None:
    stores, reports = denied
    denials = [m for m in stores.messages(RiskChecked) if not m.passed]
    explained = [line for r in reports for line in r.explained]
    assert len(denials) == 1
    assert [r.breaks for r in reports] == [[] for _ in reports]
    assert len(explained) == 1 and "denied by risk (lockout_window): test lockout" in explained[0]


def test_reconcile_journal_run_without_denials_explains_nothing(tmp_path: Path) -> None:
    reports = _run(stores_in(tmp_path, mode="canary"), PassThroughRisk())
    assert sum(len(r.expected) for r in reports) >= 2
    assert [(r.breaks, r.explained) for r in reports] == [([], []) for _ in reports]


def test_warm_up_sessions_are_the_backtest_s_history_never_a_reconciled_day(
        tmp_path: Path) -> None:
    from datetime import date

    from live.runner.feed import WarmBar

    stores = stores_in(tmp_path, mode="canary")
    runner = stores.runner(risk=PassThroughRisk())
    runner.recover()
    runner.run([*(WarmBar(b) for b in day_bars(start=date(2025, 2, 27), end=date(2025, 2, 28))),
                *BARS])
    qty = next(m.qty for m in stores.messages(OrderIntended))
    sim = expectation_config(SimRules.from_json(stores.config.get("sim")), qty)
    reports = reconcile_journal(stores.journal(), strategy=stores.config["strategy"],
                                params=stores.config["params"], venue=stores.config["venue"],
                                symbol="NIFTY", sim=sim)
    assert [r.day for r in reports] == ["2025-03-03"]
    assert reports[0].breaks == [] and reports[0].actual
