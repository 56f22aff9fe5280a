"""The canary's realised slippage against the research assumption: measured from a real
canary run's journal (paper exchange, 1 tick of slippage; the version assumes 1 tick), and
gated by policy.yaml ``stages.canary.max_slippage_excess_bps`` - in the policy's promotion
check and in the signed snapshot's re-check at deploy verification."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from live.canary import evidence_for
from live.governance.policy import CanaryEvidence, PolicyConfigError, load_policy
from live.governance.snapshot import evidence_problems
from live.tca.extract import tca_tables
from strategies.version_config import VersionConfig
from tests.unit.test_policy import BASE, KNOWN, _write
from tests.unit.test_runner_engine import DAY1_FROM, Stores, day_bars, stores_in

AFTERNOON = day_bars()[DAY1_FROM:375]


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    stores = stores_in(tmp_path_factory.mktemp("canary"), mode="canary", version=1,
                       fraction=0.5)
    stores.run(AFTERNOON)
    return stores


def _evidence(realised: float | None, assumed: float | None = 0.5) -> CanaryEvidence:
    return CanaryEvidence(sessions=5, trades=20, open_breaks=0, source="journal:test",
                          realised_slippage_bps=realised, assumed_slippage_bps=assumed)


def _policy_data(limit: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["stages"]["canary"]["max_slippage_excess_bps"] = limit
    return data


def _rules(tmp_path: Path, evidence: CanaryEvidence, limit: float = 1.0) -> list[str]:
    policy = load_policy(_write(tmp_path, _policy_data(limit)), KNOWN)
    found = policy.check_promotion(strategy="ema_cross", to_stage="live", symbols=["NIFTY"],
                                   live_count=0, evidence=evidence)
    return [v.rule for v in found]


def test_canary_paper_fills_slip_one_tick_each(canary_run: Stores) -> None:
    """The paper exchange fills a market order at the next open (= this bar's close in this
    data) plus 1 tick: 0.05 points x 75 units = 3.75 INR of arrival slippage per order."""
    tables = tca_tables(canary_run.journal(), date(2025, 3, 3))
    assert tables.children
    assert {round(c.arrival_slippage_inr or 0.0, 6) for c in tables.children} == {3.75}


def test_canary_evidence_realised_slippage_matches_the_one_tick_assumption(
        canary_run: Stores) -> None:
    found = evidence_for(canary_run.journal(), VersionConfig.from_json(canary_run.config), 1,
                         source="canary journal")
    assert found is not None and found.realised_slippage_bps is not None
    assert found.realised_slippage_bps == pytest.approx(found.assumed_slippage_bps)
    assert found.realised_slippage_bps == pytest.approx(0.05 / 23850 * 1e4, rel=0.01)


def test_policy_canary_slippage_over_assumption_beyond_limit_is_violation(
        tmp_path: Path) -> None:
    assert _rules(tmp_path, _evidence(2.0)) == ["max_slippage_excess_bps"]  # 1.5 > 1.0


def test_policy_canary_slippage_within_limit_passes(tmp_path: Path) -> None:
    assert _rules(tmp_path, _evidence(1.5)) == []  # 1.0 excess: not above 1.0


def test_policy_canary_slippage_unmeasured_fails_closed(tmp_path: Path) -> None:
    assert _rules(tmp_path, _evidence(None, None)) == ["max_slippage_excess_bps"]


def test_policy_without_slippage_gate_ignores_slippage(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, copy.deepcopy(BASE)), KNOWN)
    assert policy.check_promotion(strategy="ema_cross", to_stage="live", symbols=["NIFTY"],
                                  live_count=0, evidence=_evidence(50.0)) == []


@pytest.mark.parametrize("limit", [-1.0, ".nan", "a lot"])
def test_policy_bad_slippage_limit_is_refused_naming_the_field(tmp_path: Path,
                                                              limit: Any) -> None:
    data = _policy_data(limit)
    if limit == ".nan":
        data["stages"]["canary"]["max_slippage_excess_bps"] = float("nan")
    with pytest.raises(PolicyConfigError, match=r"stages\.canary\.max_slippage_excess_bps"):
        load_policy(_write(tmp_path, data), KNOWN)


def test_policy_slippage_limit_is_in_the_snapshot_requirements(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, _policy_data(2.5)), KNOWN)
    assert policy.to_snapshot()["canary_requirements"]["max_slippage_excess_bps"] == 2.5


def test_snapshot_recheck_refuses_evidence_that_slipped_beyond_the_signed_policy() -> None:
    body = {"policy": {"canary_requirements": {"max_slippage_excess_bps": 1.0}},
            "canary_evidence": {"sessions": 5, "trades": 20, "open_breaks": 0,
                                "realised_slippage_bps": 4.0, "assumed_slippage_bps": 0.5}}
    (problem,) = evidence_problems(body)
    assert "max_slippage_excess_bps=1.0" in problem
