"""The runner cross-checking the signal service's reading (``svc execution --signals
remote``) against its own: the same classifier on the same bars agrees to the bit; a forged
regime, another classifier or another version holds the entries with a critical
``signal_regime_mismatch`` naming both readings; and a bar without signals is decided on the
runner's own kernel - its exit by signal goes at that bar, its entries are held."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from live.broker import Side
from live.events import (
    AlertRaised,
    BarSignals,
    GovernanceDecided,
    OrderIntended,
    Severity,
    SignalRaised,
    SignalSide,
    new_trace_id,
)
from live.runner.deployments import Deployed, build
from live.runner.feed import FeedBar, WarmBar
from live.runner.loop import SIGNAL_MISMATCH_ALERT, SIGNAL_MISSING_ALERT, SIGNALS_MISSING
from live.runner.pipeline import LEG_ENTER
from live.runner.remote_signal_room import REGIME_PROBABILITY_TOLERANCE, reading_mismatch
from live.runner.runner import Runner
from live.state import state_hash
from live.svc.signal import read_signals
from strategies.regime_features import regime_features_digest
from strategies.regime_model import RegimeReading, SignalGovernance
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.regime_tiny import tiny_governance
from tests.unit.test_runner_engine import (
    Stores,
    day_bars,
    record_clock,
    stores_in,
    strategy_config,
)

BARS = 70
FLIP = 61  # the bar whose close exits the short (by signal) and would enter long
Forge = Callable[[BarSignals], BarSignals]


def _deployed(stores: Stores, governance: SignalGovernance | None) -> Deployed:
    return replace(build(VersionConfig.from_json(stores.config), 1, stores.mode, 1.0,
                         "0" * 64), governance=governance)


class Source:
    """The signal service's reading (:func:`read_signals`) of the runner's own history by
    ``deployed`` (its classifier may be another), passed through ``forge``; none from
    ``silent_from`` on."""

    def __init__(self, deployed: Deployed, forge: Forge | None = None,
                 silent_from: datetime | None = None) -> None:
        self.deployed, self.forge, self.silent_from = deployed, forge, silent_from
        self.runner: Runner | None = None

    def signals(self, d: Deployed, bar: FeedBar) -> BarSignals | str:
        if self.silent_from is not None and bar.ts >= self.silent_from:
            return SIGNALS_MISSING
        assert self.runner is not None
        got = read_signals(self.deployed, bar, self.runner.symbol_history(bar.symbol))
        return got if self.forge is None else self.forge(got)


def _run(stores: Stores, governance: SignalGovernance | None, source: Source | None,
         bars: int = BARS) -> Runner:
    exchange = stores.exchange()
    runner = Runner(journal=stores.journal(), broker=exchange,
                    deployed=[_deployed(stores, governance)], mode=stores.mode,
                    clock=record_clock, risk=PassThroughRisk(), signal_source=source,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    if source is not None:
        source.runner = runner
    warm = [WarmBar(b) for b in day_bars(start=date(2025, 2, 28))] if governance else []
    runner.recover()
    runner.run([*warm, *day_bars(bars)])
    return runner


def _alerts(stores: Stores, code: str) -> list[AlertRaised]:
    return [m for m in stores.messages(AlertRaised)
            if isinstance(m, AlertRaised) and m.code == code]


def _entry_intents(stores: Stores) -> list[OrderIntended]:
    messages = stores.messages()
    entries = {m.trace_id for m in messages
               if isinstance(m, SignalRaised) and m.side is not SignalSide.FLAT}
    return [m for m in messages if isinstance(m, OrderIntended) and m.trace_id in entries]


def _at(ts: datetime) -> Forge:
    """Flip the regime label the signal service read at ``ts``."""
    def forge(got: BarSignals) -> BarSignals:
        if got.ts_event != ts:
            return got
        return replace(got, regime="chop" if got.regime == "trend" else "trend")
    return forge


def test_a_source_reading_with_the_same_classifier_agrees_and_ends_in_the_same_state(
        tmp_path: Path) -> None:
    embedded = _run(stores_in(tmp_path / "a"), tiny_governance(), None)
    stores = stores_in(tmp_path / "b")
    split = _run(stores, tiny_governance(), Source(_deployed(stores, tiny_governance())))
    assert not _alerts(stores, SIGNAL_MISMATCH_ALERT)  # bit-identical readings
    assert len(_entry_intents(stores)) >= 2
    assert state_hash(split.state) == state_hash(embedded.state)


def test_a_forged_regime_holds_the_entry_and_journals_both_readings(tmp_path: Path) -> None:
    embedded = stores_in(tmp_path / "a")
    _run(embedded, tiny_governance(), None)
    ts = _entry_intents(embedded)[0].ts_event  # the first entry the runner makes alone
    stores = stores_in(tmp_path / "b")
    _run(stores, tiny_governance(), Source(_deployed(stores, tiny_governance()), _at(ts)))
    (alert,) = _alerts(stores, SIGNAL_MISMATCH_ALERT)
    trace = new_trace_id("ema_cross", "NIFTY", ts, LEG_ENTER)
    assert alert.severity is Severity.CRITICAL and alert.ts_event == ts
    assert alert.trace_id == trace  # under the held entry's trace: its provenance
    assert "signal service v1 regime" in alert.message and "execution v1 regime" in alert.message
    held = [m for m in stores.messages(GovernanceDecided) if m.trace_id == trace]
    assert len(held) == 1 and not held[0].allowed  # type: ignore[attr-defined]
    assert "disagrees (regime" in held[0].reason  # type: ignore[attr-defined]
    assert all(m.ts_event > ts for m in _entry_intents(stores))  # entered later, not at ts


def test_a_source_running_another_classifier_holds_every_entry(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    _run(stores, tiny_governance(0), Source(_deployed(stores, tiny_governance(1))))
    alerts = _alerts(stores, SIGNAL_MISMATCH_ALERT)
    assert len(alerts) == BARS and "classifier" in alerts[0].message
    assert not _entry_intents(stores)
    denied = [m for m in stores.messages(GovernanceDecided) if not m.allowed]  # type: ignore
    assert denied and all("disagrees (classifier" in m.reason for m in denied)  # type: ignore


def _reading(p: float) -> tuple[BarSignals, RegimeReading, Deployed]:
    ts = day_bars(1)[0].ts
    got = BarSignals(trace_id="t", ts_event=ts, strategy="ema_cross", version="1",
                     symbol="NIFTY", le=False, lx=False, se=False, sx=False, regime="trend",
                     regime_probability=p, classifier_digest=tiny_governance().digest,
                     features_digest=regime_features_digest())
    d = replace(build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64),
                governance=tiny_governance())
    return got, RegimeReading("trend", 0.75, {"chop": 0.25, "trend": 0.75}), d


def test_a_probability_within_the_tolerance_is_the_same_reading() -> None:
    got, own, d = _reading(0.75 + REGIME_PROBABILITY_TOLERANCE / 2)
    assert reading_mismatch(got, d, own) is None


def test_a_probability_beyond_the_tolerance_is_a_mismatch() -> None:
    got, own, d = _reading(0.75 + REGIME_PROBABILITY_TOLERANCE * 10)
    assert "p 0.75" in (reading_mismatch(got, d, own) or "")


def test_signals_from_another_version_are_a_mismatch() -> None:
    got, own, d = _reading(0.75)
    assert "version '2'" in (reading_mismatch(replace(got, version="2"), d, own) or "")


def test_missing_signals_still_exit_by_signal_on_that_bar_and_hold_its_entry(
        tmp_path: Path) -> None:
    ts = day_bars(BARS)[FLIP].ts
    stores = stores_in(tmp_path)
    _run(stores, None, Source(_deployed(stores, None), silent_from=ts))
    exits = [m for m in stores.messages(SignalRaised) if m.side is SignalSide.FLAT]
    assert [m.ts_event for m in exits][-1] == ts  # type: ignore[attr-defined]
    (intent,) = [m for m in stores.messages(OrderIntended) if m.ts_event == ts]
    assert intent.side is Side.BUY  # the short closed at this bar, not at a later one
    assert all(m.ts_event < ts for m in _entry_intents(stores))
    held = [m for m in stores.messages(GovernanceDecided)
            if m.ts_event == ts and not m.allowed]  # type: ignore[attr-defined]
    assert len(held) == 1 and held[0].reason.startswith(  # type: ignore[attr-defined]
        SIGNAL_MISSING_ALERT)
    assert len(_alerts(stores, SIGNAL_MISSING_ALERT)) == BARS - FLIP


def test_a_warming_reading_where_the_kernel_reads_its_history_is_decided_here(
        tmp_path: Path) -> None:
    ts = day_bars(BARS)[FLIP].ts
    stores = stores_in(tmp_path)
    _run(stores, None, Source(_deployed(stores, None), lambda got: replace(
        got, warming=got.ts_event == ts or got.warming)))
    (alert,) = _alerts(stores, SIGNAL_MISSING_ALERT)
    assert alert.ts_event == ts and "still warming up" in alert.message
    (intent,) = [m for m in stores.messages(OrderIntended) if m.ts_event == ts]
    assert intent.side is Side.BUY  # the exit by signal went; the long entry was held
