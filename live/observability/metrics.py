"""The runner's Prometheus metrics, derived from the events it journals.

:class:`RunnerMetrics` subscribes to the runner's bus after the journal and the state's fold
(:meth:`MessageBus.subscribe_all`), so it sees exactly the events the journal took, in order,
once each (a bar's own events may still be pending then: committed by the bar's end, see
:data:`live.bus.DEFERRABLE_KINDS`; a metric is never acted on outside the process); the
runner's own loop calls :meth:`RunnerMetrics.tick` at every feed item
(a bar or an ``Idle`` marker), which stamps the heartbeat - a hung loop stops it even though
the HTTP thread still answers. Nothing here decides anything: numbers that have a definition
elsewhere are taken from there (slippage: :func:`live.tca.metrics.child_tca`'s arrival
slippage; risk-limit utilisation: :func:`live.risk.risk_report.risk_report`'s rows; the kill
switches: the folded state).

Definitions (README, Observability):

* bar -> intent latency: from the loop receiving a bar to an order intent of that bar being
  journaled (durable), per strategy;
* feed staleness: wall seconds since the last bar of a symbol was journaled;
* journal lag: wall seconds since the last journal append (a bar is journaled every bar, so
  a flowing runner keeps it under one bar); the journal head's seq beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from live.broker import Outcome
from live.bus import Envelope, SeenIds
from live.events import (
    KILL_SCOPE_ALL,
    KILL_SEVERITY,
    AlertRaised,
    BarClosed,
    GovernanceDecided,
    KillMode,
    KillSwitchChanged,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderRejected,
    OrderSubmitted,
    PositionChanged,
    RiskChecked,
    SignalRaised,
    TradeExited,
)
from live.observability.reasons import reject_class
from live.state import LiveState
from live.tca.extract import _child as tca_child
from live.tca.metrics import Bar, BarPath, Fill, child_tca

log = logging.getLogger("live.observability")

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0)
SLIPPAGE_BUCKETS_BPS = (-20.0, -10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
UNKNOWN_STRATEGY = "unknown"


class LimitRow(Protocol):
    """A row of the risk report (:class:`live.risk.risk_report.Row`)."""

    @property
    def area(self) -> str: ...
    @property
    def item(self) -> str: ...
    @property
    def utilisation(self) -> float | None: ...


class RunnerMetrics:
    """The metrics of one runner process, in their own registry (served by
    :func:`prometheus_client.start_http_server` in the app layer). ``wall`` and ``perf`` are
    the clocks (``time.time``, ``time.perf_counter``): injected, as domain code never reads
    the time itself."""

    def __init__(self, *, wall: Callable[[], float], perf: Callable[[], float],
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.wall, self.perf = wall, perf
        r = self.registry
        self.heartbeat = Gauge("stratops_heartbeat_timestamp_seconds",
                               "Unix time of the runner loop's last turn (a bar or an idle "
                               "marker)", registry=r)
        self.bar_to_intent = Histogram("stratops_bar_to_intent_seconds",
                                       "From the loop receiving a bar to an order intent of "
                                       "that bar being journaled", ["strategy"],
                                       buckets=LATENCY_BUCKETS_S, registry=r)
        self.bars = Counter("stratops_bars_total", "Bars journaled", ["symbol"], registry=r)
        self.signals = Counter("stratops_signals_total", "Signals journaled",
                               ["strategy", "side"], registry=r)
        self.intents = Counter("stratops_orders_intended_total", "Order intents journaled",
                               ["strategy"], registry=r)
        self.sent = Counter("stratops_orders_sent_total",
                            "Orders submitted to the broker, by the submit's outcome",
                            ["strategy", "outcome"], registry=r)
        self.rejected = Counter("stratops_orders_rejected_total",
                                "Orders the broker rejected (stage submit: at the submit; "
                                "exchange: after it was accepted), by reason class",
                                ["strategy", "stage", "reason"], registry=r)
        self.denied = Counter("stratops_orders_denied_total",
                              "Orders refused before sending, by the check that refused",
                              ["strategy", "check"], registry=r)
        self.fills = Counter("stratops_fills_total", "Fills journaled", ["strategy"],
                             registry=r)
        self.slippage_bps = Histogram("stratops_slippage_bps",
                                      "Arrival slippage of each fill (TCA's definition; "
                                      "positive hurt us), bps", ["strategy"],
                                      buckets=SLIPPAGE_BUCKETS_BPS, registry=r)
        self.slippage_inr = Gauge("stratops_slippage_inr",
                                  "Arrival slippage summed over this process's fills, INR",
                                  ["strategy"], registry=r)
        self.trades = Counter("stratops_trades_total", "Round trips closed, by outcome",
                              ["strategy", "outcome"], registry=r)
        self.hit_ratio = Gauge("stratops_hit_ratio",
                               "Winning round trips / round trips closed in this process",
                               ["strategy"], registry=r)
        self.position = Gauge("stratops_position_net_qty", "Net position, units",
                              ["strategy", "symbol"], registry=r)
        self.realised = Gauge("stratops_realised_pnl_inr",
                              "Realised P&L (points x qty, before costs), INR",
                              ["strategy", "symbol"], registry=r)
        self.utilisation = Gauge("stratops_risk_limit_utilisation",
                                 "|value| / limit of each risk-report row that has a limit",
                                 ["area", "item"], registry=r)
        self.risk_errors = Counter("stratops_risk_report_errors_total",
                                   "Risk report refreshes that failed (the rows keep their "
                                   "last values)", registry=r)
        self.kill = Gauge("stratops_kill_switch_state",
                          "Kill switch per scope: 0 off, 1 reduce, 2 halt, 3 flatten",
                          ["scope"], registry=r)
        self.alerts = Counter("stratops_alerts_total", "Alerts journaled",
                              ["severity", "code"], registry=r)
        self.head_seq = Gauge("stratops_journal_head_seq", "Seq of the last journal entry",
                              registry=r)
        self.last_bar = Gauge("stratops_feed_last_bar_timestamp_seconds",
                              "Unix time the symbol's last bar was journaled", ["symbol"],
                              registry=r)
        # computed at scrape time from the stamps below (reads of one float: no lock needed)
        self.staleness = Gauge("stratops_feed_staleness_seconds",
                               "Wall seconds since the last bar of the symbol was journaled",
                               ["symbol"], registry=r)
        self.journal_lag = Gauge("stratops_journal_lag_seconds",
                                 "Wall seconds since the last journal append", registry=r)
        self._bar_wall: dict[str, float] = {}
        self._append_wall: float | None = None
        self.journal_lag.set_function(self._since_append)
        self.state: LiveState | None = None
        self._seen = SeenIds()
        self._synced = False
        self._seq = 0
        self._bar_started: float | None = None
        self._timed: set[str] = set()  # strategies whose intent at this bar was timed
        self._intents: dict[str, OrderIntended] = {}
        self._arrival_bar: dict[str, Bar] = {}
        self._bars_seen: dict[str, BarClosed] = {}
        self._bar_children: dict[str, tuple[Any, Any]] = {}
        self._wins: dict[str, int] = {}
        self._closed: dict[str, int] = {}
        self._risk_rows: Callable[[], Sequence[LimitRow]] | None = None
        self._risk_every = 0.0
        self._risk_due = 0.0
        self._rows_shown: set[tuple[str, str]] = set()

    # --- wiring -------------------------------------------------------------------------

    def attach(self, state: LiveState, head_seq: int, *,
               risk_rows: Callable[[], Sequence[LimitRow]] | None = None,
               risk_every_s: float = 10.0) -> None:
        """Observe a runner whose journal's head is ``head_seq`` and whose state is ``state``
        (its kill switches and positions are read at the loop's first turn, after the
        recovery folded them); ``risk_rows`` (the risk report now) is refreshed from the
        loop at most every ``risk_every_s``."""
        self.state = state
        self._seq = head_seq
        self.head_seq.set(head_seq)
        self._seen = SeenIds()
        self._synced = False
        self._risk_rows, self._risk_every = risk_rows, risk_every_s
        self._risk_due = 0.0
        self.heartbeat.set(self.wall())  # alive and starting: recovery must fit the budget

    def _sync(self, state: LiveState) -> None:
        """Kill switches and positions as the recovered state holds them."""
        self._synced = True
        self.kill.labels(KILL_SCOPE_ALL).set(
            KILL_SEVERITY[state.kill_switches.get(KILL_SCOPE_ALL, KillMode.OFF)])
        for scope, mode in state.kill_switches.items():
            self.kill.labels(scope).set(KILL_SEVERITY[mode])
        for (strategy, symbol), pos in state.positions.items():
            self.position.labels(strategy, symbol).set(pos.net_qty)
            self.realised.labels(strategy, symbol).set(pos.realised_pnl_inr)

    def tick(self, *, bar: bool) -> None:
        """One turn of the runner's loop: the heartbeat, the bar's start (for the latency)
        and, when due, the risk report's rows."""
        now = self.wall()
        self.heartbeat.set(now)
        if self.state is not None and not self._synced:
            self._sync(self.state)
        if bar:
            self._bar_started = self.perf()
            self._timed.clear()
        if self._risk_rows is not None and now >= self._risk_due:
            self._risk_due = now + self._risk_every
            self.refresh_risk()

    def _since_append(self) -> float:
        last = self._append_wall
        return 0.0 if last is None else max(0.0, self.wall() - last)

    def _since_bar(self, symbol: str) -> float:
        return max(0.0, self.wall() - self._bar_wall[symbol])

    def refresh_risk(self) -> None:
        """Set the utilisation gauges from the risk report's rows (a failed report is
        counted and logged; the last values stay)."""
        if self._risk_rows is None:
            return
        try:
            rows = self._risk_rows()
        except Exception as exc:  # a report that cannot be built must not stop trading
            self.risk_errors.inc()
            log.error("risk report for metrics failed: %s: %s", type(exc).__name__, exc)
            return
        shown: set[tuple[str, str]] = set()
        for row in rows:
            used = row.utilisation
            if used is not None:
                self.utilisation.labels(row.area, row.item).set(used)
                shown.add((row.area, row.item))
        for gone in self._rows_shown - shown:  # a row the report no longer has (e.g. the
            self.utilisation.remove(*gone)  # VaR of no positions once one is open)
        self._rows_shown = shown

    def __call__(self, envelope: Envelope) -> None:
        """The bus sink: every journaled event of one envelope (one commit); a redelivered
        envelope is skipped by message id, as the journal's sink skips it."""
        if not self._seen.first_time(envelope.message_id):
            return
        self._seq += len(envelope.messages)
        self.head_seq.set(self._seq)
        now = self._append_wall = self.wall()
        for message in envelope.messages:
            self.observe(message, now)

    # --- events -------------------------------------------------------------------------

    def observe(self, message: Message, now: float) -> None:
        handler = _HANDLERS.get(type(message))
        if handler is not None:
            handler(self, message, now)

    def _strategy(self, client_key: str) -> str:
        intent = self._intents.get(client_key)
        if intent is not None:
            return intent.strategy
        order = None if self.state is None else self.state.orders.get(client_key)
        return UNKNOWN_STRATEGY if order is None else order.strategy

    def _on_bar(self, m: BarClosed, now: float) -> None:
        self._bar_wall[m.symbol] = now
        children = self._bar_children.get(m.symbol)
        if children is None:  # labels() takes a lock and builds a key: once per symbol
            children = self._bar_children[m.symbol] = (self.bars.labels(m.symbol),
                                                       self.last_bar.labels(m.symbol))
            self.staleness.labels(m.symbol).set_function(partial(self._since_bar, m.symbol))
        children[0].inc()
        children[1].set(now)
        self._bars_seen[m.symbol] = m

    def _on_signal(self, m: SignalRaised, now: float) -> None:
        self.signals.labels(m.strategy, m.side.value).inc()

    def _on_governance(self, m: GovernanceDecided, now: float) -> None:
        if not m.allowed:
            self.denied.labels(m.strategy, "governance").inc()

    def _on_risk(self, m: RiskChecked, now: float) -> None:
        if not m.passed:
            self.denied.labels(m.strategy, m.check or "risk").inc()

    def _on_intent(self, m: OrderIntended, now: float) -> None:
        self.intents.labels(m.strategy).inc()
        self._intents[m.client_key] = m
        bar = self._bars_seen.get(m.symbol)
        if bar is not None:  # the last bar known at the intent: TCA's arrival price
            self._arrival_bar[m.client_key] = Bar(ts=bar.ts_event, high=bar.high, low=bar.low,
                                                  close=bar.close, volume=bar.volume)
        if self._bar_started is not None and m.strategy not in self._timed \
                and not m.protective:
            self._timed.add(m.strategy)
            self.bar_to_intent.labels(m.strategy).observe(self.perf() - self._bar_started)

    def _on_submitted(self, m: OrderSubmitted, now: float) -> None:
        strategy = self._strategy(m.client_key)
        self.sent.labels(strategy, m.outcome.value).inc()
        if m.outcome is Outcome.REJECTED:
            self.rejected.labels(strategy, "submit", reject_class(m.reason)).inc()
            self._forget(m.client_key)

    def _on_rejected(self, m: OrderRejected, now: float) -> None:
        self.rejected.labels(self._strategy(m.client_key), "exchange",
                             reject_class(m.reason)).inc()
        self._forget(m.client_key)

    def _on_fill(self, m: OrderFilled, now: float) -> None:
        strategy = self._strategy(m.client_key)
        self.fills.labels(strategy).inc()
        pos = None if self.state is None else self.state.positions.get((strategy, m.symbol))
        if pos is not None:  # as the fold left it (the state sink ran first)
            self.position.labels(strategy, m.symbol).set(pos.net_qty)
            self.realised.labels(strategy, m.symbol).set(pos.realised_pnl_inr)
        intent, bar = self._intents.get(m.client_key), self._arrival_bar.get(m.client_key)
        if intent is None or (bar is None and not intent.protective):
            return  # intended before this process started: TCA's report has it
        child = tca_child(intent, intent.trace_id, "", [Fill(ts=m.ts_event, qty=m.qty,
                                                             price=m.price)])
        tca = child_tca(child, BarPath([] if bar is None else [bar]))
        if tca.arrival_slippage_bps is not None:
            self.slippage_bps.labels(strategy).observe(tca.arrival_slippage_bps)
        if tca.arrival_slippage_inr is not None:
            self.slippage_inr.labels(strategy).inc(tca.arrival_slippage_inr)
        order = None if self.state is None else self.state.orders.get(m.client_key)
        if order is not None and order.filled_qty >= order.qty:
            self._forget(m.client_key)

    def _on_cancelled(self, m: OrderCancelled, now: float) -> None:
        self._forget(m.client_key)

    def _forget(self, client_key: str) -> None:
        self._intents.pop(client_key, None)
        self._arrival_bar.pop(client_key, None)

    def _on_position(self, m: PositionChanged, now: float) -> None:
        self.position.labels(m.strategy, m.symbol).set(m.net_qty)
        self.realised.labels(m.strategy, m.symbol).set(m.realised_pnl_inr)

    def _on_exit(self, m: TradeExited, now: float) -> None:
        outcome = "win" if m.pnl_inr > 0 else "loss" if m.pnl_inr < 0 else "flat"
        self.trades.labels(m.strategy, outcome).inc()
        self._closed[m.strategy] = self._closed.get(m.strategy, 0) + 1
        self._wins[m.strategy] = self._wins.get(m.strategy, 0) + (outcome == "win")
        self.hit_ratio.labels(m.strategy).set(self._wins[m.strategy] /
                                              self._closed[m.strategy])

    def _on_kill(self, m: KillSwitchChanged, now: float) -> None:
        self.kill.labels(m.scope).set(KILL_SEVERITY[m.mode])

    def _on_alert(self, m: AlertRaised, now: float) -> None:
        self.alerts.labels(m.severity.value, m.code).inc()


_HANDLERS: Mapping[type, Callable[[RunnerMetrics, Any, float], None]] = {
    BarClosed: RunnerMetrics._on_bar, SignalRaised: RunnerMetrics._on_signal,
    GovernanceDecided: RunnerMetrics._on_governance, RiskChecked: RunnerMetrics._on_risk,
    OrderIntended: RunnerMetrics._on_intent, OrderSubmitted: RunnerMetrics._on_submitted,
    OrderRejected: RunnerMetrics._on_rejected, OrderFilled: RunnerMetrics._on_fill,
    OrderCancelled: RunnerMetrics._on_cancelled,
    PositionChanged: RunnerMetrics._on_position, TradeExited: RunnerMetrics._on_exit,
    KillSwitchChanged: RunnerMetrics._on_kill, AlertRaised: RunnerMetrics._on_alert,
}
