"""The runner's confidence and ensemble on the synthetic NSE NIFTY bars: each entry's
calibrated confidence journaled (equal to research's at that bar) and its size scaled by the
documented mapping; a confidence outside [0, 1] holds the entry with the reason; the
per-symbol ensemble lets one strategy's entry through and denies the other's, naming the
winner."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from live.events import GovernanceDecided, OrderIntended, SignalRaised, SignalSide
from live.governance.policy import PolicyConfigError, PolicyLookupError, load_policy
from live.runner.deployments import Deployed, build
from live.runner.feed import WarmBar
from live.runner.runner import Runner
from strategies.confidence import ConfidenceSizing, entry_feature_matrix
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.roster import STRATEGIES
from strategies.version_config import VersionConfig
from tests.confidence_stubs import confidence
from tests.doubles import PassThroughRisk
from tests.regime_stubs import nifty_bars
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in

TRADED_BARS = 50  # of 2025-03-03, after a warm 2025-02-28
LOTS = 4


def _deployed(stores: Stores, **changes: Any) -> Deployed:
    stores.config["sim"] = {**stores.config["sim"], "qty_lots": LOTS}
    return replace(build(VersionConfig.from_json(stores.config), 1, stores.mode, 1.0,
                         "0" * 64), **changes)


def _run(stores: Stores, deployed: list[Deployed], **kwargs: Any) -> Runner:
    exchange = stores.exchange()
    runner = Runner(journal=stores.journal(), broker=exchange, deployed=deployed,
                    mode=stores.mode, clock=record_clock, risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close), **kwargs)
    runner.recover()
    runner.run([*(WarmBar(b) for b in day_bars(start=date(2025, 2, 28))),
                *day_bars(TRADED_BARS)])
    return runner


def _sides(stores: Stores) -> dict[str, int]:
    """Entry trace -> side (+1 long, -1 short), from the journaled signals."""
    return {m.trace_id: 1 if m.side is SignalSide.LONG else -1  # type: ignore[attr-defined]
            for m in stores.messages(SignalRaised)
            if m.side is not SignalSide.FLAT}  # type: ignore[attr-defined]


def _entries(stores: Stores) -> list[GovernanceDecided]:
    sides = _sides(stores)
    return [m for m in stores.messages(GovernanceDecided)  # type: ignore[misc]
            if m.trace_id in sides]


def test_entry_confidence_is_research_value_and_sizes_the_order(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    model = confidence()
    _run(stores, [_deployed(stores, confidence=model)])
    decided = [d for d in _entries(stores) if d.confidence is not None]
    assert decided, "no entry was decided"
    bars = nifty_bars(date(2025, 2, 28), date(2025, 3, 3))
    sizing = ConfidenceSizing()
    intents = {m.trace_id: m for m in stores.messages(OrderIntended)}  # type: ignore[attr-defined]
    sides = _sides(stores)
    for d in decided:
        at = int(np.flatnonzero(pd.DatetimeIndex(bars.ts) == d.ts_event)[0])
        want = float(model.probabilities(entry_feature_matrix(
            bars.open, bars.high, bars.low, bars.close, bars.session, [at],
            [sides[d.trace_id]]))[0])
        assert d.confidence == pytest.approx(want, abs=1e-12)
        lots = sizing.lots(LOTS, want, model.hit_rate)
        if d.allowed:
            assert intents[d.trace_id].qty == lots * 75 and f"{lots} of {LOTS}" in d.reason
        else:
            assert lots == 0 and "sizes 4 lot(s) to 0" in d.reason
    scaled = [d for d in decided if d.allowed and intents[d.trace_id].qty < LOTS * 75]
    assert scaled, "no entry was sized below the version's lots"


class _Broken:
    """A calibrator whose probability is outside [0, 1] (a corrupted or wrong model)."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile([-0.3, 1.3], (len(x), 1))


def test_confidence_outside_unit_interval_holds_the_entry(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    broken = replace(confidence(), estimator=_Broken())
    _run(stores, [_deployed(stores, confidence=broken)])
    decided = _entries(stores)
    assert decided and not any(d.allowed for d in decided)
    assert all(d.reason == "confidence: confidence 1.3 is not a probability in [0, 1]"
               and d.confidence is None for d in decided)
    assert not stores.messages(OrderIntended)


def test_priority_ensemble_lets_one_strategy_enter_and_names_it(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    first = _deployed(stores)
    second = replace(first, strategy="ema_cross_twin")
    _run(stores, [first, second],
         ensemble=EnsemblePolicy(make_resolver("priority"), ("ema_cross_twin",)))
    decided = _entries(stores)
    mine = [d for d in decided if d.strategy == "ema_cross"]
    twin = [d for d in decided if d.strategy == "ema_cross_twin"]
    assert mine and len(mine) == len(twin)
    assert all(not d.allowed and d.reason.startswith(
        "ensemble priority: ema_cross_twin (priority 0)") for d in mine)
    assert all(d.allowed for d in twin)
    assert {m.strategy for m in stores.messages(OrderIntended)} == {  # type: ignore[attr-defined]
        "ema_cross_twin"}


def test_confidence_ensemble_takes_the_calibrated_strategy(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    first = _deployed(stores)  # no calibrator: no vote
    second = replace(first, strategy="ema_cross_twin", confidence=confidence())
    _run(stores, [first, second], ensemble=EnsemblePolicy(make_resolver("confidence")),
         sizing=ConfidenceSizing(zero_at=0.0, full_at=0.5))
    mine = [d for d in _entries(stores) if d.strategy == "ema_cross"]
    assert mine and all("no usable confidence" in d.reason for d in mine)


def test_without_an_ensemble_each_strategy_trades_alone(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    first = _deployed(stores)
    _run(stores, [first, replace(first, strategy="ema_cross_twin")])
    decided = _entries(stores)
    assert decided and all(d.allowed and d.confidence is None for d in decided)
    assert {m.qty for m in stores.messages(OrderIntended)} == {LOTS * 75}  # type: ignore[attr-defined]


REPO = Path(__file__).resolve().parents[2]


def _policy(tmp_path: Path, ensemble: str, confidence: str = "") -> Path:
    text = (REPO / "policy.yaml").read_text()
    text = text.replace("  ensemble:\n    resolver: independent\n    priority: []\n", ensemble)
    if confidence:
        text = text.replace("  confidence:\n    zero_at: 0.5\n    full_at: 1.0\n", confidence)
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_policy_selects_the_resolver_and_sizing(tmp_path: Path) -> None:
    shipped = load_policy(REPO / "policy.yaml", known_strategies=set(STRATEGIES))
    assert shipped.ensemble() is None  # independent: each strategy trades alone
    assert shipped.confidence_sizing() == ConfidenceSizing(0.5, 1.0)
    path = _policy(tmp_path, "  ensemble:\n    resolver: priority\n"
                             "    priority: [atr_divergence, ema_cross]\n",
                   "  confidence: {zero_at: 0.25, full_at: 1.5}\n")
    policy = load_policy(path, known_strategies=set(STRATEGIES))
    ensemble = policy.ensemble()
    assert ensemble is not None and ensemble.resolver.name == "priority"
    assert ensemble.priority_of("ema_cross", 9) == 1
    assert ensemble.priority_of("range_breakout", 1) == 3
    assert policy.confidence_sizing() == ConfidenceSizing(0.25, 1.5)


@pytest.mark.parametrize(("ensemble", "confidence", "error"), [
    ("  ensemble: {resolver: vote}\n", "", "resolver"),
    ("  ensemble: {resolver: priority, priority: [ema_cross, ema_cross]}\n", "", "twice"),
    ("  ensemble: {resolver: independent}\n", "  confidence: {zero_at: 1.0, full_at: 0.5}\n",
     "zero_at=1.0 must be below full_at=0.5"),
])
def test_policy_refuses_a_bad_ensemble_or_sizing(tmp_path: Path, ensemble: str,
                                                 confidence: str, error: str) -> None:
    with pytest.raises(PolicyConfigError, match=error):
        load_policy(_policy(tmp_path, ensemble, confidence))


def test_policy_refuses_an_unknown_strategy_in_the_priority(tmp_path: Path) -> None:
    path = _policy(tmp_path, "  ensemble: {resolver: priority, priority: [nope]}\n")
    with pytest.raises(PolicyLookupError, match="unknown strategies \\['nope'\\]"):
        load_policy(path, known_strategies=set(STRATEGIES)).ensemble()
