"""The runner's loop: bar -> market -> fills -> signals -> decisions -> governance -> risk ->
journaled intent -> broker. Restart and start are one code path: state and bar history are
rebuilt from the journal, the broker is reconciled, and the feed resumes at the last
journaled bar (re-processing it: decisions are keyed by deterministic trace ids, so nothing
already intended is intended, or sent, again). Between bars (the feed's :class:`Idle`
markers, at least every 200 ms while it waits) the runner polls the desk's kill commands and
acts on them at once.

Feed boundary: a bar that is not sound (:func:`~live.runner.feed.bar_problem`: NaN or
non-positive prices, high below low, a time outside the venue's sessions), a second bar of
a symbol at one time and an empty feed are refused with a journaled alert - a refused bar
never becomes a ``BarClosed``, so a restart does not trip over it; protective orders keep
resting at the broker. Risk-reducing orders (exits, cutoff and carried exits, flattens,
protective orders) are never denied by a kill-switch halt; a position that must be flat
(past the cutoff, carried from an earlier session, under a flatten switch) and has no exit
working raises a critical ``exit_overdue`` alert at every bar and its exit is tried again;
a fill far from its order's reference price raises ``insane_fill``."""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import pandas as pd

from live.broker import Outcome, Side
from live.events import (
    KILL_SEVERITY,
    AlertRaised,
    BarClosed,
    GovernanceDecided,
    KillMode,
    KillSwitchChanged,
    ModeChanged,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    RiskChecked,
    Severity,
    SignalRaised,
    SignalSide,
    TradingMode,
    client_key,
    new_trace_id,
)
from live.journal import Journal, JournalCorruptError
from live.risk.engine import OrderProposal, PassThroughRisk, RiskDecision, RiskEngine
from live.risk.guardrails import SESSION_LOCK, GuardAction, Guardrails, fired_key
from live.risk.limits import DEFAULT_INSANE_FILL_PCT
from live.runner.crash import CrashPoints
from live.runner.decisions import Decision, UnsupportedVersionError, decide
from live.runner.deployments import Deployed
from live.runner.execution import Executor
from live.runner.feed import FeedBar, FeedItem, Idle, bar_problem
from live.runner.history import OutOfOrderBarError, SymbolHistory
from live.runner.kill_gate import KILL_COMMAND_ALERT, KillGate, command_of, nonce_note
from live.runner.protection import Protection
from live.runner.reconcile import reconcile
from live.state import LiveState, OrderRecord, OrderStatus, in_doubt_orders, kill_mode_for
from strategies.bars import BarsInputError
from strategies.errors import StratopsError
from strategies.venues import get_venue

STALE_BARS = 5  # a gap of more than this many bars inside a session is a stale feed
LEG_EXIT, LEG_ENTER, LEG_FLATTEN = 0, 1, 7  # trace-id legs of the orders of one bar
LEG_KILL = 1_000  # + the command id: the leg of a flatten sent between bars for a command


class KillCommandLike(Protocol):
    """A desk's kill command as ``kill_commands(last_id)`` returns it (a ``KillCommand``)."""

    @property
    def id(self) -> int: ...
    @property
    def scope(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def verified(self) -> bool: ...
    @property
    def problem(self) -> str: ...
    @property
    def after_command(self) -> int: ...
    @property
    def nonce(self) -> str: ...


class RunnerHalted(StratopsError, RuntimeError):
    """The runner refuses to trade (unclean reconciliation, broken journal)."""


class NoBarYetError(StratopsError, RuntimeError):
    """An action between bars before any bar was seen (no last price to act on)."""


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
                 exchange: str = "NFO", guardrails: Guardrails | None = None,
                 kill_commands: Callable[[int], list] | None = None,
                 insane_fill_pct: float = DEFAULT_INSANE_FILL_PCT) -> None:
        self.journal, self.broker, self.deployed = journal, broker, deployed
        self.mode, self.clock, self.market = TradingMode(mode), clock, market
        self.risk = risk or PassThroughRisk()
        self.policy, self.crash = policy, crash or CrashPoints()
        self.max_sessions, self.exchange = max_sessions, exchange
        self.state = LiveState()
        self.history: dict[str, SymbolHistory] = {}
        self.entries: dict[tuple[str, str, object], int] = defaultdict(int)
        self.summary = RunSummary()
        self.guardrails, self.kill_commands = guardrails, kill_commands
        self.last_kill_command = 0
        self.kill_gate = KillGate()
        self.recovered_last: dict[str, datetime] = {}
        self._folded_symbol: str | None = None  # the symbol of the last journaled bar
        # alerts journaled on each symbol's last bar: re-processing it repeats none
        self._journaled_alerts: set[tuple[datetime, str, str]] = set()
        self.started: dict[str, str] = {}  # strategy -> reason of its last ModeChanged
        self.kill_actor: dict[str, tuple[str, str]] = {}  # scope -> (actor, reason) now
        self.executor = Executor(journal, broker, self.state, clock, self.crash)  # type: ignore[arg-type]
        self.entry_traces: set[str] = set()  # traces whose orders open positions
        self.protection = Protection(self)
        self.executor.on_fill = self._on_fill  # startup reconciliation's fills too
        self.insane_fill_pct = insane_fill_pct
        # positions found open when a new session began: exited at the first close
        self.carried: set[tuple[str, str]] = set()
        self._reprocessed: set[str] = set()  # symbols whose journaled last bar came again
        for d in deployed:
            if d.rules.has_stop and d.rules.has_target and not getattr(
                    broker, "supports_oco", False):
                raise UnsupportedVersionError(
                    f"{d.strategy} v{d.version}: a stop and a target need one-cancels-other "
                    f"orders, which broker {getattr(broker, 'name', broker)!r} does not "
                    "offer; refusing rather than risking both filling")

    # -- start = restart -----------------------------------------------------------------

    def symbol_history(self, symbol: str) -> SymbolHistory:
        found = self.history.get(symbol)
        if found is None:
            venue = next((d.venue for d in self.deployed if symbol in d.symbols), "NSE")
            found = self.history[symbol] = SymbolHistory(symbol, get_venue(venue),
                                                         self.max_sessions)
        return found

    def recover(self) -> None:
        """Fold the journal into state and history, then reconcile with the broker; halt
        unless clean."""
        collecting = gc.isenabled()
        gc.disable()  # millions of small objects and no cycles: skip the collector's scans
        try:  # one pass: the chain is checked as the journal is folded
            for _, message in self.journal.read_checked():
                self._fold(message)
        except JournalCorruptError as exc:
            raise RunnerHalted(f"journal broken at seq {exc.seq}: {exc.reason}") from None
        finally:
            if collecting:
                gc.enable()
        latest = {s: h.last_ts for s, h in self.history.items() if h.last_ts is not None}
        self.recovered_last = dict(latest)
        since = min(latest.values(), default=None)
        self._journaled_alerts = {a for a in self._journaled_alerts
                                  if since is not None and a[0] >= since}
        outcome = reconcile(self.executor, self.clock(), latest)
        if not outcome.clean:
            raise RunnerHalted("startup reconciliation is not clean: " + "; ".join(
                outcome.issues))
        for d in self.deployed:
            reason = f"runner started with v{d.version} ({d.snapshot_digest[:12]})"
            if self.state.modes.get(d.strategy) != self.mode or \
                    self.started.get(d.strategy) != reason:
                self.executor.record(ModeChanged(
                    trace_id="", ts_event=self.clock(), strategy=d.strategy, mode=self.mode,
                    reason=reason))

    def _fold(self, message: object) -> None:
        """One journaled message into state, bar history, intents, entry counts, switches."""
        if isinstance(message, BarClosed) and self.guardrails is not None and \
                self._folded_symbol is not None:
            self._replay_guardrails()  # the previous bar's evaluation, before this bar
        self.state.apply(message)  # type: ignore[arg-type]
        if isinstance(message, BarClosed):
            self._fold_bar(message)
        elif isinstance(message, SignalRaised) and message.side is not SignalSide.FLAT:
            self.entry_traces.add(message.trace_id)
        elif isinstance(message, KillSwitchChanged):
            self._note_kill(message)
            self._note_guard(message.reason)
        elif isinstance(message, AlertRaised):
            self._note_alert(message)
        elif isinstance(message, OrderFilled):
            self.protection.note_fill(message)
        elif isinstance(message, ModeChanged):
            self.started[message.strategy] = message.reason
        elif isinstance(message, OrderIntended):
            self.executor.intents[message.client_key] = message
            self.risk.remember(OrderProposal(
                strategy=message.strategy, symbol=message.symbol,
                side=1 if message.side is Side.BUY else -1, qty=message.qty,
                reference_price=float("nan"), ts=message.ts_event, exchange=message.exchange,
                reduces_exposure=message.trace_id not in self.entry_traces or
                message.protective, order_type=str(message.order_type)))
            if message.trace_id in self.entry_traces and not message.protective:
                day = self.symbol_history(message.symbol).session_day(message.ts_event)
                self.entries[(message.strategy, message.symbol, day)] += 1

    def _note_alert(self, message: AlertRaised) -> None:
        self._journaled_alerts.add((message.ts_event, message.code, message.message))
        if message.code == KILL_COMMAND_ALERT:  # a refused command is not read again
            command = command_of(message.message)
            if command is not None:
                self.last_kill_command = max(self.last_kill_command, command)
        self._note_guard(message.message)

    def _note_carried(self, symbol: str) -> list[tuple[str, int]]:
        """At a session's first bar: the positions in ``symbol`` still open, under a cutoff
        policy, are carried (exited at the first close); returns (strategy, net) of each."""
        found = []
        for d in self.deployed:
            net = self.net(d.strategy, symbol)
            if symbol in d.symbols and net and d.rules.cutoff is not None:
                self.carried.add((d.strategy, symbol))
                found.append((d.strategy, net))
        return found

    def _on_fill(self, fill: OrderFilled) -> None:
        """A fill just journaled: the protection learns of it; a price far from the order's
        reference raises ``insane_fill``."""
        self.protection.note_fill(fill)
        reference = self._fill_reference(fill)
        if reference is None:
            return
        off_pct = abs(fill.price - reference) / reference * 100.0
        if off_pct > self.insane_fill_pct:
            self.alert(fill.ts_event, Severity.CRITICAL, "insane_fill",
                       f"{fill.symbol} fill {fill.trade_id} ({fill.client_key}) at "
                       f"{fill.price:g} is {off_pct:.3g}% from its order's reference "
                       f"{reference:g}; insane_fill_pct={self.insane_fill_pct:g}")

    def _fill_reference(self, fill: OrderFilled) -> float | None:
        """The price the filled order was meant near: its limit or trigger, else the close
        of the bar it was decided at (else the symbol's last close)."""
        intent = self.executor.intents.get(fill.client_key)
        if intent is not None:
            for price in (intent.limit_price, intent.trigger_price,
                          self.symbol_history(intent.symbol).close_at(intent.ts_event)):
                if price is not None and price > 0:
                    return price
        last = self.state.last_bars.get(fill.symbol)
        return last.close if last is not None else None

    def _must_be_flat(self, d: Deployed, bar: FeedBar, history: SymbolHistory) -> str | None:
        """Why ``d``'s position in ``bar.symbol`` must be closed now (None: it may stay)."""
        if kill_mode_for(self.state, d.strategy) is KillMode.FLATTEN:
            return "a flatten kill switch is on"
        if d.rules.cutoff is None:
            return None
        if (d.strategy, bar.symbol) in self.carried:
            return "it was carried from an earlier session"
        nxt = pd.Timestamp(bar.ts + d.rules.bar).tz_convert(d.rules.tz).time()
        if nxt >= d.rules.cutoff or self._session_ends(history, d, bar.ts):
            return f"it is past the {d.rules.cutoff:%H:%M} cutoff"
        return None

    def _exits_overdue(self, bar: FeedBar, history: SymbolHistory) -> None:
        """Every bar until flat: a position that must be closed with no exit working for
        all of it is a critical alert (its exit is tried again at the next close)."""
        for d in self.deployed:
            net = self.net(d.strategy, bar.symbol) if bar.symbol in d.symbols else 0
            if not net:
                self.carried.discard((d.strategy, bar.symbol))
                continue
            why = self._must_be_flat(d, bar, history)
            side = Side.SELL if net > 0 else Side.BUY
            if why is None or self.working_qty(d.strategy, bar.symbol, side,
                                               exits_only=True) >= abs(net):
                continue
            self.alert(bar.ts, Severity.CRITICAL, "exit_overdue",
                       f"{d.strategy}/{bar.symbol}: position {net:+d} is still open and "
                       f"{why}; no exit is working (denied, rejected or in doubt): tried "
                       "again at the next close")

    def _fold_bar(self, message: BarClosed) -> None:
        """A journaled bar into its symbol's history (positions open at a session's first
        bar are carried), and the guardrails' session."""
        self._folded_symbol = message.symbol
        history = self.symbol_history(message.symbol)
        if history.append(FeedBar(message.symbol, message.ts_event, message.open,
                                  message.high, message.low, message.close, message.volume)):
            self._note_carried(message.symbol)
        if self.guardrails is not None:
            day = history.session_day(message.ts_event)
            if day != self.guardrails.day:
                self.guardrails.new_session(day, self.state)

    def _note_guard(self, reason: str) -> None:
        key = fired_key(reason)
        if key is not None and self.guardrails is not None:
            self.guardrails.mark_fired(key)

    def _replay_guardrails(self) -> None:
        """Re-run the guardrails' evaluation of the last folded bar with everything that bar
        journaled: today's peaks and soft scales come back (a fill journaled after the live
        evaluation can only add a peak: stricter, never looser). Fired triggers come from the
        journaled actions (:meth:`_note_guard`), never from this re-run. The journal's last
        bar is left to the loop, which re-processes it after a restart."""
        assert self.guardrails is not None
        symbol = self._folded_symbol
        assert symbol is not None
        history = self.history[symbol]
        closes = {s: h.last_close() for s, h in self.history.items() if len(h)}
        move = history.last_move_pct()
        self.guardrails.replay_bar(self.state, closes, {} if move is None else {symbol: move})

    # -- the loop ------------------------------------------------------------------------

    def run(self, bars: Iterable[FeedItem], *, pause: Callable[[], None] | None = None
            ) -> RunSummary:
        """Process the feed: each bar through the whole path; each :class:`Idle` marker
        (waiting for the next bar) polls the kill commands (:meth:`between_bars`)."""
        fed = 0
        for bar in bars:
            if isinstance(bar, Idle):
                self.between_bars(bar.ts)
                continue
            fed += 1
            history = self.symbol_history(bar.symbol)
            if not self._admit(bar, history):
                continue
            self._session_start(bar, history)
            if self.market is not None:
                self.market(bar)
            self.poll_fills(bar)
            self._protect(bar)
            self._controls(bar, history)
            sent = self.summary.intents
            self._on_close(bar, history)
            if self.summary.intents > sent:  # a broker filling at once: protect right away
                self.poll_fills(bar)
                self._protect(bar)
            self._exits_overdue(bar, history)
            self.summary.bars += 1
            if pause is not None:
                pause()
        if not fed:
            self.alert(self.clock(), Severity.WARNING, "empty_feed",
                       "the feed yielded no bars for the requested range: nothing was "
                       "traded or checked")
        self.journal.seal()  # session end: a signed checkpoint (if the journal has a signer)
        return self.summary

    def _admit(self, bar: FeedBar, history: SymbolHistory) -> bool:
        """Whether the loop processes ``bar``: a new sound bar (journaled here), or the last
        journaled bar re-processed once after a restart. Refused with an alert: a bar that
        is not sound, older than the last, or a second one at the same time."""
        aware = bar.ts.tzinfo is not None and bar.ts.utcoffset() is not None
        recovered = self.recovered_last.get(bar.symbol)
        if aware and recovered is not None and bar.ts < recovered:
            return False  # journaled (or refused) before a restart: the feed resumes after it
        problem = bar_problem(bar, history.venue)
        if problem is not None:
            self._refuse(bar, problem)
            return False
        last = history.last_ts
        if last is not None and bar.ts < last:
            self.alert(bar.ts, Severity.WARNING, "out_of_order_bar",
                       f"{bar.symbol}: bar {bar.ts} is before {last}; ignored")
            return False
        if last is not None and bar.ts == last:
            if recovered == last and bar.symbol not in self._reprocessed:
                self._reprocessed.add(bar.symbol)
                return True  # the journal's last bar, re-processed after a restart
            first = self.state.last_bars[bar.symbol]
            self.alert(bar.ts, Severity.WARNING, "duplicate_bar",
                       f"{bar.symbol}: a second bar at {bar.ts} (close {bar.close:g}; the "
                       f"first had {first.close:g}); ignored")
            return False
        return self._accept(bar, history, last)

    def _refuse(self, bar: FeedBar, problem: str) -> None:
        """Journal why ``bar`` is refused, with everything it carried; nothing else moves
        (resting protective orders keep working at the broker)."""
        aware = bar.ts.tzinfo is not None and bar.ts.utcoffset() is not None
        self.alert(bar.ts if aware else self.clock(), Severity.ERROR, "bad_bar",
                   f"{bar.symbol} bar at {bar.ts.isoformat()} refused: {problem} (open "
                   f"{bar.open!r} high {bar.high!r} low {bar.low!r} close {bar.close!r} "
                   f"volume {bar.volume!r}); not journaled as a bar, not traded on")

    def poll_fills(self, bar: FeedBar) -> None:
        """Journal the broker's new fills (the executor tells the protection of each) and
        ask the broker about orders left in doubt by an earlier bar."""
        fills = self.executor.poll(bar.ts)
        self.summary.fills += len(fills)
        if in_doubt_orders(self.state):  # a lost answer: ask a bar later, never resend
            last = self.symbol_history(bar.symbol).last_ts  # between bars: the last bar's
            before = bar.ts if last is None else min(bar.ts, last)
            for problem in self.executor.settle_in_doubt(bar.ts, decided_before=before):
                self.alert(bar.ts, Severity.CRITICAL, "order_in_doubt", problem)

    def net(self, strategy: str, symbol: str) -> int:
        pos = self.state.positions.get((strategy, symbol))
        return pos.net_qty if pos is not None else 0

    def _protect(self, bar: FeedBar) -> None:
        for d in self.deployed:
            if bar.symbol in d.symbols and (d.rules.has_stop or d.rules.has_target):
                self.protection.keep(d, bar)

    def cancel_order(self, order: OrderRecord, bar: FeedBar, reason: str) -> bool:
        """Cancel one OPEN order and journal the confirmed cancel; True when it is done."""
        if order.broker_order_id is None:
            return False
        result = self.broker.cancel(order.broker_order_id)  # type: ignore[attr-defined]
        if result.outcome is Outcome.CONFIRMED:
            self.executor.record(OrderCancelled(
                trace_id=order.trace_id, ts_event=bar.ts, client_key=order.client_key,
                broker_order_id=order.broker_order_id, reason=reason))
            return True
        self.poll_fills(bar)  # refused (filled meanwhile?) or unanswered: learn what happened
        return self.state.orders[order.client_key].status in (OrderStatus.CANCELLED,
                                                              OrderStatus.REJECTED)

    def _accept(self, bar: FeedBar, history: SymbolHistory, last: datetime | None) -> bool:
        try:
            new_session = history.append(bar)
        except OutOfOrderBarError as exc:
            self.alert(bar.ts, Severity.WARNING, "out_of_order_bar", str(exc))
            return False
        self.executor.record(BarClosed(trace_id="", ts_event=bar.ts, symbol=bar.symbol,
                                       open=bar.open, high=bar.high, low=bar.low,
                                       close=bar.close, volume=bar.volume))
        if new_session:
            for strategy, net in self._note_carried(bar.symbol):
                self.alert(bar.ts, Severity.CRITICAL, "position_carried",
                           f"{strategy}/{bar.symbol}: position {net:+d} carried into the "
                           "session; exited at this bar's close")
        if last is not None and not new_session and bar.ts - last > timedelta(
                minutes=STALE_BARS):
            self.alert(bar.ts, Severity.WARNING, "stale_feed",
                        f"{bar.symbol}: {bar.ts - last} since the previous bar")
        return True

    def alert(self, ts: datetime, severity: Severity, code: str, message: str) -> None:
        if (ts, code, message) in self._journaled_alerts:
            return  # raised before the restart, on the bar being re-processed
        self.executor.record(AlertRaised(trace_id="", ts_event=ts, severity=severity,
                                         code=code, message=message))
        self.summary.alerts.append(f"{code}: {message}")

    def _session_ends(self, history: SymbolHistory, d: Deployed, ts: datetime) -> bool:
        nxt = ts + d.rules.bar
        if history.session_day(nxt) != history.session_day(ts):
            return True
        close = get_venue(d.venue).close
        return close is not None and pd.Timestamp(nxt).tz_convert(d.rules.tz).time() >= close

    # -- kill switch and guardrails -------------------------------------------------------

    def _note_kill(self, event: KillSwitchChanged) -> None:
        self.kill_actor[event.scope] = (event.actor, event.reason)
        command = self.kill_gate.note(event.scope, event.mode is KillMode.OFF, event.reason)
        if command is not None:
            self.last_kill_command = max(self.last_kill_command, command)

    def switch(self, bar: FeedBar, scope: str, mode: str, actor: str, reason: str, *,
               flatten_leg: int = LEG_FLATTEN) -> None:
        current = self.state.kill_switches.get(scope, KillMode.OFF)
        wanted = KillMode(mode)
        if wanted is not KillMode.OFF and KILL_SEVERITY[current] >= KILL_SEVERITY[wanted]:
            return  # already at least this strict
        event = KillSwitchChanged(trace_id="", ts_event=bar.ts, scope=scope, mode=wanted,
                                  actor=actor, reason=reason)
        self.executor.record(event)
        self._note_kill(event)
        if wanted is KillMode.HALT:  # nothing new may fill: pending entries are cancelled
            for order in list(self.state.working.values()):
                if order.status is OrderStatus.OPEN and scope in ("all", order.strategy) \
                        and order.trace_id in self.entry_traces and not order.protective:
                    self.cancel_order(order, bar, f"kill switch halt ({scope})")
        elif wanted is KillMode.FLATTEN:
            self._flatten(bar, flatten_leg)

    def _flatten(self, bar: FeedBar, leg: int = LEG_FLATTEN) -> None:
        """For every strategy under a flatten switch: cancel its working entries in this
        bar's symbol and close its position there (its protective orders are withdrawn by
        the exit). Run at every bar of every symbol until flat,
        so a denied or unfilled exit is tried again and each symbol is flattened on its own
        bar (exits flow); between bars ``bar`` is a quote (:meth:`_quote`) and ``leg`` is
        keyed by the kill command."""
        for d in self.deployed:
            if bar.symbol not in d.symbols or \
                    kill_mode_for(self.state, d.strategy) is not KillMode.FLATTEN:
                continue
            for order in list(self.state.working.values()):  # working entries; exits stay
                if order.status is OrderStatus.OPEN and order.strategy == d.strategy and \
                        order.symbol == bar.symbol and order.trace_id in self.entry_traces \
                        and not order.protective:
                    self.cancel_order(order, bar, "kill switch flatten")
            net = self.net(d.strategy, bar.symbol)
            if net:
                reason = "flatten" if leg == LEG_FLATTEN else f"flatten (K{leg - LEG_KILL})"
                self._act(d, bar, leg, Decision("exit", -1 if net > 0 else 1, reason),
                          abs(net), None)

    def between_bars(self, ts: datetime) -> None:
        """The feed is waiting for the next bar (market time ``ts``): poll the desk's kill
        commands and act on them now. Before any bar there is nothing to act on (the first
        bar polls); a marker older than the latest bar is the past (a replay resuming after
        a restart) and is skipped."""
        latest = self._latest_symbol()
        last = None if latest is None else self.history[latest].last_ts
        if self.kill_commands is None or last is None or ts < last:
            return
        commands = self.kill_commands(self.last_kill_command)
        if commands:
            self.apply_kill_commands(commands, ts)

    def apply_kill_commands(self, commands: Sequence[KillCommandLike],
                            at: FeedBar | datetime) -> None:
        """The one consumer of the desk's kill commands (what ``kill_commands(last_id)``
        returns, oldest first): each is journaled as ``KillSwitchChanged`` (reason
        ``K<id>: ...``, which also records it as applied) and acted on at once. ``at`` is the
        bar being processed, or - between bars - the market time: then every event is
        stamped with it, halt cancels working entries in every symbol, and flatten sends
        every position's exit at market, priced off its symbol's last close, under a trace
        of its own (leg ``LEG_KILL + id``, at ``at``). Protective orders keep working under
        halt. Restart-safe: a journaled command is never applied again, and an exit already
        intended counts as working, so the bar a restarted runner re-processes sends no
        second one."""
        for command in commands:
            bar = at if isinstance(at, FeedBar) else self._quote(self._latest_symbol(), at)
            apply, problem = self.kill_gate.admit(command)  # signatures, replays, order
            if problem is not None:
                self.alert(bar.ts, Severity.CRITICAL, KILL_COMMAND_ALERT,
                           f"K{command.id}: {problem}")
            if apply and command.mode == "off":
                self._record_off(bar, command.scope, command.actor,
                                 f"K{command.id}: {command.reason}{nonce_note(command.nonce)}")
            elif apply:
                leg = LEG_FLATTEN if isinstance(at, FeedBar) else LEG_KILL + command.id
                self.switch(bar, command.scope, command.mode, command.actor,
                            f"K{command.id}: {command.reason}", flatten_leg=leg)
                if command.mode == "flatten" and not isinstance(at, FeedBar):
                    for symbol in sorted(self.history):  # every symbol now, not at its bar
                        if len(self.history[symbol]):
                            self._flatten(self._quote(symbol, at), leg)
            self.last_kill_command = max(self.last_kill_command, command.id)

    def _latest_symbol(self) -> str | None:
        """The symbol of the most recent bar (None before any)."""
        stamped = [(h.last_ts, s) for s, h in self.history.items() if h.last_ts is not None]
        return max(stamped)[1] if stamped else None

    def _quote(self, symbol: str | None, ts: datetime) -> FeedBar:
        """Between bars: ``symbol``'s last known price as a bar at ``ts`` (the reference of
        an order sent now; never journaled as a bar)."""
        if symbol is None:
            raise NoBarYetError(f"no bar seen yet: nothing to price an action at {ts} on")
        close = self.history[symbol].last_close()
        return FeedBar(symbol, ts, close, close, close, close, 0.0)

    def _controls(self, bar: FeedBar, history: SymbolHistory) -> None:
        """Kill commands from the desk, session lockouts lifted, guardrail triggers."""
        if self.kill_commands is not None:
            self.apply_kill_commands(self.kill_commands(self.last_kill_command), bar)
        self._flatten(bar)
        if self.guardrails is None:
            return
        closes = {s: h.last_close() for s, h in self.history.items() if len(h)}
        move = history.last_move_pct()
        moves = {} if move is None else {bar.symbol: move}
        for action in self.guardrails.on_bar(self.state, closes, moves):
            self._guard(bar, action)

    def _session_start(self, bar: FeedBar, history: SymbolHistory) -> None:
        """A new session's first bar, before anything fills on it (where the journal's fold
        starts the day too): today's P&L starts here, yesterday's session lockouts lift."""
        if self.guardrails is None:
            return
        day = history.session_day(bar.ts)
        if day == self.guardrails.day:
            return
        self.guardrails.new_session(day, self.state)
        for scope, (actor, reason) in list(self.kill_actor.items()):
            if actor == "risk_engine" and reason.startswith(SESSION_LOCK) and \
                    self.state.kill_switches.get(scope) is not KillMode.OFF:
                self._record_off(bar, scope, "risk_engine", "session lockout expired")

    def _guard(self, bar: FeedBar, action: GuardAction) -> None:
        if action.kind == "kill":
            self.switch(bar, action.scope, action.mode, "risk_engine",
                        action.journaled_reason)
        else:
            self.alert(bar.ts, Severity.WARNING, action.mode, f"{action.scope}: "
                       f"{action.journaled_reason}")

    def _record_off(self, bar: FeedBar, scope: str, actor: str, reason: str) -> None:
        event = KillSwitchChanged(trace_id="", ts_event=bar.ts, scope=scope,
                                  mode=KillMode.OFF, actor=actor, reason=reason)
        self.executor.record(event)
        self._note_kill(event)

    def _on_close(self, bar: FeedBar, history: SymbolHistory) -> None:
        for d in self.deployed:
            if bar.symbol not in d.symbols:
                continue
            if self.protection.stopped_out(d, bar):
                continue  # a bar that stopped out ignores its signals (as the simulator)
            if self._exit_carried(d, bar, history):
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
            for decision in decisions:  # fixed legs: a restart between them keeps the keys
                leg = LEG_EXIT if decision.action == "exit" else LEG_ENTER
                if not self._act(d, bar, leg, decision, abs(net), day):
                    break  # a flip whose exit is not on its way sends no entry

    def _exit_carried(self, d: Deployed, bar: FeedBar, history: SymbolHistory) -> bool:
        """A position carried from an earlier session is closed at this close, whatever
        the signals say (no entry either); True when it was."""
        if (d.strategy, bar.symbol) not in self.carried:
            return False
        net = self.net(d.strategy, bar.symbol)
        if not net:
            self.carried.discard((d.strategy, bar.symbol))
            return False
        self._act(d, bar, LEG_EXIT, Decision("exit", -1 if net > 0 else 1, "carried"),
                  abs(net), history.session_day(bar.ts))
        return True

    def _act(self, d: Deployed, bar: FeedBar, leg: int, decision: Decision, held: int,
             day: object | None) -> bool:
        """Decide, check and send one order; True when it is intended (now or before)."""
        trace = new_trace_id(d.strategy, bar.symbol, bar.ts, leg)
        key = client_key(trace)
        if key in self.state.orders:
            return True  # decided and intended before a restart
        if decision.action == "exit":
            qty = held - self.working_qty(d.strategy, bar.symbol,
                                          Side.BUY if decision.side > 0 else Side.SELL)
            if qty <= 0:
                return True  # an exit for the whole position is already working
        else:
            qty = self._entry_qty(d)
        side = SignalSide.FLAT if decision.action == "exit" else (
            SignalSide.LONG if decision.side > 0 else SignalSide.SHORT)
        ts, version = bar.ts, str(d.version)
        if decision.action == "enter":
            self.entry_traces.add(trace)
        self.executor.record(SignalRaised(trace_id=trace, ts_event=ts, strategy=d.strategy,
                                          version=version, symbol=bar.symbol, side=side,
                                          reason=decision.reason))
        allowed, why = self._governance(d, bar, decision)
        self.executor.record(GovernanceDecided(trace_id=trace, ts_event=ts,
                                               strategy=d.strategy, version=version,
                                               allowed=allowed, reason=why))
        if not allowed:
            self.summary.denials += 1
            return False
        verdict = self.risk.check(OrderProposal(
            strategy=d.strategy, symbol=bar.symbol, side=decision.side, qty=qty,
            reference_price=bar.close, reduces_exposure=decision.action == "exit", ts=ts,
            lot_size=d.lot_size, exchange=self.exchange, reference_ts=ts,
            band_base_price=self.symbol_history(bar.symbol).prev_session_close), self.state)
        self.executor.record(RiskChecked(trace_id=trace, ts_event=ts, strategy=d.strategy,
                                         symbol=bar.symbol, passed=verdict.passed,
                                         check=verdict.check, reason=verdict.reason))
        self.risk_warning(bar, d, verdict, f"{decision.reason} exit")
        if verdict.disable_strategy:
            self.switch(bar, d.strategy, "halt", "risk_engine",
                         f"{verdict.check}: {verdict.reason} (re-enable: stratops kill rearm)")
        if not verdict.passed:
            self.summary.denials += 1
            if decision.action == "exit":
                self.alert(ts, Severity.ERROR, "exit_denied",
                           f"{d.strategy}/{bar.symbol}: {decision.reason} exit denied by "
                           f"{verdict.check}: {verdict.reason}")
            return False
        if decision.action == "exit" and not self.protection.withdraw(
                d.strategy, bar.symbol, bar, f"{decision.reason} exit"):
            return False  # the position may have changed: decided again at the next close
        self.executor.send(OrderIntended(
            trace_id=trace, ts_event=ts, client_key=key, strategy=d.strategy, version=version,
            symbol=bar.symbol, exchange=self.exchange,
            side=Side.BUY if decision.side > 0 else Side.SELL, qty=qty,
            order_type="MARKET", mode=self.mode))
        self.summary.intents += 1
        if decision.action == "enter" and day is not None:
            self.entries[(d.strategy, bar.symbol, day)] += 1
        return True

    def risk_warning(self, bar: FeedBar, d: Deployed, verdict: RiskDecision, what: str
                     ) -> None:
        """A risk-reducing order sent despite a price breach: journaled as an alert."""
        if verdict.passed and verdict.warning:
            self.alert(bar.ts, Severity.WARNING, "exit_price_breach",
                       f"{d.strategy}/{bar.symbol}: {what} sent despite {verdict.warning} "
                       "(risk-reducing orders are never held by a price check)")

    def working_qty(self, strategy: str, symbol: str, side: Side, *,
                    exits_only: bool = False) -> int:
        """Unfilled quantity of this strategy's working orders on ``symbol`` in ``side``,
        protective orders left out (and entries too with ``exits_only``)."""
        return sum(o.qty - o.filled_qty for o in self.state.working.values()
                   if o.strategy == strategy and o.symbol == symbol and o.side is side
                   and not o.protective
                   and not (exits_only and o.trace_id in self.entry_traces))

    def _entry_qty(self, d: Deployed) -> int:
        """The version's quantity, scaled down in a soft drawdown (whole lots, at least one)."""
        scale = self.guardrails.entry_scale(d.strategy) if self.guardrails else 1.0
        if scale >= 1.0:
            return d.rules.qty
        lots = max(1, int(d.rules.qty // d.lot_size * scale))
        return lots * d.lot_size

    def _governance(self, d: Deployed, bar: FeedBar, decision: Decision) -> tuple[bool, str]:
        """Kill switch and policy: exits always flow - a halt stops new risk, never a
        risk-reducing order; entries need no switch on and the policy's trading window."""
        kill = kill_mode_for(self.state, d.strategy)
        if decision.action == "exit" and kill is KillMode.HALT:
            return True, f"{self.mode} v{d.version}: exits flow under kill switch halt"
        if decision.action == "enter":
            if kill is not KillMode.OFF:
                return False, f"kill switch: {kill}"
            nxt = pd.Timestamp(bar.ts + d.rules.bar).tz_convert(d.rules.tz).time()
            if self.policy is not None and not self.policy.entry_allowed(  # type: ignore[attr-defined]
                    d.venue, nxt):
                return False, f"policy: {nxt} outside the trading window"
            if self.guardrails is not None and self.guardrails.in_lockout(nxt):
                return False, f"risk: {nxt} inside a lockout window"
        return True, f"{self.mode} v{d.version}"
