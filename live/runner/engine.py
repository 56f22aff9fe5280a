"""The runner's loop: bar -> market -> fills -> signals -> decisions -> governance -> risk ->
journaled intent -> broker. Restart and start are one code path: state and bar history are
rebuilt from the journal, the broker is reconciled, and the feed resumes at the last
journaled bar (re-processing it: decisions are keyed by deterministic trace ids, so nothing
already intended is intended, or sent, again)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from live.broker import Side
from live.events import (
    AlertRaised,
    BarClosed,
    GovernanceDecided,
    KillMode,
    ModeChanged,
    OrderIntended,
    RiskChecked,
    Severity,
    SignalRaised,
    SignalSide,
    TradingMode,
    client_key,
    new_trace_id,
)
from live.journal import Journal
from live.risk.engine import OrderProposal, PassThroughRisk, RiskEngine
from live.runner.crash import CrashPoints
from live.runner.decisions import Decision, decide
from live.runner.deployments import Deployed
from live.runner.execution import Executor
from live.runner.feed import FeedBar
from live.runner.history import OutOfOrderBarError, SymbolHistory
from live.runner.reconcile import reconcile
from live.state import LiveState, kill_mode_for
from strategies.bars import BarsInputError
from strategies.venues import get_venue

STALE_BARS = 5  # a gap of more than this many bars inside a session is a stale feed


class RunnerHalted(RuntimeError):
    """The runner refuses to trade (unclean reconciliation, broken journal)."""


@dataclass
class RunSummary:
    bars: int = 0
    intents: int = 0
    fills: int = 0
    denials: int = 0
    alerts: list[str] = field(default_factory=list)


class Runner:
    """One trading process over one journal and one broker."""

    def __init__(self, *, journal: Journal, broker: object, deployed: list[Deployed],
                 mode: str, clock: Callable[[], datetime],
                 market: Callable[[FeedBar], object] | None = None,
                 risk: RiskEngine | None = None, policy: object | None = None,
                 crash: CrashPoints | None = None, max_sessions: int = 5,
                 exchange: str = "NFO") -> None:
        self.journal, self.broker, self.deployed = journal, broker, deployed
        self.mode, self.clock, self.market = TradingMode(mode), clock, market
        self.risk = risk or PassThroughRisk()
        self.policy, self.crash = policy, crash or CrashPoints()
        self.max_sessions, self.exchange = max_sessions, exchange
        self.state = LiveState()
        self.history: dict[str, SymbolHistory] = {}
        self.entries: dict[tuple[str, str, object], int] = defaultdict(int)
        self.summary = RunSummary()
        self.executor = Executor(journal, broker, self.state, clock, self.crash)  # type: ignore[arg-type]

    # -- start = restart -----------------------------------------------------------------

    def _history(self, symbol: str) -> SymbolHistory:
        found = self.history.get(symbol)
        if found is None:
            venue = next((d.venue for d in self.deployed if symbol in d.symbols), "NSE")
            found = self.history[symbol] = SymbolHistory(symbol, get_venue(venue),
                                                         self.max_sessions)
        return found

    def recover(self) -> None:
        """Fold the journal into state and history, then reconcile with the broker; halt
        unless clean."""
        verdict = self.journal.verify()
        if not verdict.ok:
            raise RunnerHalted(f"journal broken at seq {verdict.first_bad_seq}: "
                               f"{verdict.reason}")
        entry_traces: set[str] = set()
        for _, message in self.journal.read():
            self.state.apply(message)
            if isinstance(message, BarClosed):
                self._history(message.symbol).append(FeedBar(
                    message.symbol, message.ts_event, message.open, message.high,
                    message.low, message.close, message.volume))
            elif isinstance(message, SignalRaised) and message.side is not SignalSide.FLAT:
                entry_traces.add(message.trace_id)
            if isinstance(message, OrderIntended):
                self.executor.intents[message.client_key] = message
                if message.trace_id in entry_traces:
                    day = self._history(message.symbol).session_day(message.ts_event)
                    self.entries[(message.strategy, message.symbol, day)] += 1
        latest = {s: h.last_ts for s, h in self.history.items() if h.last_ts is not None}
        outcome = reconcile(self.executor, self.clock(), latest)
        if not outcome.clean:
            raise RunnerHalted("startup reconciliation is not clean: " + "; ".join(
                outcome.issues))
        for d in self.deployed:
            if self.state.modes.get(d.strategy) != self.mode:
                self.executor.record(ModeChanged(
                    trace_id="", ts_event=self.clock(), strategy=d.strategy, mode=self.mode,
                    reason=f"runner started with v{d.version} ({d.snapshot_digest[:12]})"))

    # -- the loop ------------------------------------------------------------------------

    def run(self, bars: Iterable[FeedBar], *, pause: Callable[[], None] | None = None
            ) -> RunSummary:
        for bar in bars:
            history = self._history(bar.symbol)
            last = history.last_ts
            if last is not None and bar.ts < last:
                continue  # journaled before a restart
            if (last is None or bar.ts > last) and not self._accept(bar, history, last):
                continue
            if self.market is not None:
                self.market(bar)
            self.summary.fills += len(self.executor.poll(bar.ts))
            self._on_close(bar, history)
            self.summary.bars += 1
            if pause is not None:
                pause()
        return self.summary

    def _accept(self, bar: FeedBar, history: SymbolHistory, last: datetime | None) -> bool:
        try:
            new_session = history.append(bar)
        except OutOfOrderBarError as exc:
            self._alert(bar.ts, Severity.WARNING, "out_of_order_bar", str(exc))
            return False
        self.executor.record(BarClosed(trace_id="", ts_event=bar.ts, symbol=bar.symbol,
                                       open=bar.open, high=bar.high, low=bar.low,
                                       close=bar.close, volume=bar.volume))
        if last is not None and not new_session and bar.ts - last > timedelta(
                minutes=STALE_BARS):
            self._alert(bar.ts, Severity.WARNING, "stale_feed",
                        f"{bar.symbol}: {bar.ts - last} since the previous bar")
        return True

    def _alert(self, ts: datetime, severity: Severity, code: str, message: str) -> None:
        self.executor.record(AlertRaised(trace_id="", ts_event=ts, severity=severity,
                                         code=code, message=message))
        self.summary.alerts.append(f"{code}: {message}")

    def _session_ends(self, history: SymbolHistory, d: Deployed, ts: datetime) -> bool:
        nxt = ts + d.rules.bar
        if history.session_day(nxt) != history.session_day(ts):
            return True
        close = get_venue(d.venue).close
        return close is not None and pd.Timestamp(nxt).tz_convert(d.rules.tz).time() >= close

    def _on_close(self, bar: FeedBar, history: SymbolHistory) -> None:
        for d in self.deployed:
            if bar.symbol not in d.symbols:
                continue
            try:
                signals = d.spec.signals(history.bars(), d.params)
            except BarsInputError:
                continue  # still warming up
            pos = self.state.positions.get((d.strategy, bar.symbol))
            net = pos.net_qty if pos is not None else 0
            day = history.session_day(bar.ts)
            decisions = decide(
                pos=(net > 0) - (net < 0),
                signals=tuple(bool(a[-1]) for a in signals.arrays()),  # type: ignore[arg-type]
                ts=bar.ts, session_ends=self._session_ends(history, d, bar.ts),
                trades_today=self.entries[(d.strategy, bar.symbol, day)], rules=d.rules)
            for leg, decision in enumerate(decisions):
                self._act(d, bar, leg, decision, abs(net), day)

    def _act(self, d: Deployed, bar: FeedBar, leg: int, decision: Decision, held: int,
             day: object) -> None:
        trace = new_trace_id(d.strategy, bar.symbol, bar.ts, leg)
        key = client_key(trace)
        if key in self.state.orders:
            return  # decided and intended before a restart
        side = SignalSide.FLAT if decision.action == "exit" else (
            SignalSide.LONG if decision.side > 0 else SignalSide.SHORT)
        ts, version = bar.ts, str(d.version)
        self.executor.record(SignalRaised(trace_id=trace, ts_event=ts, strategy=d.strategy,
                                          version=version, symbol=bar.symbol, side=side,
                                          reason=decision.reason))
        allowed, why = self._governance(d, bar, decision)
        self.executor.record(GovernanceDecided(trace_id=trace, ts_event=ts,
                                               strategy=d.strategy, version=version,
                                               allowed=allowed, reason=why))
        if not allowed:
            self.summary.denials += 1
            return
        qty = held if decision.action == "exit" else d.rules.qty
        verdict = self.risk.check(OrderProposal(
            strategy=d.strategy, symbol=bar.symbol, side=decision.side, qty=qty,
            reference_price=bar.close, reduces_exposure=decision.action == "exit", ts=ts,
            lot_size=d.lot_size, exchange=self.exchange, reference_ts=ts), self.state)
        self.executor.record(RiskChecked(trace_id=trace, ts_event=ts, strategy=d.strategy,
                                         symbol=bar.symbol, passed=verdict.passed,
                                         check=verdict.check, reason=verdict.reason))
        if not verdict.passed:
            self.summary.denials += 1
            return
        self.executor.send(OrderIntended(
            trace_id=trace, ts_event=ts, client_key=key, strategy=d.strategy, version=version,
            symbol=bar.symbol, exchange=self.exchange,
            side=Side.BUY if decision.side > 0 else Side.SELL, qty=qty,
            order_type="MARKET", mode=self.mode))
        self.summary.intents += 1
        if decision.action == "enter":
            self.entries[(d.strategy, bar.symbol, day)] += 1

    def _governance(self, d: Deployed, bar: FeedBar, decision: Decision) -> tuple[bool, str]:
        """Kill switch and policy: exits always flow unless halted; entries need the
        policy's trading window."""
        kill = kill_mode_for(self.state, d.strategy)
        if kill is KillMode.HALT:
            return False, "kill switch: halt"
        if decision.action == "enter":
            if kill in (KillMode.REDUCE, KillMode.FLATTEN):
                return False, f"kill switch: {kill}"
            if self.policy is not None:
                nxt = pd.Timestamp(bar.ts + d.rules.bar).tz_convert(d.rules.tz).time()
                if not self.policy.entry_allowed(d.venue, nxt):  # type: ignore[attr-defined]
                    return False, f"policy: {nxt} outside the trading window"
        return True, f"{self.mode} v{d.version}"
