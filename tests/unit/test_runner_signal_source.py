"""The runner deciding on a signal source (``svc execution --signals remote``) instead of its
kernel: the same signals give the same state; signals that did not come in time mean no
entry on that bar and a journaled critical ``signal_missing``; a warming reading decides
nothing. (The cross-check of its reading and exits without signals:
``test_runner_signal_crosscheck.py``.)"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from live.events import AlertRaised, BarSignals, OrderIntended, Severity, SignalRaised, SignalSide
from live.runner.deployments import Deployed, build
from live.runner.feed import FeedBar
from live.runner.loop import SIGNAL_MISSING_ALERT, SIGNALS_MISSING, SIGNALS_WARMING
from live.runner.runner import Runner
from live.state import state_hash
from live.svc.signal import read_signals
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in

BARS = 100


class Source:
    """The kernel over the runner's own history, silent from ``silent_from`` on."""

    def __init__(self, silent_from: datetime | None = None, warming: bool = False) -> None:
        self.silent_from, self.warming = silent_from, warming
        self.runner: Runner | None = None
        self.asked = 0

    def signals(self, d: Deployed, bar: FeedBar) -> BarSignals | str:
        self.asked += 1
        if self.warming:
            return SIGNALS_WARMING
        if self.silent_from is not None and bar.ts >= self.silent_from:
            return SIGNALS_MISSING
        assert self.runner is not None  # the signal service's reading of the same history
        return read_signals(d, bar, self.runner.symbol_history(bar.symbol))


def _run(stores: Stores, source: Source | None) -> Runner:
    exchange = stores.exchange()
    deployed = build(VersionConfig.from_json(stores.config), 1, stores.mode, 1.0, "0" * 64)
    runner = Runner(journal=stores.journal(), broker=exchange, deployed=[deployed],
                    mode=stores.mode, clock=record_clock, risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close), signal_source=source)
    if source is not None:
        source.runner = runner
    runner.recover()
    runner.run(day_bars(BARS))
    return runner


def _entries_after(stores: Stores, ts: datetime) -> int:
    messages = stores.messages()
    entries = {m.trace_id for m in messages
               if isinstance(m, SignalRaised) and m.side is not SignalSide.FLAT}
    return sum(isinstance(m, OrderIntended) and m.trace_id in entries and m.ts_event >= ts
               for m in messages)


def test_a_source_giving_the_kernels_signals_ends_in_the_same_state(tmp_path: Path) -> None:
    embedded = _run(stores_in(tmp_path / "a"), None)
    source = Source()
    split = _run(stores_in(tmp_path / "b"), source)
    assert source.asked > 0 and split.summary.intents == embedded.summary.intents > 2
    assert state_hash(split.state) == state_hash(embedded.state)


def test_missing_signals_hold_entries_and_raise_a_critical_alert_per_bar(
        tmp_path: Path) -> None:
    silent_from = day_bars(BARS)[60].ts
    embedded = stores_in(tmp_path / "a")
    _run(embedded, None)
    assert _entries_after(embedded, silent_from) >= 1  # the kernel would enter after it
    stores = stores_in(tmp_path / "b")
    source = Source(silent_from)
    _run(stores, source)
    assert _entries_after(stores, silent_from) == 0
    alerts = [m for m in stores.messages(AlertRaised) if m.code == SIGNAL_MISSING_ALERT]
    assert len(alerts) == BARS - 60 and all(a.severity is Severity.CRITICAL for a in alerts)
    assert "no new entry" in alerts[0].message


def test_a_warming_source_decides_nothing(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    source = Source(warming=True)
    runner = _run(stores, source)
    assert source.asked == BARS and runner.summary.intents == 0
    assert not stores.messages(SignalRaised)
