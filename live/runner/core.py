"""What every room of the runner shares: the state it folds, the bar history, the bus and
the executor, and the small questions each room asks (a position's size, the working
quantity, a session's end) plus journaling an alert once.

The runner is one object built from rooms, each a module of one job:
:mod:`~live.runner.loop` (the bar loop and the feed boundary),
:mod:`~live.runner.recovery` (start = restart: the journal folded back, the broker
reconciled), :mod:`~live.runner.controls` (the kill switch and the guardrails, in one place)
and :mod:`~live.runner.pipeline` (sizing, governance, risk, order building and submission,
and carrying out what :mod:`~live.runner.protection` wants; slicing at the freeze quantity in
:mod:`~live.runner.slicing`), plus :mod:`~live.runner.refusals` (broker rejections alerted,
rejected exits retried, entry remainders cancelled at the cutoff).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Protocol

from live.anomaly.registry import AnomalyRegistry
from live.broker import Broker, Side
from live.bus import MessageBus
from live.compliance.monitor import SurveillanceMonitor
from live.contracts import ContractBook
from live.events import (
    KILL_SEVERITY,
    AlertRaised,
    HealthObserved,
    KillMode,
    Message,
    OrderFilled,
    PlaybookActed,
    Severity,
    TradeExited,
    TradingMode,
    alert_trace_id,
)
from live.journal import Journal
from live.risk.guardrails import Guardrails
from live.risk.interface import RiskEngine
from live.runner.decisions import Decision
from live.runner.deployments import Deployed
from live.runner.execution import CrashHook, Executor
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.runner.local_time import to_local
from live.runner.protection import Protection
from live.runner.snapshotting import SnapshotCadence
from live.state import LiveState, OrderRecord, kill_mode_for
from strategies.confidence import ConfidenceReading
from strategies.regime_model import RegimeReading
from strategies.venues import get_venue


class EntryPolicy(Protocol):
    """What the runner asks of the trading policy (:class:`live.governance.policy.Policy`)."""

    def entry_allowed(self, venue: str, local_time: time) -> bool: ...


class LoopObserver(Protocol):
    """Told of every turn of the runner's loop (:mod:`live.observability`: the heartbeat)."""

    def tick(self, *, bar: bool) -> None: ...


@dataclass
class RunSummary:
    bars: int = 0
    intents: int = 0
    fills: int = 0
    denials: int = 0
    warm_bars: int = 0  # catch-up bars that only warmed the history
    alerts: list[str] = field(default_factory=list)


class RunnerCore:
    """The shared parts of the runner's rooms (built by :class:`~live.runner.runner.Runner`)."""

    journal: Journal
    broker: Broker
    _capabilities: dict[type, bool]  # broker_is's answers about _capabilities_of
    _capabilities_of: object
    deployed: list[Deployed]
    mode: TradingMode
    clock: Callable[[], datetime]
    risk: RiskEngine
    policy: EntryPolicy | None
    crash_hook: CrashHook
    max_sessions: int
    exchange: str
    contracts: ContractBook | None  # the session's contract per underlying (None: no master)
    guardrails: Guardrails | None
    snapshots: SnapshotCadence | None  # the state snapshots' writer (None: none)
    observer: LoopObserver | None  # told of each loop turn (the metrics' heartbeat)
    surveillance: SurveillanceMonitor | None  # the online abuse detectors (None: off)
    insane_fill_pct: float
    bus: MessageBus
    executor: Executor
    protection: Protection
    state: LiveState
    history: dict[str, SymbolHistory]
    summary: RunSummary
    entry_traces: set[str]  # traces whose orders open positions
    recovered_last: dict[str, datetime]  # each symbol's last journaled bar at startup
    feed_holds: dict[str, str]  # symbol -> why the feed holds its new entries (stale data)
    anomaly: AnomalyRegistry  # the detectors fed every journaled event (live.anomaly)
    _journaled_alerts: set[tuple[datetime, str, str]]  # on each symbol's last bar

    if TYPE_CHECKING:  # what one room calls on another; defined by the room named (Runner)
        # controls
        def switch(self, bar: FeedBar, scope: str, mode: str, actor: str, reason: str, *,
                   flatten_leg: int = ..., trace: str = ...) -> None: ...
        def _flatten(self, bar: FeedBar, leg: int = ...) -> None: ...
        def _quote(self, symbol: str | None, ts: datetime) -> FeedBar:
            raise NotImplementedError
        def _latest_symbol(self) -> str | None:
            raise NotImplementedError

        # remediation
        def remediate(self, ts: datetime) -> None: ...
        def queue_alert(self, alert: AlertRaised) -> None: ...
        def note_playbook(self, event: PlaybookActed) -> None: ...
        def between_bars(self, ts: datetime) -> None: ...
        def _session_start(self, bar: FeedBar, history: SymbolHistory) -> None: ...
        def _controls(self, bar: FeedBar, history: SymbolHistory) -> None: ...

        # pipeline
        def _act(self, d: Deployed, bar: FeedBar, leg: int, decision: Decision, held: int,
                 day: object | None) -> bool:
            raise NotImplementedError
        def cancel_order(self, order: OrderRecord, bar: FeedBar, reason: str) -> bool:
            raise NotImplementedError
        def poll_fills(self, bar: FeedBar) -> None: ...
        def _protect(self, bar: FeedBar) -> None: ...
        def resume_slices(self, d: Deployed, bar: FeedBar, trace: str) -> bool:
            raise NotImplementedError
        def work_parents(self, bar: FeedBar) -> None: ...
        def settle_crosses(self, ts: datetime) -> list[str]:
            raise NotImplementedError

        # refusals
        def retry_exit(self, d: Deployed, bar: FeedBar, history: SymbolHistory) -> None: ...
        def cancel_entry_remainders(self, d: Deployed, bar: FeedBar, why: str) -> None: ...
        def working_entries(self, d: Deployed, symbol: str) -> list[OrderRecord]:
            raise NotImplementedError
        def note_refusal(self, message: Message) -> None: ...

        # broker session
        def broker_held(self, ts: datetime) -> bool:
            raise NotImplementedError
        def pushed_updates(self, ts: datetime) -> None: ...
        def read_books(self, ts: datetime) -> None: ...

        # recovery
        def _note_carried(self, symbol: str) -> list[tuple[str, int]]:
            raise NotImplementedError

        # signal governance
        def regime_at(self, d: Deployed, bar: FeedBar) -> RegimeReading | None: ...
        def regime_hold(self, d: Deployed, bar: FeedBar) -> str | None: ...
        def provenance(self, d: Deployed, bar: FeedBar, reading: RegimeReading | None
                       ) -> tuple[tuple[str, ...], tuple[float | None, ...], str | None]: ...
        def drift_check(self, bar: FeedBar, history: SymbolHistory) -> None: ...
        # remote signals
        def signal_hold(self, d: Deployed, bar: FeedBar) -> str | None: ...

        # strategy health
        def health_check(self, bar: FeedBar) -> None: ...
        def note_exit(self, event: TradeExited) -> None: ...
        def note_health(self, event: HealthObserved) -> None: ...
        def note_fill_slippage(self, fill: OrderFilled) -> None: ...
        def health_memory(self) -> dict[str, Any]:
            raise NotImplementedError
        def restore_health(self, memory: dict[str, Any] | None) -> None: ...
        # confidence and ensemble
        def confidence_at(self, d: Deployed, bar: FeedBar, side: int
                          ) -> ConfidenceReading | None: ...
        def confidence_lots(self, d: Deployed, bar: FeedBar, side: int
                            ) -> tuple[int, str | None]:
            raise NotImplementedError
        def resolves(self, deployed: Sequence[Deployed]) -> bool:
            raise NotImplementedError
        def resolve_entries(self, bar: FeedBar,
                            wants: Sequence[tuple[Deployed, int]]) -> None: ...
        def ensemble_hold(self, d: Deployed, bar: FeedBar) -> str | None: ...

    def broker_is(self, capability: type) -> bool:
        """Does the broker implement ``capability`` (a runtime-checkable protocol of
        :mod:`live.broker`)? Answered once per broker object: such a check inspects every
        member of the protocol, and the runner asks at every bar."""
        if self._capabilities_of is not self.broker:  # a replaced broker (a new login)
            self._capabilities, self._capabilities_of = {}, self.broker
        found = self._capabilities.get(capability)
        if found is None:
            found = self._capabilities[capability] = isinstance(self.broker, capability)
        return found

    def kill_mode(self, d: Deployed) -> KillMode:
        """``d``'s kill switch: the stricter of the global one, its strategy's and, for an
        ensemble's member, the ensemble's (``stratops kill --strategy ensemble_nifty``)."""
        mode = kill_mode_for(self.state, d.strategy)
        if d.ensemble is None:
            return mode
        return max(mode, kill_mode_for(self.state, d.ensemble.name),
                   key=KILL_SEVERITY.__getitem__)

    def kill_covers(self, scope: str, strategy: str) -> bool:
        """Does a kill of ``scope`` reach ``strategy``'s orders (``all``, the strategy, or
        the ensemble version it trades under)?"""
        return scope in ("all", strategy) or any(
            d.strategy == strategy and d.ensemble is not None and d.ensemble.name == scope
            for d in self.deployed)

    def symbol_history(self, symbol: str) -> SymbolHistory:
        found = self.history.get(symbol)
        if found is None:
            found = self.history[symbol] = self.new_history(symbol)
        return found

    def new_history(self, symbol: str) -> SymbolHistory:
        """An empty history of ``symbol`` on its deployment's venue (NSE when none)."""
        venue = next((d.venue for d in self.deployed if symbol in d.symbols), "NSE")
        return SymbolHistory(symbol, get_venue(venue), self.max_sessions)

    def net(self, strategy: str, symbol: str) -> int:
        pos = self.state.positions.get((strategy, symbol))
        return pos.net_qty if pos is not None else 0

    def working_qty(self, strategy: str, symbol: str, side: Side, *,
                    exits_only: bool = False) -> int:
        """Unfilled quantity of this strategy's working orders on ``symbol`` in ``side``,
        protective orders left out (and entries too with ``exits_only``)."""
        return sum(o.qty - o.filled_qty for o in self.state.working.values()
                   if o.strategy == strategy and o.symbol == symbol and o.side is side
                   and not o.protective
                   and not (exits_only and o.trace_id in self.entry_traces))

    def alert(self, ts: datetime, severity: Severity, code: str, message: str, *,
              trace_id: str = "") -> None:
        if (ts, code, message) in self._journaled_alerts:
            return  # raised before the restart, on the bar being re-processed
        self.executor.record(AlertRaised(trace_id=trace_id or alert_trace_id(ts, code, message),
                                         ts_event=ts, severity=severity, code=code,
                                         message=message))
        self.summary.alerts.append(f"{code}: {message}")

    def raise_anomalies(self) -> None:
        """Journal what the anomaly detectors found since the last call, each alert under
        the trace it is about (live.anomaly)."""
        for found in self.anomaly.drain():
            self.alert(found.ts, found.severity, found.code, found.message,
                       trace_id=found.trace_id)
    def journal_findings(self) -> None:
        """Journal the surveillance findings raised since the last call (each an alert
        carrying its evidence; see :mod:`live.compliance.findings`)."""
        if self.surveillance is None:
            return
        for finding in self.surveillance.drain():
            self.executor.record(finding.alert())
            self.summary.alerts.append(f"surveillance_{finding.detector}: {finding.summary}")

    def _session_ends(self, history: SymbolHistory, d: Deployed, ts: datetime) -> bool:
        nxt = ts + d.rules.bar
        if history.session_day(nxt) != history.session_day(ts):
            return True
        close = get_venue(d.venue).close
        return close is not None and to_local(nxt, d.rules.tz).time() >= close
