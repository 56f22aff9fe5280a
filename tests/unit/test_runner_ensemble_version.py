"""An approved ensemble version's members in the runner: resolved among themselves by the
ensemble's signed resolver and order (not policy.yaml's), every decision naming the ensemble
version; conflicting approvals on one strategy refuse the ensemble(s) concerned."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from live.events import GovernanceDecided, OrderIntended
from live.governance.kill import KillCommand
from live.runner.deployments import EnsembleBinding
from live.runner.ensembles import settle_conflicts, whole_ensembles
from strategies.ensemble import EnsemblePolicy, make_resolver
from tests.unit.test_runner_confidence import _deployed, _entries, _run
from tests.unit.test_runner_engine import stores_in

SIGNED = EnsembleBinding("ensemble_nifty", 2,
                         EnsemblePolicy(make_resolver("priority"), ("ema_cross_twin",)))


def test_signed_resolver_resolves_members_over_the_policy_files(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    first = _deployed(stores, ensemble=SIGNED)
    twin = replace(first, strategy="ema_cross_twin")
    # policy.yaml would let ema_cross win; the ensemble version signed the opposite order
    _run(stores, [first, twin],
         ensemble=EnsemblePolicy(make_resolver("priority"), ("ema_cross",)))
    decided = _entries(stores)
    mine = [d for d in decided if d.strategy == "ema_cross"]
    assert mine and all(not d.allowed and d.reason.startswith(
        "ensemble_nifty v2: ensemble priority: ema_cross_twin (priority 0)") for d in mine)
    assert all(d.allowed and d.reason.endswith("under ensemble_nifty v2")
               for d in decided if d.strategy == "ema_cross_twin")
    assert {m.strategy for m in stores.messages(OrderIntended)} == {  # type: ignore[attr-defined]
        "ema_cross_twin"}


def test_every_member_decision_names_the_ensemble_version(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    first = _deployed(stores, ensemble=SIGNED)
    _run(stores, [first, replace(first, strategy="ema_cross_twin")])  # no policy ensemble
    decided = stores.messages(GovernanceDecided)
    assert decided and {d.ensemble for d in decided} == {  # type: ignore[attr-defined]
        "ensemble_nifty v2"}


def test_member_deployed_alone_or_in_two_ensembles_refuses_the_ensembles(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    member = _deployed(stores, ensemble=SIGNED)
    other = replace(member, strategy="range_breakout")
    ensembles = {"ensemble_nifty": [member, other],
                 "ensemble_banknifty": [replace(other, ensemble=replace(
                     SIGNED, name="ensemble_banknifty"))],
                 "ensemble_sensex": [replace(member, strategy="atr_reversal")]}
    kept, refused = settle_conflicts({"ema_cross"}, ensembles)
    assert [d.strategy for d in kept] == ["atr_reversal"]
    reasons = {r.strategy: r.reason for r in refused}
    assert "also deployed on their own" in reasons["ensemble_nifty"]
    assert "also in another deployed ensemble" in reasons["ensemble_banknifty"]


def test_ensemble_missing_a_member_after_loading_is_refused_whole(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    signed = replace(SIGNED, members=("ema_cross", "ema_cross_twin"))
    first = _deployed(stores, ensemble=signed)
    alone = replace(first, strategy="range_breakout", ensemble=None)
    refused: list = []
    kept = whole_ensembles([first, alone], refused)  # the twin was refused (no algo id)
    assert kept == [alone]
    assert [(r.strategy, r.reason) for r in refused] == [(
        "ensemble_nifty", "ensemble_nifty v2 not traded: member(s) ['ema_cross_twin'] "
                          "refused, and an ensemble trades whole or not at all")]
    both = [first, replace(first, strategy="ema_cross_twin")]
    assert whole_ensembles(both, refused) == both


def test_kill_of_the_ensemble_halts_its_members_entries(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    first = _deployed(stores, ensemble=SIGNED)
    kill = KillCommand(1, "ensemble_nifty", "halt", "bob", "desk review", "2025-03-03T09:15")
    _run(stores, [first, replace(first, strategy="ema_cross_twin")],
         kill_commands=lambda last: [kill] if last < 1 else [])
    decided = _entries(stores)
    assert decided and all(not d.allowed and d.reason == "kill switch: halt" for d in decided)
    assert not stores.messages(OrderIntended)
