"""Canary evidence read from a canary journal: sessions run, round trips, open breaks.

The canary runs are short real replays (two NSE afternoons of NIFTY, EMA cross) through the
runner in mode canary on the paper exchange.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from live.adapters.paper import PaperExchange
from live.canary import evidence_for, journal_evidence
from live.ensemble_canary import MemberVersion, ensemble_evidence_for
from live.events import OrderIntended, TradeExited
from live.governance.policy import CanaryEvidence
from live.runner.deployments import EnsembleBinding
from live.runner.feed import FeedBar
from live.runner.runner import Runner
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_version import EnsembleManifest, EnsembleMember
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_engine import (
    DAY1_FROM,
    Stores,
    day_bars,
    record_clock,
    stores_in,
    strategy_config,
)

TWO_DAYS = day_bars(end=date(2025, 3, 4))
AFTERNOON_1, AFTERNOON_2 = TWO_DAYS[DAY1_FROM:375], TWO_DAYS[375 + DAY1_FROM:]
MORNING_2 = TWO_DAYS[375:375 + 60]  # 09:15 .. 10:14, a position still open at the end


def canary(folder: Path, version: int = 1) -> Stores:
    return stores_in(folder, mode="canary", version=version, fraction=0.5)


def evidence(stores: Stores, version: int = 1) -> CanaryEvidence | None:
    return evidence_for(stores.journal(), VersionConfig.from_json(stores.config), version,
                        source="canary journal")


@pytest.fixture(scope="module")
def two_afternoons(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    stores = canary(tmp_path_factory.mktemp("canary"))
    stores.run(AFTERNOON_1)
    stores.run(AFTERNOON_1 + AFTERNOON_2)  # the next day: a restart, as a daily runner does
    return stores


def test_evidence_for_canary_run_counts_each_day_run_as_a_session(
        two_afternoons: Stores) -> None:
    found = evidence(two_afternoons)
    assert found is not None and found.sessions == 2


def test_evidence_for_canary_run_counts_round_trips_as_trades(two_afternoons: Stores) -> None:
    round_trips = len(two_afternoons.messages(TradeExited))
    found = evidence(two_afternoons)
    assert round_trips > 0
    assert found is not None and found.trades == round_trips


def test_evidence_for_clean_canary_run_has_no_open_breaks(two_afternoons: Stores) -> None:
    found = evidence(two_afternoons)
    assert found is not None and found.open_breaks == 0


def test_evidence_for_canary_run_names_its_source(two_afternoons: Stores) -> None:
    found = evidence(two_afternoons)
    assert found is not None and found.source == "canary journal"


def test_evidence_for_canary_run_trades_at_least_one_lot(two_afternoons: Stores) -> None:
    qty = {m.qty for m in two_afternoons.messages(OrderIntended)}  # type: ignore[attr-defined]
    assert qty == {75}  # 1 lot x 0.5 of capital rounds up to the one-lot minimum


def test_evidence_for_version_that_never_ran_is_none(two_afternoons: Stores) -> None:
    assert evidence(two_afternoons, version=2) is None


def test_evidence_for_version_whose_number_extends_the_run_one_is_none(
        two_afternoons: Stores) -> None:
    assert evidence(two_afternoons, version=11) is None  # "v1" must not match "v11"


def test_evidence_for_empty_journal_is_none(tmp_path: Path) -> None:
    assert evidence(canary(tmp_path)) is None


@pytest.fixture(scope="module")
def redeployed(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """v1 runs the first afternoon; v2 is deployed to canary and runs the second."""
    folder = tmp_path_factory.mktemp("redeployed")
    canary(folder, version=1).run(AFTERNOON_1)
    stores = canary(folder, version=2)
    stores.run(AFTERNOON_1 + AFTERNOON_2)
    return stores


def test_evidence_for_new_version_in_the_same_mode_counts_its_own_session(
        redeployed: Stores) -> None:
    found = evidence(redeployed, version=2)
    assert found is not None and found.sessions == 1


def test_evidence_for_previous_version_excludes_days_of_the_next_one(
        redeployed: Stores) -> None:
    found = evidence(redeployed, version=1)
    assert found is not None and found.sessions == 1


def test_evidence_for_run_stopped_with_a_position_open_has_no_open_breaks(
        tmp_path: Path) -> None:
    stores = canary(tmp_path)
    runner = stores.run(AFTERNOON_1 + MORNING_2)
    assert runner.state.positions[("ema_cross", "NIFTY")].net_qty != 0
    found = evidence(stores)
    assert found is not None and found.open_breaks == 0


def test_evidence_for_one_lot_version_says_the_canary_ran_at_live_size(
        two_afternoons: Stores) -> None:
    found = evidence(two_afternoons)  # qty_lots 1: 0.5 of it rounds up to the live lot
    assert found is not None and "live size" in found.size_note
    assert "1 lot(s)" in found.size_note


LABEL = "ensemble_nifty v1"


def _manifest(*strategies: str) -> EnsembleManifest:
    return EnsembleManifest("NIFTY", "priority", (), tuple(
        EnsembleMember(s, 1, "0" * 64) for s in strategies))


def _members(*strategies: str) -> dict[str, MemberVersion]:
    return {s: MemberVersion(1, VersionConfig.from_json(strategy_config(s)))
            for s in strategies}


def ensemble_evidence(stores: Stores, version: int = 1) -> CanaryEvidence | None:
    return ensemble_evidence_for(stores.journal(), "ensemble_nifty", version,
                                 _manifest("ema_cross"), _members("ema_cross"),
                                 source="canary journal")


@pytest.fixture(scope="module")
def under_ensemble(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """ema_cross traded for two afternoons as the one member of ensemble_nifty v1."""
    stores = canary(tmp_path_factory.mktemp("ensemble"))
    binding = EnsembleBinding("ensemble_nifty", 1,
                              EnsemblePolicy(make_resolver("priority")), ("ema_cross",))
    for bars in (AFTERNOON_1, AFTERNOON_1 + AFTERNOON_2):
        exchange = stores.exchange()
        member = replace(stores.runner().deployed[0], ensemble=binding)

        def market(b: FeedBar, x: PaperExchange = exchange) -> None:
            x.on_bar(b.symbol, b.ts, b.open, b.high, b.low, b.close)

        runner = Runner(journal=stores.journal(), broker=exchange, deployed=[member],
                        mode="canary", clock=record_clock, risk=PassThroughRisk(),
                        market=market)
        runner.recover()
        runner.run(bars)
    return stores


def test_ensemble_canary_evidence_reconciles_its_members_against_its_simulation(
        under_ensemble: Stores) -> None:
    found = ensemble_evidence(under_ensemble)
    assert found is not None and found.open_breaks == 0 and found.sessions == 2
    assert found.trades == len(under_ensemble.messages(TradeExited)) > 0
    assert found.source == f"canary journal: {LABEL}'s members against the ensemble's simulation"


def test_ensemble_canary_evidence_names_a_member_trade_its_simulation_lacks(
        under_ensemble: Stores) -> None:
    params = {**strategy_config()["params"], "fast": 3}  # the simulation trades other params
    members = {"ema_cross": MemberVersion(1, VersionConfig.from_json(
        {**strategy_config(), "params": params}))}
    found = ensemble_evidence_for(under_ensemble.journal(), "ensemble_nifty", 1,
                                  _manifest("ema_cross"), members, source="canary journal")
    assert found is not None and found.open_breaks > 0
    assert "(breaks: ema_cross 2025-03-0" in found.source
    assert "extra trade entered" in found.source or "missing trade entered" in found.source


def test_ensemble_canary_evidence_of_another_ensemble_version_is_none(
        under_ensemble: Stores) -> None:
    assert ensemble_evidence(under_ensemble, version=11) is None  # "v1" is not "v11"


def test_ensemble_canary_evidence_of_a_run_outside_the_ensemble_is_none(
        two_afternoons: Stores) -> None:
    assert ensemble_evidence(two_afternoons) is None  # ema_cross traded on its own


def test_ensemble_canary_evidence_without_a_readable_manifest_is_one_open_break(
        two_afternoons: Stores, tmp_path: Path) -> None:
    from pipelines.research.registry import ResearchRegistry

    registry = ResearchRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts")
    source = journal_evidence(f"sqlite:///{two_afternoons.folder / 'journal.db'}", None,
                              registry)
    found = source("ensemble_nifty", 1)
    assert found is not None and found.open_breaks == 1 and found.sessions == 0
    assert "ensemble_nifty v1's members cannot be simulated" in found.source
