"""The runner's signal governance on the synthetic NSE NIFTY bars: the regime journaled with
each decision (equal to the research classification of that bar), a NaN-feature hold of
entries, and the drift monitor's halt of entries - exits flow, a maker/checker re-arm lifts
it."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from live.events import AlertRaised, GovernanceDecided, KillMode, KillSwitchChanged
from live.governance.kill import KillCommand
from live.governance.policy import PolicyConfigError, load_policy
from live.runner.deployments import build
from live.runner.feed import FeedBar, WarmBar
from live.runner.runner import Runner
from live.runner.signal_room import DRIFT_ACTOR, DRIFT_ALERT, SESSION_NOTE
from strategies.drift import DriftLimits
from strategies.regime_features import FEATURE_NAMES, regime_feature_matrix
from strategies.regime_model import RegimeReading
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.regime_stubs import governance, nifty_bars
from tests.unit.test_runner_engine import FIRST_ENTRY, Stores, day_bars, record_clock, stores_in

REPO = Path(__file__).resolve().parents[2]
TRADED_BARS = 60  # of 2025-03-03: decisions after a warm history


def governed_runner(stores: Stores, limits: DriftLimits | None = None,
                    kill_commands: object = None) -> Runner:
    exchange = stores.exchange()
    deployed = replace(build(VersionConfig.from_json(stores.config), 1, stores.mode, 1.0,
                             "0" * 64), governance=governance())
    return Runner(journal=stores.journal(), broker=exchange, deployed=[deployed],
                  mode=stores.mode, clock=record_clock, risk=PassThroughRisk(),
                  kill_commands=kill_commands,  # type: ignore[arg-type]
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close),
                  drift_limits=limits)


def warm(start: date, end: date) -> list[WarmBar]:
    return [WarmBar(b) for b in day_bars(start=start, end=end)]


def run(stores: Stores, items: list, **kwargs: object) -> Runner:
    runner = governed_runner(stores, **kwargs)  # type: ignore[arg-type]
    runner.recover()
    runner.run(items)
    return runner


def decisions(stores: Stores) -> list[GovernanceDecided]:
    return stores.messages(GovernanceDecided)  # type: ignore[return-value]


def test_runner_without_warm_history_holds_entries_on_nan_regime_features(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    run(stores, day_bars(FIRST_ENTRY + 2))
    (decided,) = decisions(stores)
    assert not decided.allowed and decided.reason.startswith("regime: NaN feature")
    assert decided.regime == "unknown" and decided.regime_probability is None


def test_runner_journals_the_research_regime_and_probability_with_each_decision(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    run(stores, [*warm(date(2025, 2, 28), date(2025, 2, 28)), *day_bars(TRADED_BARS)])
    decided = decisions(stores)[0]
    bars = nifty_bars(date(2025, 2, 28), date(2025, 3, 3))
    regimes, probs = governance().model.classify(regime_feature_matrix(
        bars.open, bars.high, bars.low, bars.close, bars.session))
    at = int(np.flatnonzero(pd.DatetimeIndex(bars.ts) == decided.ts_event)[0])
    assert decided.allowed
    assert (decided.regime, decided.regime_probability) == (regimes[at], probs[at])


def _shifted(bars: list[FeedBar], factor: float) -> list[FeedBar]:
    """Each session's moves scaled by ``factor`` around its open (a known vol shift)."""
    def move(p: float, day_open: float) -> float:
        return round(day_open * float(np.exp(factor * np.log(p / day_open))) / 0.05) * 0.05

    out, day_open = [], 0.0
    for i, b in enumerate(bars):
        if i == 0 or b.ts.date() != bars[i - 1].ts.date():
            day_open = b.open
        o, c = move(b.open, day_open), move(b.close, day_open)
        out.append(FeedBar(b.symbol, b.ts, o, max(move(b.high, day_open), o, c),
                           min(move(b.low, day_open), o, c), c, b.volume))
    return out


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """Two sessions warmed, the last with its moves doubled, then a new session trades."""
    stores = stores_in(tmp_path_factory.mktemp("drifted"))
    history = day_bars(start=date(2025, 2, 27), end=date(2025, 2, 28))
    last = [b for b in history if b.ts.date() == date(2025, 2, 28)]
    first = [b for b in history if b.ts.date() != date(2025, 2, 28)]
    items = [*(WarmBar(b) for b in [*first, *_shifted(last, 2.0)]), *day_bars(TRADED_BARS)]
    run(stores, items, limits=DriftLimits(max_psi=0.25, max_ks=0.14))
    return stores


def test_drift_breach_halts_the_strategy_through_the_kill_switch(drifted: Stores) -> None:
    (halt,) = drifted.messages(KillSwitchChanged)
    assert (halt.scope, halt.mode, halt.actor) == ("ema_cross", KillMode.HALT,  # type: ignore[attr-defined]
                                                   DRIFT_ACTOR)
    (alert,) = [m for m in drifted.messages(AlertRaised) if m.code == DRIFT_ALERT]  # type: ignore[attr-defined]
    assert "ks" in alert.message and "maker/checker re-arm" in alert.message  # type: ignore[attr-defined]


def test_drift_breach_denies_new_entries(drifted: Stores) -> None:
    entries = [d for d in decisions(drifted) if not d.allowed]
    assert entries and all(d.reason == "kill switch: halt" for d in entries)
    assert all(d.allowed for d in decisions(drifted) if d not in entries)  # exits flow


def test_unshifted_history_raises_no_drift_breach(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    run(stores, [*warm(date(2025, 2, 27), date(2025, 2, 28)), *day_bars(TRADED_BARS)],
        limits=DriftLimits(max_psi=0.25, max_ks=0.14))
    assert stores.messages(KillSwitchChanged) == []
    assert decisions(stores) and all(d.allowed for d in decisions(stores))
    (note,) = [m for m in stores.messages(AlertRaised) if m.code == SESSION_NOTE]  # type: ignore[attr-defined]
    assert note.message.startswith("ema_cross/NIFTY session 2025-02-28: regime ")  # type: ignore[attr-defined]


def test_drift_halt_is_lifted_only_by_a_verified_rearm(drifted: Stores, tmp_path: Path) -> None:
    shutil.copytree(drifted.folder, tmp_path / "copy")  # the journal with its WAL files
    stores = Stores(tmp_path / "copy", drifted.config)
    forged = KillCommand(1, "ema_cross", "off", "unverified:ops", "lift", "x", verified=False,
                         problem="bad signature")
    good = KillCommand(2, "ema_cross", "off", "ops+risk", "lift", "x", after_command=0,
                       nonce="a" * 32)
    desk: list[KillCommand] = [forged]
    commands = lambda last: [c for c in desk if c.id > last]  # noqa: E731
    bars = day_bars(start=date(2025, 3, 3))
    runner = governed_runner(stores, kill_commands=commands)
    runner.recover()
    runner.run(bars[TRADED_BARS: TRADED_BARS + 1])
    assert stores.messages(KillSwitchChanged)[-1].mode is KillMode.HALT  # type: ignore[attr-defined]
    desk.append(good)
    runner.run(bars[TRADED_BARS + 1: TRADED_BARS + 2])
    assert stores.messages(KillSwitchChanged)[-1].mode is KillMode.OFF  # type: ignore[attr-defined]


def test_policy_stage_drift_threshold_looser_than_the_default_is_refused(
        tmp_path: Path) -> None:
    text = (REPO / "policy.yaml").read_text().replace("live: {max_drift_ks: 0.14}",
                                                      "live: {max_drift_ks: 0.5}")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyConfigError, match=r"stages\.live\.max_drift_ks=0\.5 is looser"):
        load_policy(path)


def test_policy_drift_limits_take_the_stage_value() -> None:
    policy = load_policy(REPO / "policy.yaml")
    assert policy.drift_limits("live") == DriftLimits(max_psi=0.25, max_ks=0.14,
                                                      require_enable_matrix=True)


def test_runner_holds_entries_when_a_bar_is_read_as_a_regime_never_seen_in_training(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner = governed_runner(stores)
    bars = day_bars(TRADED_BARS)
    for bar in bars:  # what a classifier of another version's classes would answer
        runner._regimes[("ema_cross", "NIFTY", bar.ts)] = RegimeReading("crash", 0.9,
                                                                         {"crash": 0.9})
    runner.recover()
    runner.run(bars)
    held = [g for g in decisions(stores) if not g.allowed]
    assert held and all("'crash' was never seen in training" in g.reason for g in held)


# --- decision provenance: what each governed decision used ------------------------------

@pytest.fixture(scope="module")
def unshifted(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    stores = stores_in(tmp_path_factory.mktemp("unshifted"))
    run(stores, [*warm(date(2025, 2, 27), date(2025, 2, 28)), *day_bars(TRADED_BARS)],
        limits=DriftLimits(max_psi=0.25, max_ks=0.14))
    return stores


def test_each_decision_journals_the_exact_regime_features_it_was_read_from(
        unshifted: Stores) -> None:
    bars = nifty_bars(date(2025, 2, 27), date(2025, 3, 3))
    matrix = regime_feature_matrix(bars.open, bars.high, bars.low, bars.close, bars.session)
    at = {ts: i for i, ts in enumerate(pd.DatetimeIndex(bars.ts))}
    for decided in decisions(unshifted):
        assert decided.features == governance().model.features
        row = matrix[at[pd.Timestamp(decided.ts_event)]]
        assert decided.feature_values == tuple(float(v) for v in row)  # bit for bit
        assert decided.drift is not None and decided.drift.endswith(": ok; kill switch off")
        assert "over the last 1 session(s) to 2025-02-28 (limits 0.25/0.14)" in decided.drift


def test_a_denied_decision_names_its_missing_features_and_the_drift_halt(
        drifted: Stores, tmp_path: Path) -> None:
    denied = [d for d in decisions(drifted) if not d.allowed]
    assert denied and all(d.drift is not None and ": BREACH; kill switch halt" in d.drift
                          for d in denied)
    stores = stores_in(tmp_path)
    run(stores, day_bars(FIRST_ENTRY + 2))  # cold: the 375-bar features are NaN
    (cold,) = decisions(stores)
    values = dict(zip(cold.features, cold.feature_values, strict=True))
    assert list(values) == list(FEATURE_NAMES) and values["rv_375"] is None
    assert cold.drift == ("off (no policy); kill switch off")


def test_trace_show_explains_a_governed_decision(unshifted: Stores) -> None:
    from live.observability.timeline import step_detail

    decided = decisions(unshifted)[0]
    detail = step_detail(decided)
    assert detail.startswith(f"passed: {decided.reason}; regime {decided.regime} p ")
    assert f"rv_30 {decided.feature_values[0]:.6g}" in detail
    assert detail.endswith(f"; drift {decided.drift}")
