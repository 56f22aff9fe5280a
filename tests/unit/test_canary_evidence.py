"""Canary evidence read from a canary journal: sessions run, round trips, open breaks.

The canary runs are short real replays (two NSE afternoons of NIFTY, EMA cross) through the
runner in mode canary on the paper exchange.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from live.canary import evidence_for
from live.events import OrderIntended, TradeExited
from live.governance.policy import CanaryEvidence
from strategies.version_config import VersionConfig
from tests.unit.test_runner_engine import DAY1_FROM, Stores, day_bars, stores_in

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


def test_ensemble_canary_evidence_is_one_open_break_saying_why(tmp_path: Path) -> None:
    from live.canary import ENSEMBLE_NOTE, journal_evidence

    source = journal_evidence(f"sqlite:///{tmp_path / 'journal.db'}", tmp_path, registry=None)
    evidence = source("ensemble_nifty", 1)
    assert evidence is not None and evidence.open_breaks == 1 and evidence.sessions == 0
    assert evidence.source == ENSEMBLE_NOTE and "not built yet" in evidence.source
