"""An ensemble version is traded like any approved version: research records
``ensemble_nifty`` over two registered members (:func:`record_ensemble` on the real study),
maker/checker promote it to shadow and canary, the runner loads its members at their signed
versions and digests and trades them on replayed NIFTY bars, resolving their entries with the
ensemble's own resolver and naming the ensemble version on every decision. A members tag
edited after approval, a member deployed on its own as well, or a member's files swapped
are refused at load (audited by the caller), never traded."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import yaml

from live.canary import journal_evidence
from live.config_changes import approve_config, request_config
from live.events import GovernanceDecided, OrderIntended
from live.runner.deployments import Deployed
from live.runner.ensembles import load_approved
from live.runner.feed import WarmBar
from live.runner.runner import Runner
from pipelines.research.ensemble_record import record_ensemble
from pipelines.research.gates import load_gates
from pipelines.research.registry import MODEL_DIGEST_TAG
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_version import MEMBERS_TAG
from strategies.params import params_hash
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.integration.test_governance import Desk, _refused
from tests.integration.test_registry import Candidate, _artifacts
from tests.integration.test_registry_ensemble import _members, _study
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in

pytestmark = pytest.mark.integration
NAME = "ensemble_nifty"


def _committed_root(root: Path) -> Path:
    """A git work tree with one commit: the code revision an ensemble is recorded on."""
    root.mkdir()
    for cmd in (["git", "init", "-q"], ["git", "-c", "user.email=t@t", "-c", "user.name=t",
                                        "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    return root


def _register_members(desk: Desk, cand: Candidate) -> dict[str, int]:
    """Each study member's chosen params registered (the lenient gates pass them)."""
    gates = load_gates(desk.root / "gates.yaml")
    versions = {}
    for m in _members():
        chosen = m.report.chosen_params()
        # a defaults-only walk-forward (one trial) has no PBO or DSR, which no gate passes:
        # this member is registered with neutral values for them (what is tested is the
        # ensemble's governance and loading, not this member's overfitting)
        report = replace(m.report, metrics={**m.report.metrics, "pbo": 0.0,
                                            "dsr_probability": 1.0}) \
            if m.report.n_trials == 1 else m.report
        verdict = gates.evaluate(m.spec.name, report.metrics)
        lineage = replace(cand.lineage, strategy=m.spec.name, params=chosen,
                          params_hash=params_hash(m.spec.params_cls(**chosen)),
                          code_revision="1" * 40, gates_digest=verdict.gates_digest,
                          verdict_digest=verdict.digest(), verdict_passed=verdict.passed)
        config = VersionConfig.from_json(
            {"strategy": m.spec.name, "params": chosen, "venue": "NSE", "cutoff": "venue",
             "symbols": ["NIFTY"], "sim": {"lot_size": 75, "qty_lots": 2,
                                           "slippage_ticks": 1.0, "tick_size": 0.05}})
        artifacts = _artifacts(desk.root / f"member-{m.spec.name}", report, verdict)
        versions[m.spec.name] = desk.registry.record(
            report, verdict, lineage, artifacts, config, cand.input_example).version
    return versions


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, candidate: Candidate
             ) -> tuple[Desk, int]:
    """The desk with the members and the ensemble recorded (once; each test copies it)."""
    return _ensemble_desk(tmp_path_factory.mktemp("ensemble"), candidate)


@pytest.fixture()
def ensemble_desk(recorded: tuple[Desk, int], tmp_path: Path) -> tuple[Desk, int]:
    return recorded[0].copy_to(tmp_path / "desk"), recorded[1]


def _ensemble_desk(tmp_path: Path, cand: Candidate) -> tuple[Desk, int]:
    desk = Desk(tmp_path / "desk", cand)
    desk.approve_configs()
    _register_members(desk, cand)
    version, verdict = record_ensemble(
        desk.registry, _study(), _members(), resolver="priority", order=("range_breakout",),
        dataset="nse_index_1m", dataset_md5="md5", feature_set_version="1",
        feature_key="fk", gates=load_gates(desk.root / "gates.yaml"),
        root=_committed_root(tmp_path / "repo"))
    assert verdict.passed and ":unregistered" not in version.tags[MEMBERS_TAG]
    return desk, version.version


def _promote(desk: Desk, strategy: str, version: int, stage: str) -> None:
    row = desk.svc.request_promotion(strategy, version, stage, f"to {stage}",
                                     desk.signer("alice"))
    check = desk.svc.approve(row.ref, desk.signer("bob"))
    assert check.ok, check.problems


def _canary(desk: Desk, version: int) -> list[Deployed]:
    """The ensemble promoted to shadow and canary; its members loaded for the canary."""
    for stage in ("shadow", "canary"):
        _promote(desk, NAME, version, stage)
    deployed, refused = load_approved(desk.svc, "canary")
    assert refused == [] and deployed
    return deployed


def _canary_evidence_from(desk: Desk, stores: Stores) -> None:
    """Canary -> live reads the canary journal of ``stores``; the policy asks one session
    and one trade of it (a day's replay), no open break."""
    policy = yaml.safe_load((desk.root / "policy.yaml").read_text())
    policy["stages"]["canary"].update(min_sessions=1, min_trades=1, max_open_breaks=0)
    (desk.root / "policy.yaml").write_text(yaml.safe_dump(policy))
    row = request_config(desk.svc, "policy", "canary of one day", desk.signer("alice"))
    approve_config(desk.svc, row.ref, desk.signer("carol"))
    desk.svc.evidence = journal_evidence(f"sqlite:///{stores.folder / 'journal.db'}", None,
                                         desk.registry)


def _run(stores: Stores, deployed: list[Deployed]) -> list[GovernanceDecided]:
    exchange = stores.exchange()
    runner = Runner(journal=stores.journal(), broker=exchange, deployed=deployed,
                    mode="canary", clock=record_clock, risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    # 2025-04-25 09:43 is a bar where both members' entries fire (a contested entry is
    # rare: once in March-April 2025 on this dataset)
    runner.run([*(WarmBar(b) for b in day_bars(start=date(2025, 4, 24))),
                *day_bars(start=date(2025, 4, 25))])
    return stores.messages(GovernanceDecided)  # type: ignore[return-value]


def test_approved_ensemble_trades_its_members_under_its_resolver(
        ensemble_desk: tuple[Desk, int], tmp_path: Path) -> None:
    desk, version = ensemble_desk
    for stage in ("shadow", "canary"):
        _promote(desk, NAME, version, stage)
    snapshot = desk.svc.verify_deployment(NAME, "canary").snapshot
    assert snapshot is not None
    manifest = desk.registry.load_ensemble(NAME, version)
    assert snapshot["body"]["ensemble"] == manifest.to_json()  # the approval signs members
    deployed, refused = load_approved(desk.svc, "canary")
    assert refused == []
    assert {(d.strategy, d.version) for d in deployed} == \
        {(m.strategy, m.version) for m in manifest.members}
    assert all(d.ensemble is not None and d.ensemble.label == f"{NAME} v{version}" and
               d.ensemble.policy.priority == ("range_breakout",) and d.symbols == ("NIFTY",)
               for d in deployed)
    assert {d.rules.qty for d in deployed} == {75}  # canary: 10 % of 2 lots, at least one
    decided = _run(stores_in(tmp_path / "run", mode="canary"), deployed)
    assert decided and all(d.ensemble == f"{NAME} v{version}" for d in decided)
    held = [d for d in decided if "ensemble priority" in d.reason]
    assert held, "no contested entry on the replayed days"
    assert all(d.strategy == "ema_cross" and not d.allowed and d.reason.startswith(
        f"{NAME} v{version}: ensemble priority: range_breakout (priority 0)") for d in held)
    stores = stores_in(tmp_path / "run", mode="canary")
    intents: list[OrderIntended] = stores.messages(OrderIntended)  # type: ignore[assignment]
    assert {m.strategy for m in intents} == {"ema_cross", "range_breakout"}


def test_members_tag_edited_after_approval_refuses_the_load(
        ensemble_desk: tuple[Desk, int]) -> None:
    desk, version = ensemble_desk
    _promote(desk, NAME, version, "shadow")
    tags = desk.registry.get_version(NAME, version).tags
    ema = desk.registry.get_version("ema_cross", 1)  # Desk's own v1: another approved model
    forged = ",".join(f"ema_cross:1:{ema.tags[MODEL_DIGEST_TAG]}" if e.startswith("ema_cross:")
                      else e for e in tags[MEMBERS_TAG].split(","))
    desk.registry.client.set_model_version_tag(NAME, str(version), MEMBERS_TAG, forged)
    deployed, refused = load_approved(desk.svc, "shadow")
    assert deployed == []
    assert [r.strategy for r in refused] == [NAME]
    assert "contradicts the signed manifest's members" in refused[0].reason


def test_one_strategy_has_one_approval_per_stage(ensemble_desk: tuple[Desk, int]) -> None:
    desk, version = ensemble_desk
    _promote(desk, NAME, version, "shadow")
    row = desk.svc.request_promotion("ema_cross", desk.versions[0], "shadow", "alone too",
                                     desk.signer("alice"))
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("bob")),
             "ema_cross is traded at shadow as a member of ensemble_nifty")


def test_ensemble_with_a_member_deployed_alone_is_refused(
        ensemble_desk: tuple[Desk, int]) -> None:
    desk, version = ensemble_desk
    _promote(desk, "ema_cross", desk.versions[0], "shadow")
    row = desk.svc.request_promotion(NAME, version, "shadow", "try", desk.signer("alice"))
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("bob")),
             "ensemble member ema_cross is already deployed at shadow on its own")


def test_member_files_swapped_after_approval_refuse_the_load(
        tmp_path: Path, candidate: Candidate) -> None:
    desk, version = _ensemble_desk(tmp_path, candidate)  # its own artifacts: altered here
    _promote(desk, NAME, version, "shadow")
    member = desk.registry.load_ensemble(NAME, version).members[0]
    source = desk.registry.client.get_model_version_download_uri(member.strategy,
                                                                 str(member.version))
    model = Path(source.removeprefix("file://")) / "MLmodel"
    model.write_text(model.read_text() + "\n# swapped\n")
    deployed, refused = load_approved(desk.svc, "shadow")
    assert deployed == [] and [r.strategy for r in refused] == [NAME]
    assert f"member {member.strategy} v{member.version}" in refused[0].reason
    assert "artifacts digest" in refused[0].reason


def test_clean_ensemble_canary_is_promoted_to_live(ensemble_desk: tuple[Desk, int],
                                                   tmp_path: Path) -> None:
    desk, version = ensemble_desk
    stores = stores_in(tmp_path / "run", mode="canary")
    _run(stores, _canary(desk, version))
    _canary_evidence_from(desk, stores)
    _promote(desk, NAME, version, "live")
    snapshot = desk.svc.verify_deployment(NAME, "live").snapshot
    assert snapshot is not None
    evidence = snapshot["body"]["canary_evidence"]
    assert evidence["open_breaks"] == 0 and evidence["trades"] >= 1
    assert f"{NAME} v{version}'s members against the ensemble's simulation" in \
        evidence["source"]


def test_ensemble_canary_with_a_trade_its_simulation_lacks_is_refused_live(
        ensemble_desk: tuple[Desk, int], tmp_path: Path) -> None:
    desk, version = ensemble_desk
    # the runner resolves the contested entry the other way round from the signed order:
    # ema_cross's entry is a trade the ensemble's simulation does not have
    reversed_order = EnsemblePolicy(make_resolver("priority"), ("ema_cross",))
    deployed = [replace(d, ensemble=replace(d.ensemble, policy=reversed_order))
                for d in _canary(desk, version) if d.ensemble is not None]
    stores = stores_in(tmp_path / "run", mode="canary")
    _run(stores, deployed)
    _canary_evidence_from(desk, stores)
    row = desk.svc.request_promotion(NAME, version, "live", "to live", desk.signer("alice"))
    _refused(desk, lambda: desk.svc.approve(row.ref, desk.signer("bob")),
             r"open breaks > max_open_breaks=0 .*ema_cross 2025-04-25: extra trade entered")
