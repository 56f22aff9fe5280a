"""The live runner: one trading process over one journal and one broker, built from rooms
(:mod:`~live.runner.core` says which) that talk through the message bus (:mod:`live.bus`):
execution handles the ``SubmitOrder`` and ``CancelOrder`` commands, the risk engine's
handler ``CheckRisk`` (answered by a journaled ``RiskChecked``), the journal and the
state's fold subscribe to every event, the protection and the fill checks to fills.

Restart and start are one code path: state and bar history are rebuilt from the journal,
the broker is reconciled, and the feed resumes at the last journaled bar (re-processing
it: decisions are keyed by deterministic trace ids, so nothing already intended is
intended, or sent, again). Between bars (the feed's :class:`Idle` markers, at least every
200 ms while it waits) the runner polls the desk's kill commands and acts on them at once.
Risk-reducing orders (exits, cutoff and carried exits, flattens, protective orders) are
never denied by a kill-switch halt; a fill far from its order's reference price raises
``insane_fill``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from live.anomaly.base import AnomalyThresholds
from live.anomaly.registry import AnomalyRegistry
from live.broker import Broker
from live.bus import (
    DEFERRABLE_KINDS,
    FollowsJournal,
    JournalSink,
    MessageBus,
    StateSink,
    Transport,
)
from live.compliance.monitor import SurveillanceMonitor
from live.contracts import ContractBook
from live.events import OrderFilled, OrderRejected, OrderSubmitted, TradingMode
from live.journal import Journal
from live.orders.retry import NEVER_RETRY, Retrier
from live.orders.rules import DEFAULT_KEY, OrderRules
from live.playbooks.engine import PlaybookEngine
from live.playbooks.spec import Playbooks
from live.risk.guardrails import Guardrails
from live.risk.handler import RiskAnswers, RiskHandler
from live.risk.interface import RiskEngine
from live.risk.limits import DEFAULT_INSANE_FILL_PCT
from live.runner.broker_session import BrokerSession, Pager, log_pager
from live.runner.controls import Controls, KillCommandLike, KillGate, NoBarYetError
from live.runner.core import EntryPolicy, LoopObserver, RunSummary
from live.runner.decisions import UnsupportedVersionError
from live.runner.deployments import Deployed, order_rule_problem
from live.runner.ensemble_room import EnsembleRoom
from live.runner.execution import CrashHook, Executor, no_crash
from live.runner.feed import FeedBar
from live.runner.health_room import HealthRoom, RollbackProposer
from live.runner.history import SymbolHistory
from live.runner.loop import BarLoop, SignalSource
from live.runner.pipeline import OrderPipeline
from live.runner.protection import Protection
from live.runner.recovery import Recovery, RunnerHalted
from live.runner.refusals import BrokerRefusals
from live.runner.remediation import Remediation
from live.runner.signal_room import SignalRoom
from live.runner.slicing import DEFAULT_BAND_PCT
from live.runner.snapshotting import SnapshotCadence
from live.state import LiveState
from strategies.confidence import ConfidenceSizing
from strategies.drift import DriftLimits
from strategies.ensemble import EnsemblePolicy
from strategies.health import HealthLimits

RiskAnswersFactory = Callable[[MessageBus, RiskEngine, LiveState], RiskAnswers]

__all__ = ["KillCommandLike", "NoBarYetError", "RunSummary", "Runner", "RunnerHalted"]


class Runner(BarLoop, Recovery, Controls, BrokerRefusals, OrderPipeline, BrokerSession,
             Remediation, SignalRoom, HealthRoom, EnsembleRoom):
    """One trading process over one journal and one broker.

    ``crash_hook`` is for crash tests only (called with the name of each point where a
    process may die: ``before_intent``, ``after_intent``, ``after_submit``, ``after_ack``,
    ``after_fill``, ``after_modify``); production never passes one. ``transport`` carries
    the bus (in process by default); ``pager`` tells a person of a dead broker session
    (:mod:`~live.runner.broker_session`; a CRITICAL log line by default). ``order_rules``
    (risk.yaml ``orders``; default: NSE and Kite's) and ``price_band_pct`` (risk.yaml
    ``pre_trade.price_band_pct``) are the exchange's order rules (:mod:`live.orders`); a
    version that breaks them (a MIS cutoff too close to the broker's square-off, protective
    orders above the freeze quantity) is refused here. ``retrier`` retries what the broker
    certainly did not receive (:mod:`live.orders.retry`; default: never). ``anomaly``: the
    anomaly detectors' thresholds (:mod:`live.anomaly`; settings ``anomaly.*``; default:
    their defaults - the detectors always run). ``playbooks`` (``playbooks.yaml``) remediate
    alerts (:mod:`~live.runner.remediation`; default: none). ``surveillance`` runs the abuse
    detectors on every journaled event (:mod:`live.compliance.monitor`); its findings are
    journaled as alerts after each bar. ``drift_limits`` (policy.yaml ``signal_governance``)
    turn the drift monitor on for versions that carry a drift reference
    (:mod:`~live.runner.signal_room`). ``health_limits`` (policy.yaml
    ``signal_governance.health``) turn the strategy health monitor on for versions that carry
    a health expectation; ``propose_rollback`` files its rollback requests
    (:mod:`~live.runner.health_room`). ``ensemble`` (policy.yaml
    ``signal_governance.ensemble``; default: none, each strategy trades alone) resolves the
    entries several strategies want on one symbol at one bar, and ``sizing``
    (``signal_governance.confidence``) scales a calibrated version's entries by their
    confidence (:mod:`~live.runner.ensemble_room`). ``signal_source`` gives each strategy's
    signals at a bar instead of its kernel in this process (the signal service:
    ``stratops svc execution --signals remote``; :class:`~live.runner.loop.SignalSource`)."""

    def __init__(self, *, journal: Journal, broker: Broker, deployed: list[Deployed],
                 mode: str, clock: Callable[[], datetime],
                 risk: RiskEngine, market: Callable[[FeedBar], object] | None = None,
                 policy: EntryPolicy | None = None,
                 crash_hook: CrashHook | None = None, max_sessions: int = 5,
                 exchange: str = "NFO", guardrails: Guardrails | None = None,
                 kill_commands: Callable[[int], Sequence[KillCommandLike]] | None = None,
                 insane_fill_pct: float = DEFAULT_INSANE_FILL_PCT,
                 transport: Transport | None = None, pager: Pager | None = None,
                 order_rules: OrderRules | None = None,
                 price_band_pct: Mapping[str, float] | None = None,
                 contracts: ContractBook | None = None,
                 retrier: Retrier | None = None,
                 snapshots: SnapshotCadence | None = None,
                 anomaly: AnomalyThresholds | None = None,
                 playbooks: Playbooks | None = None,
                 surveillance: SurveillanceMonitor | None = None,
                 drift_limits: DriftLimits | None = None,
                 risk_answers: RiskAnswersFactory | None = None,
                 health_limits: HealthLimits | None = None,
                 propose_rollback: RollbackProposer | None = None,
                 ensemble: EnsemblePolicy | None = None,
                 sizing: ConfidenceSizing | None = None,
                 signal_source: SignalSource | None = None) -> None:
        self.journal, self.broker, self.deployed = journal, broker, deployed
        self.mode, self.clock, self.market = TradingMode(mode), clock, market
        self.risk = risk  # required: no default that lets every order through
        self.policy, self.crash_hook = policy, crash_hook or no_crash
        self.max_sessions, self.exchange = max_sessions, exchange
        self.contracts = contracts  # None: no instrument master (orders carry no contract)
        self.snapshots = snapshots  # None: no state snapshots (live.snapshots.*)
        self.observer: LoopObserver | None = None  # live.observability: set when attached
        self.state = LiveState()
        self.history: dict[str, SymbolHistory] = {}
        self.entries: dict[tuple[str, str, object], int] = defaultdict(int)
        self.summary = RunSummary()
        self.guardrails, self.kill_commands = guardrails, kill_commands
        self.last_kill_command = 0
        self.kill_gate = KillGate()
        self.recovered_last: dict[str, datetime] = {}
        self.feed_holds: dict[str, str] = {}
        self._folded_symbol: str | None = None
        self._journaled_alerts: set[tuple[datetime, str, str]] = set()
        self.started: dict[str, str] = {}
        self.kill_actor: dict[str, tuple[str, str]] = {}
        self.entry_traces: set[str] = set()
        self.insane_fill_pct = insane_fill_pct
        self.order_rules = order_rules if order_rules is not None else OrderRules()
        self.price_band_pct = dict(price_band_pct or {DEFAULT_KEY: DEFAULT_BAND_PCT})
        self.retry_exits: set[tuple[str, str]] = set()
        self._refusals_heard: set[tuple[str, str]] = set()
        self.carried: set[tuple[str, str]] = set()
        self._reprocessed: set[str] = set()
        self.drift_limits = drift_limits
        self._regimes = {}
        self._drift_checked = {}
        self.health_limits, self.propose_rollback = health_limits, propose_rollback
        self.health = {}
        self.health_pending = []
        self.health_fills = {}
        self.ensemble, self.sizing = ensemble, sizing or ConfidenceSizing()
        self.signal_source = signal_source  # None: the kernels run here (svc signal: remote)
        self._signal_holds = {}
        self._confidences, self._ensemble_holds = {}, {}
        self._drift_state = {}
        self._fills_heard: set[str] = set()
        self.pager = pager or log_pager
        self._broker_hold: str | None = None
        self._session_paged = False
        self._capabilities: dict[type, bool] = {}
        self._capabilities_of: object = None
        self._books_unread: datetime | None = None
        self.bus = MessageBus(transport)
        if isinstance(transport, FollowsJournal):  # mirrors only what the journal committed
            transport.follow(journal)
        # durable first: a bar's own events (DEFERRABLE_KINDS) ride its next commit - an
        # intent's, before any broker call, or the bar's end (one fsync per bar, not per event)
        self.bus.subscribe_all(JournalSink(journal, deferred=DEFERRABLE_KINDS))
        self.bus.subscribe_all(StateSink(self.state))  # then folded
        self.anomaly = AnomalyRegistry(anomaly or AnomalyThresholds(), self.state, clock)
        self.bus.subscribe_all(self.anomaly.sink)  # then seen by the anomaly detectors
        self.surveillance = surveillance  # abuse detectors (live.compliance); None: off
        if surveillance is not None:  # after the fold: it sees what the journal took
            self.bus.subscribe_all(surveillance.sink)
        self.executor = Executor(self.bus, broker, self.state, clock,
                                 self.crash_hook, retrier or NEVER_RETRY)
        # the CheckRisk handler: the engine in process, or (risk_answers) a client of the risk
        # service in its own process (live.svc.remote_risk; `stratops svc execution --risk remote`)
        self.risk_handler = RiskHandler(self.bus, risk, self.state) \
            if risk_answers is None else risk_answers(self.bus, risk, self.state)
        self.risk_checks = itertools.count(1)
        self.protection = Protection(self.state, self.entry_traces, self.symbol_history,
                                     self.working_qty, self.recovered_last)
        self.bus.subscribe(OrderFilled.KIND, self._on_fill)  # type: ignore[arg-type]  # fills only
        for kind in (OrderSubmitted.KIND, OrderRejected.KIND):  # broker refusals: alerted
            self.bus.subscribe(kind, self.on_refusal)  # type: ignore[arg-type]  # these only
        self.playbooks = None if playbooks is None else PlaybookEngine(playbooks)
        self.remedy_queue = []
        self.listen_for_alerts()  # playbooks.yaml: remediation (live/runner/remediation.py)
        self.listen_for_exits()  # the strategy health monitor (live/runner/health_room.py)
        for d in deployed:  # NSE/Kite order rules a version must meet to load
            problem = order_rule_problem(d, self.order_rules, getattr(broker, "name", ""),
                                         exchange)
            allowed = getattr(policy, "product_allowed", None)  # Policy's; not every test's
            if problem is None and allowed is not None and not allowed(d.strategy, d.product):
                problem = (f"product {d.product} is not allowed for {d.strategy} by the policy "
                           f"(policy.yaml products / strategies.{d.strategy}.products)")
            if problem is not None:
                raise UnsupportedVersionError(f"{d.strategy} v{d.version}: {problem}")
        for d in deployed:
            if d.rules.has_stop and d.rules.has_target and not getattr(
                    broker, "supports_oco", False):
                raise UnsupportedVersionError(
                    f"{d.strategy} v{d.version}: a stop and a target need one-cancels-other "
                    f"orders, which broker {getattr(broker, 'name', broker)!r} does not "
                    "offer; refusing rather than risking both filling")
