"""The runner enforces a version's regime enable matrix: an entry in a disabled regime is
held with the regime and its probability journaled; exits flow; enabled regimes trade."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from live.events import GovernanceDecided, SignalRaised
from live.governance.policy import load_policy
from live.runner.deployments import build
from live.runner.runner import Runner
from strategies.drift import DriftLimits
from strategies.enable_matrix import EnableMatrix, RegimeCell
from strategies.regime_model import RegimeReading
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.regime_stubs import governance
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in
from tests.unit.test_runner_signal_governance import warm

REPO = Path(__file__).resolve().parents[2]
BARS = 70  # of 2025-03-03 after 2025-02-28 warmed: entries at 09:41 (short), 09:44 (long)


def _matrix(*enabled: str) -> EnableMatrix:
    cells = {r: RegimeCell(r in enabled, 30, 0.001 if r in enabled else -0.001,
                           2.0 if r in enabled else -1.0, 0.02 if r in enabled else 0.8)
             for r in governance().model.classes}
    return EnableMatrix("ema_cross", cells, {"min_trades": 10.0})


def _runner(stores: Stores, matrix: EnableMatrix | None,
            limits: DriftLimits | None = None) -> Runner:
    exchange = stores.exchange()
    deployed = replace(build(VersionConfig.from_json(stores.config), 1, stores.mode, 1.0,
                             "0" * 64), governance=replace(governance(), matrix=matrix))
    return Runner(journal=stores.journal(), broker=exchange, deployed=[deployed],
                  mode=stores.mode, clock=record_clock, risk=PassThroughRisk(),
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close), drift_limits=limits)


def _decided(stores: Stores) -> list[tuple[SignalRaised, GovernanceDecided]]:
    return list(zip(stores.messages(SignalRaised), stores.messages(GovernanceDecided),
                    strict=True))  # type: ignore[arg-type]


def _items() -> list:
    return [*warm(date(2025, 2, 28), date(2025, 2, 28)), *day_bars(BARS)]


def test_entries_in_a_disabled_regime_are_held_and_journaled(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner = _runner(stores, _matrix("trend"))  # the session reads as chop
    runner.recover()
    runner.run(_items())
    decided = _decided(stores)
    assert decided and all(not g.allowed for _, g in decided)
    signal, first = decided[0]
    assert signal.reason == "entry" and first.regime == "chop"
    assert first.regime_probability is not None and first.regime_probability > 0.5
    assert "ema_cross v1 is disabled in chop (p 0.99" in first.reason
    assert "enabled in ['trend']" in first.reason
    assert runner.summary.denials == len(decided)


def test_enabled_regime_trades_and_exits_flow_when_the_regime_turns_disabled(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner = _runner(stores, _matrix("chop"))
    bars = day_bars(BARS)
    turned = [b for b in bars if b.ts.strftime("%H:%M") >= "09:42"]
    for bar in turned:  # from 09:42 the classifier reads trend, which the matrix disables
        runner._regimes[("ema_cross", "NIFTY", bar.ts)] = RegimeReading(
            "trend", 0.93, {"trend": 0.93, "chop": 0.07})
    runner.recover()
    runner.run(_items())
    decided = _decided(stores)
    entry, exit_, again = decided[0], decided[1], decided[2]
    assert entry[0].reason == "entry" and entry[1].allowed and entry[1].regime == "chop"
    assert exit_[0].reason == "signal" and exit_[0].side.value == "flat"
    assert exit_[1].allowed and exit_[1].regime == "trend"  # the exit flows
    assert again[0].reason == "entry" and not again[1].allowed
    assert "disabled in trend (p 0.930)" in again[1].reason


def test_a_governed_version_without_a_matrix_holds_when_the_policy_requires_one(
        tmp_path: Path) -> None:
    limits = load_policy(REPO / "policy.yaml").drift_limits("live")
    assert limits.require_enable_matrix  # the shipped policy requires it
    stores = stores_in(tmp_path)
    runner = _runner(stores, None, replace(limits, max_psi=99.0, max_ks=1.0))
    runner.recover()
    runner.run(_items())
    decided = _decided(stores)
    assert decided and all(not g.allowed for _, g in decided)
    assert "carries a regime classifier but no enable matrix" in decided[0][1].reason
    assert decided[0][1].regime == "chop"
