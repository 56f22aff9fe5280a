"""The canary trades at the policy's capital fraction: its order size (whole lots, at least
one) and the capital its guardrails measure; where the minimum lot already equals the live
size the promotion evidence says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.canary import size_note
from live.governance.policy import load_policy
from live.runner.deployments import build, lots_for, stage_capital
from strategies.version_config import VersionConfig
from tests.unit.test_runner_engine import strategy_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("live_lots", "fraction", "canary_lots"), [
    (10, 0.10, 1), (25, 0.10, 2), (4, 0.5, 2), (1, 0.10, 1), (3, 0.10, 1)])
def test_canary_lots_are_the_fraction_of_live_in_whole_lots(live_lots: int, fraction: float,
                                                             canary_lots: int) -> None:
    assert lots_for(live_lots, "canary", fraction) == canary_lots
    assert lots_for(live_lots, "live", fraction) == live_lots


def test_canary_deployment_orders_the_fraction_of_the_live_size() -> None:
    raw = strategy_config()
    raw["sim"]["qty_lots"] = 20
    config = VersionConfig.from_json(raw)
    canary = build(config, 1, "canary", 0.10, "0" * 64)
    live = build(config, 1, "live", 1.0, "0" * 64)
    assert (canary.rules.qty, live.rules.qty) == (2 * 75, 20 * 75)


def test_canary_guardrails_measure_the_stage_capital() -> None:
    policy = load_policy(REPO / "policy.yaml")
    config = VersionConfig.from_json(strategy_config())
    deployed = [build(config, 1, "canary", 0.10, "0" * 64)]
    account = policy.rules.accounts[policy.rules.default_account].capital_inr
    cap = min(policy.limits_for("ema_cross").max_capital_inr, account)
    fraction = policy.rules.stages.canary.capital_fraction
    assert stage_capital(policy, deployed, "canary") == {"ema_cross": cap * fraction}
    assert stage_capital(policy, deployed, "live") == {"ema_cross": cap}
    assert stage_capital(policy, deployed, "shadow") == {"ema_cross": cap}  # virtual size


@pytest.mark.parametrize(("canary_qty", "live_qty", "noted"), [
    (75, 75, True), (150, 1500, False), (75, 150, False)])
def test_size_note_only_when_the_canary_was_not_smaller(canary_qty: int, live_qty: int,
                                                        noted: bool) -> None:
    note = size_note(canary_qty, live_qty, 75)
    assert bool(note) is noted
    if noted:
        assert "minimum lot already equals the live size" in note


def test_live_approval_report_says_the_canary_ran_at_live_size(
        capsys: pytest.CaptureFixture[str]) -> None:
    from live.governance.promotion import DeploymentCheck
    from stratops.cli_governance import _print_check

    note = size_note(75, 75, 75)
    body = {"capital_fraction": 1.0, "model_digest": "f" * 64,
            "canary_evidence": {"sessions": 6, "trades": 29, "open_breaks": 0,
                                "source": "canary journal", "size_note": note}}
    _print_check(DeploymentCheck("atr_divergence", "live", 2, [], snapshot={
        "body": body, "approval": {"signature": {"signer": "bob"}}}))
    shown = " ".join(capsys.readouterr().out.split())
    assert "canary size: canary traded at the live size (75 units = 1 lot(s))" in shown
