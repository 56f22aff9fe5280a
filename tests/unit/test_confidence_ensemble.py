"""A ``confidence``-resolved ensemble version live: its members' contested entries resolved by
their calibrated confidences (not the signed priority order), its canary evidence simulated
with the same confidences, and a member without a usable calibrator refusing the whole
ensemble at load and in the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from live.canary import journal_evidence
from live.ensemble_canary import MemberVersion, ensemble_evidence_for, registry_evidence
from live.ensemble_reconciliation import ensembles_in, reconcile_ensembles
from live.events import GovernanceDecided, OrderIntended, TradeExited
from live.governance.policy import CanaryEvidence
from live.governance.promotion import DeploymentCheck
from live.runner.deployments import EnsembleBinding, build
from live.runner.ensembles import load_ensembles
from live.runner.feed import WarmBar
from live.runner.runner import Runner
from strategies.confidence import MODEL_FILE, ConfidenceModel, ConfidenceSizing, load_confidence
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_version import (
    MEMBERS_TAG,
    RESOLVER_TAG,
    EnsembleManifest,
    EnsembleMember,
)
from strategies.version_config import VersionConfig
from tests.confidence_stubs import confidence, confidence_copy
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_confidence import _deployed, _entries, _run
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in, strategy_config

NAME, LABEL = "ensemble_nifty", "ensemble_nifty v1"
MEMBERS = ("ema_cross", "atr_divergence")  # both enter long from flat at 2025-03-13 12:01
#: every entry at its version's full lots: the evidence's quantities stay the version's
FULL_SIZE = ConfidenceSizing(zero_at=0.0, full_at=0.01)


class _Scaled:
    """A calibrator reading ``factor`` times another's probability of a profitable entry."""

    def __init__(self, base: Any, factor: float) -> None:
        self.base, self.factor = base, factor

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.base.predict_proba(x)[:, 1] * self.factor
        return np.column_stack([1.0 - p, p])


def _halved() -> ConfidenceModel:
    model = confidence()
    return replace(model, estimator=_Scaled(model.estimator, 0.5))


def test_confidence_ensemble_entry_goes_to_the_more_confident_member(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    # the signed order would let ema_cross win; its calibrator reads half the twin's
    binding = EnsembleBinding(NAME, 1, EnsemblePolicy(make_resolver("confidence"),
                                                      ("ema_cross",)))
    first = _deployed(stores, ensemble=binding, confidence=_halved())
    _run(stores, [first, replace(first, strategy="ema_cross_twin", confidence=confidence())],
         sizing=FULL_SIZE)
    decided = _entries(stores)
    twin = {d.ts_event: d for d in decided if d.strategy == "ema_cross_twin"}
    mine = [d for d in decided if d.strategy == "ema_cross"]
    assert mine and all(twin[d.ts_event].allowed for d in mine)
    for d in mine:
        p = twin[d.ts_event].confidence
        assert p is not None and d.confidence == pytest.approx(p / 2, abs=1e-12)
        assert not d.allowed and d.reason.startswith(
            f"{LABEL}: ensemble confidence: ema_cross_twin takes the entry (p {p:.4f}")
    assert {m.strategy for m in stores.messages(OrderIntended)} == {  # type: ignore[attr-defined]
        "ema_cross_twin"}


def _config(strategy: str, qty_lots: int = 1) -> VersionConfig:
    config = strategy_config(strategy)
    return VersionConfig.from_json({**config, "sim": {**config["sim"], "qty_lots": qty_lots}})


def _manifest(resolver: str = "confidence") -> EnsembleManifest:
    return EnsembleManifest("NIFTY", resolver, ("ema_cross",), tuple(
        EnsembleMember(s, 1, "0" * 64) for s in MEMBERS))


def _canary_day(folder: Path, sizing: ConfidenceSizing, qty_lots: int = 1) -> Stores:
    """ema_cross (calibrator halved) and atr_divergence as ensemble_nifty v1 (confidence),
    one canary day after a warm one."""
    stores = stores_in(folder, mode="canary", fraction=0.5)
    binding = EnsembleBinding(NAME, 1, EnsemblePolicy(make_resolver("confidence"),
                                                      ("ema_cross",)), MEMBERS)
    models = {"ema_cross": _halved(), "atr_divergence": confidence()}
    deployed = [replace(build(_config(s, qty_lots), 1, "canary", 0.5, "0" * 64, None,
                              models[s]), ensemble=binding) for s in MEMBERS]
    exchange = stores.exchange()
    runner = Runner(journal=stores.journal(), broker=exchange, deployed=deployed,
                    mode="canary", clock=record_clock, risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close), sizing=sizing)
    runner.recover()
    runner.run([*(WarmBar(b) for b in day_bars(start=date(2025, 3, 12))),
                *day_bars(start=date(2025, 3, 13))])
    return stores


@pytest.fixture(scope="module")
def contested(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    return _canary_day(tmp_path_factory.mktemp("confidence_ensemble"), FULL_SIZE)


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """The same day at 8 lots (4 in canary) with policy.yaml's default confidence sizing."""
    return _canary_day(tmp_path_factory.mktemp("sized_ensemble"), ConfidenceSizing(), 8)


def _evidence(stores: Stores, models: dict[str, ConfidenceModel],
              sizing: ConfidenceSizing = FULL_SIZE, qty_lots: int = 1
              ) -> CanaryEvidence | None:
    members = {s: MemberVersion(1, _config(s, qty_lots), models[s]) for s in MEMBERS}
    return ensemble_evidence_for(stores.journal(), NAME, 1, _manifest(), members,
                                 source="canary journal", sizing=sizing)


def test_confidence_ensemble_canary_resolved_a_contested_entry_by_confidence(
        contested: Stores) -> None:
    lost = [m for m in contested.messages(GovernanceDecided)
            if not m.allowed and m.strategy == "ema_cross"  # type: ignore[attr-defined]
            and "ensemble confidence: atr_divergence takes" in m.reason]  # type: ignore[attr-defined]
    assert lost  # the bar the evidence has to resolve as the runner did


def test_confidence_ensemble_canary_evidence_with_the_traded_calibrators_is_clean(
        contested: Stores) -> None:
    found = _evidence(contested, {"ema_cross": _halved(), "atr_divergence": confidence()})
    assert found is not None and found.open_breaks == 0 and found.sessions == 1
    assert found.trades == len(contested.messages(TradeExited)) > 0


def test_confidence_ensemble_canary_evidence_with_other_confidences_breaks(
        contested: Stores) -> None:
    # simulated with the calibrators swapped, ema_cross wins the contested entry
    found = _evidence(contested, {"ema_cross": confidence(), "atr_divergence": _halved()})
    assert found is not None and found.open_breaks > 0
    assert "ema_cross 2025-03-13: missing trade entered" in found.source or \
        "atr_divergence 2025-03-13: extra trade entered" in found.source


def test_confidence_ensemble_canary_evidence_expects_the_confidence_sized_lots(
        sized: Stores) -> None:
    qty = {m.qty for m in sized.messages(OrderIntended)}  # type: ignore[attr-defined]
    held = [m for m in sized.messages(GovernanceDecided)
            if "lot(s) to 0" in m.reason]  # type: ignore[attr-defined]
    assert held and any(q < 4 * 75 for q in qty)  # entries sized below 4 lots and to 0
    found = _evidence(sized, {"ema_cross": _halved(), "atr_divergence": confidence()},
                      ConfidenceSizing(), 8)
    assert found is not None and found.open_breaks == 0
    assert found.trades == len(sized.messages(TradeExited)) > 0


def test_confidence_ensemble_canary_evidence_at_other_sizing_breaks(sized: Stores) -> None:
    found = _evidence(sized, {"ema_cross": _halved(), "atr_divergence": confidence()},
                      FULL_SIZE, 8)
    assert found is not None and found.open_breaks > 0 and ": qty " in found.source


@dataclass
class _Registry:
    """The registry as the live load and the evidence read it: members' configs and
    calibrator folders (read by :func:`load_confidence`, its digest check included)."""

    calibrators: dict[str, Path | None]
    manifest: EnsembleManifest

    def load_ensemble(self, name: str, ref: int, *,
                      expected_digest: str | None = None) -> EnsembleManifest:
        return self.manifest

    def get_version(self, name: str, ref: int) -> Any:
        return SimpleNamespace(tags={MEMBERS_TAG: self.manifest.members_tag(),
                                     RESOLVER_TAG: self.manifest.resolver})

    def load_config(self, strategy: str, ref: int, *, expected_digest: str | None = None,
                    expected_source_hash: str | None = None) -> VersionConfig:
        return _config(strategy)

    def load_governance(self, strategy: str, ref: int, *,
                        expected_digest: str | None = None) -> None:
        return None

    def load_confidence(self, strategy: str, ref: int, *,
                        expected_digest: str | None = None) -> ConfidenceModel | None:
        folder = self.calibrators[strategy]
        return None if folder is None else load_confidence(folder)


@dataclass
class _Service:
    registry: _Registry

    def verify_deployment(self, name: str, stage: str) -> DeploymentCheck:
        body = {"strategies_source_hash": "h", "model_digest": "d", "capital_fraction": 0.5,
                "ensemble": self.registry.manifest.to_json()}
        return DeploymentCheck(name, stage, 1, [], {"body": body})


def _registry(tmp_path: Path, damaged: str | None = None, missing: str | None = None
              ) -> _Registry:
    folders: dict[str, Path | None] = {}
    for s in MEMBERS:
        folders[s] = None if s == missing else confidence_copy(tmp_path / s)
    if damaged is not None:
        path = folders[damaged] / MODEL_FILE  # type: ignore[operator]
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    return _Registry(folders, _manifest())


def test_confidence_ensemble_with_calibrated_members_loads_them_with_their_calibrators(
        tmp_path: Path) -> None:
    loaded, refused = load_ensembles(_Service(_registry(tmp_path)), "canary", [NAME], "h")
    assert refused == []
    assert [(d.strategy, d.confidence is not None) for d in loaded[NAME]] == [
        ("ema_cross", True), ("atr_divergence", True)]


def test_confidence_ensemble_member_without_a_calibrator_refuses_the_ensemble(
        tmp_path: Path) -> None:
    service = _Service(_registry(tmp_path, missing="atr_divergence"))
    loaded, refused = load_ensembles(service, "canary", [NAME], "h")
    assert loaded == {} and [r.strategy for r in refused] == [NAME]
    assert "member atr_divergence v1: carries no confidence calibrator" in refused[0].reason


def test_priority_ensemble_member_without_a_calibrator_loads(tmp_path: Path) -> None:
    registry = replace(_registry(tmp_path, missing="atr_divergence"),
                       manifest=_manifest("priority"))
    loaded, refused = load_ensembles(_Service(registry), "canary", [NAME], "h")
    assert refused == [] and len(loaded[NAME]) == 2


def test_confidence_ensemble_member_with_an_altered_calibrator_refuses_the_ensemble(
        tmp_path: Path) -> None:
    service = _Service(_registry(tmp_path, damaged="ema_cross"))
    loaded, refused = load_ensembles(service, "canary", [NAME], "h")
    assert loaded == {} and [r.strategy for r in refused] == [NAME]
    assert "member ema_cross v1:" in refused[0].reason
    assert "the calibrator was altered" in refused[0].reason


def test_confidence_ensemble_canary_evidence_without_a_member_calibrator_is_an_open_break(
        contested: Stores, tmp_path: Path) -> None:
    found = registry_evidence(contested.journal(), _registry(tmp_path, missing="ema_cross"),
                              NAME, 1, source="canary journal")
    assert found is not None and found.open_breaks == 1 and found.sessions == 0
    assert "member ema_cross v1 carries no confidence calibrator" in found.source


@dataclass
class _Traded(_Registry):
    """The registry serving the calibrators and lots the ``sized`` day traded."""

    models: dict[str, ConfidenceModel] = field(default_factory=dict)

    def load_config(self, strategy: str, ref: int, *, expected_digest: str | None = None,
                    expected_source_hash: str | None = None) -> VersionConfig:
        return _config(strategy, 8)

    def load_confidence(self, strategy: str, ref: int, *,
                        expected_digest: str | None = None) -> ConfidenceModel | None:
        return self.models[strategy]


@pytest.mark.parametrize(("sizing", "clean"), [(ConfidenceSizing(), True),
                                               (FULL_SIZE, False)])
def test_canary_journal_evidence_of_an_ensemble_reads_the_desk_sizing(
        sized: Stores, sizing: ConfidenceSizing, clean: bool) -> None:
    registry = _Traded({}, _manifest(), {"ema_cross": _halved(),
                                          "atr_divergence": confidence()})
    source = journal_evidence(f"sqlite:///{sized.folder / 'journal.db'}", None, registry,
                              sizing=lambda: sizing)
    found = source(NAME, 1)
    assert found is not None and (found.open_breaks == 0) is clean


def test_ensembles_in_journal_names_each_member_ensemble_version(contested: Stores) -> None:
    assert ensembles_in(contested.journal()) == {s: (NAME, 1) for s in MEMBERS}


def test_reconcile_ensembles_reports_members_under_their_ensemble(contested: Stores) -> None:
    [found] = reconcile_ensembles(contested.journal(), _FullSize(
        {}, _manifest(), {"ema_cross": _halved(), "atr_divergence": confidence()}),
        sizing=FULL_SIZE)
    assert (found.name, found.version, found.symbol, found.resolver) == (
        NAME, 1, "NIFTY", "confidence")
    assert [(s, v, len(reports)) for s, v, reports in found.members] == [
        ("ema_cross", 1, 1), ("atr_divergence", 1, 1)]
    assert found.breaks == 0 and sum(len(r.actual) for _, _, reports in found.members
                                     for r in reports) > 0


def test_reconcile_ensembles_without_a_member_calibrator_is_one_break(
        contested: Stores, tmp_path: Path) -> None:
    [found] = reconcile_ensembles(contested.journal(),
                                  _registry(tmp_path, missing="ema_cross"))
    assert found.breaks == 1 and found.members == ()
    assert found.problem is not None and "carries no confidence calibrator" in found.problem


@dataclass
class _FullSize(_Traded):
    """The registry serving what the ``contested`` day traded (one lot)."""

    def load_config(self, strategy: str, ref: int, *, expected_digest: str | None = None,
                    expected_source_hash: str | None = None) -> VersionConfig:
        return _config(strategy)


def test_live_reconcile_writes_members_reports_under_their_ensemble(
        sized: Stores, tmp_path: Path) -> None:
    from stratops.cli_live import _reconcile_ensembles
    from stratops.settings import load_settings

    registry = _Traded({}, _manifest(), {"ema_cross": _halved(),
                                          "atr_divergence": confidence()})
    breaks = _reconcile_ensembles(sized.journal(), registry, load_settings(), tmp_path)
    assert breaks == 0  # the shipped policy.yaml sizes as the runner did (its defaults)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")) == [
        f"{NAME}/{s}/2025-03-13.json" for s in sorted(MEMBERS)]
