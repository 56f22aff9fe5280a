"""Start = restart: the journal folded back into state, bar history, intents, entry counts,
kill switches and guardrail days (one pass that also checks the hash chain), then the broker
reconciled (:mod:`~live.runner.broker_reconciliation`); the runner halts unless both are clean.

With snapshots configured (``live.snapshots.*``) the fold starts from the newest trusted
schema-3 snapshot folded under this runner's configuration - its state and its fold memory
(:mod:`~live.runner.fold_memory`) - and folds only the journal's tail, with the chain
checked from the snapshot's anchor: the same result as a full fold (the unit tests compare a
digest of everything the fold rebuilds). A snapshot that fails a check (content hash,
journal entry at its seq, schema, configuration) is passed over, a full fold is done, and
each rejection is journaled as a ``snapshot_rejected`` warning.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import fields

from live.events import (
    AlertRaised,
    BarClosed,
    HealthObserved,
    InternalCrossed,
    KillSwitchChanged,
    Message,
    ModeChanged,
    OrderFilled,
    OrderIntended,
    OrderRejected,
    OrderSubmitted,
    ParentOrderStarted,
    PlaybookActed,
    Severity,
    SignalRaised,
    SignalSide,
    TradeExited,
)
from live.hashchain import GENESIS
from live.journal import JournalCorruptError
from live.orders.products import MIS
from live.orders.rules import OrderRules
from live.risk.handler import RiskAnswers
from live.runner.broker_reconciliation import reconcile
from live.runner.controls import KILL_COMMAND_ALERT, KillGate, command_of
from live.runner.core import RunnerCore
from live.runner.feed import FeedBar
from live.runner.fold_memory import fold_fingerprint, restore_fold_memory
from live.snapshots import SNAPSHOT_REJECTED, SnapshotStore, load_runner_snapshot
from live.state import LiveState
from strategies.errors import StratopsError


class RunnerHalted(StratopsError, RuntimeError):
    """The runner refuses to trade (unclean reconciliation, broken journal)."""


#: journal entries before a snapshot the detectors and playbooks re-learn at a restart from
#: it (a few sessions of four strategies: longer than their windows, up to an hour)
WARM_ENTRIES = 5_000


class Recovery(RunnerCore):
    """The startup room: journal fold and broker reconciliation."""

    started: dict[str, str]  # strategy -> reason of its last ModeChanged
    carried: set[tuple[str, str]]  # positions open at a session's start: exited at its close
    entries: dict[tuple[str, str, object], int]
    last_kill_command: int
    kill_gate: KillGate  # the rooms' attributes the fold rebuilds (Controls, BrokerRefusals)
    kill_actor: dict[str, tuple[str, str]]
    retry_exits: set[tuple[str, str]]
    _folded_symbol: str | None  # the symbol of the last journaled bar
    journal_position: tuple[int, str] = (0, GENESIS)  # (seq, hash) of the last row folded
    # False after a hot-standby takeover: an intent the deposed leader journaled and the
    # broker has no order for is closed stale, never sent by us - that leader may still be
    # frozen past its last check with the send in hand (live/lease.py), so at most one sends
    resend_unsent_intents: bool = True
    _note_kill: Callable[[KillSwitchChanged], None]
    _note_guard: Callable[[str], None]
    risk_handler: RiskAnswers
    order_rules: OrderRules

    _snapshots_rejected: list[str]  # why snapshots were passed over at this start

    resumed_at: int = 0  # the seq of the snapshot the fold started from (0: a full fold)

    def recover(self) -> None:
        """Fold the journal (from the newest trusted snapshot when there is one) into state
        and history, then reconcile with the broker; halt unless clean."""
        self.resume_from_snapshot()
        self.fold_journal()
        if self.snapshots is not None:  # a long fold is snapshotted at once, before trading
            self.snapshots.after_recovery(self, self.journal_position[0] - self.resumed_at,
                                          self.resumed_at)
        self.finish_recovery()

    def resume_from_snapshot(self) -> None:
        """Before the first fold (a start, or a hot standby starting to follow), with
        snapshots configured: start from the newest trusted one; the ones passed over are
        alerted by :meth:`finish_recovery`. Nothing once the fold has begun."""
        if self.snapshots is None or self.journal_position[0] or self.state.events_applied:
            return
        self._snapshots_rejected = self.restore_snapshot(self.snapshots.store)
        self.resumed_at = self.journal_position[0]

    def restore_snapshot(self, store: SnapshotStore) -> list[str]:
        """Before the first fold: take the newest trusted snapshot made under this runner's
        configuration (state, fold memory, journal position); returns why newer ones were
        passed over (nothing taken: the fold starts at the journal's first entry)."""
        if self.journal_position[0] or self.state.events_applied:
            raise RuntimeError("restore_snapshot must run before the journal is folded")
        fingerprint = fold_fingerprint(self)
        if fingerprint is None:
            return [f"risk engine {type(self.risk).__name__} keeps no memory a snapshot can "
                    "take: a full fold"]
        loaded, rejected = load_runner_snapshot(store, self.journal, fingerprint)
        if loaded is None:
            return rejected
        try:
            restore_fold_memory(self, loaded.memory)
        except (KeyError, TypeError, ValueError) as exc:  # a writer bug: full fold instead
            return [*rejected, f"snapshot at seq {loaded.seq} rejected: its runner memory "
                               f"does not decode: {type(exc).__name__}: {exc}"]
        for f in fields(LiveState):  # in place: the other rooms hold this object
            setattr(self.state, f.name, getattr(loaded.state, f.name))
        self.journal_position = (loaded.seq, loaded.entry_hash)
        self._warm_window(loaded.seq)
        return rejected

    def _warm_window(self, upto: int) -> None:
        """After a snapshot at ``upto``: the anomaly and abuse detectors and the playbooks'
        memory (rate limits, proposals, alerts waiting) are not in the snapshot; they learn
        the last :data:`WARM_ENTRIES` journal entries before it - longer than any of their
        windows on a normal day (README, State snapshots). The state is not touched."""
        start = max(self.journal.anchor()[0] + 1, upto - WARM_ENTRIES + 1)
        for seq, message in self.journal.read(start):
            if seq > upto:
                break
            self._warm_detectors(message)
            if isinstance(message, AlertRaised):
                self.queue_alert(message)
            elif isinstance(message, PlaybookActed):
                self.note_playbook(message)

    def fold_journal(self, upto: int | None = None) -> int:
        """Fold the journal rows after :attr:`journal_position` (all of them at a start; a
        hot standby and the snapshot follower call it again and again as the leader
        appends), up to seq ``upto`` (None: the head); returns how many."""
        collecting = gc.isenabled()
        gc.disable()  # millions of small objects and no cycles: skip the collector's scans
        folded, last = 0, self.journal_position[0]
        try:  # one pass: the chain is checked as the journal is folded
            for seq, message in self.journal.read_checked(self.journal_position[0] + 1,
                                                       self.journal_position[1]):
                if upto is not None and seq > upto:
                    break
                self._fold(message)
                folded, last = folded + 1, seq
        except JournalCorruptError as exc:
            raise RunnerHalted(f"journal broken at seq {exc.seq}: {exc.reason}") from None
        finally:
            if collecting:
                gc.enable()
        if folded:
            self.journal_position = next(self.journal.hashes(last, last))
        return folded

    def finish_recovery(self) -> None:
        """After the fold: the broker reconciled (in-doubt orders settled by status query)
        and the start journaled; halt unless clean."""
        latest = {s: h.last_ts for s, h in self.history.items() if h.last_ts is not None}
        if self.surveillance is not None:  # a finding a crash kept from the journal
            self.surveillance.rescan()
        self.recovered_last.clear()  # in place: the protection holds this dict
        self.recovered_last.update(latest)
        since = min(latest.values(), default=None)
        self._journaled_alerts = {a for a in self._journaled_alerts
                                  if since is not None and a[0] >= since}
        rejected = getattr(self, "_snapshots_rejected", [])
        if rejected:  # one alert naming each snapshot passed over and why
            self.alert(self.clock(), Severity.WARNING, SNAPSHOT_REJECTED,
                       "; ".join(rejected) + "; not trusted (the journal was folded without "
                       f"{'it' if len(rejected) == 1 else 'them'})")
        self._snapshots_rejected = []
        unsettled = self.settle_crosses(self.clock())  # a crash mid-cross: the book decides
        if unsettled:
            raise RunnerHalted("internal cross not settled: " + "; ".join(unsettled))
        outcome = reconcile(self.executor, self.clock(),
                            latest if self.resend_unsent_intents else {})
        if not outcome.clean:
            raise RunnerHalted("startup reconciliation is not clean: " + "; ".join(
                outcome.issues))
        for d in self.deployed:
            reason = f"runner started with v{d.version} ({d.snapshot_digest[:12]})"
            if d.ensemble is not None:  # the canary evidence of the ensemble starts here
                reason += f" under {d.ensemble.label}"
            if d.product == MIS:  # loaded only when our cutoff comes first (deployments)
                square_off = self.order_rules.square_off_for(
                    getattr(self.broker, "name", ""), self.exchange)
                reason += (f"; product MIS: our cutoff {d.rules.cutoff:%H:%M} flattens before "
                           f"the broker's MIS square-off at {square_off:%H:%M}")
            if self.state.modes.get(d.strategy) != self.mode or \
                    self.started.get(d.strategy) != reason:
                self.executor.record(ModeChanged(
                    trace_id="", ts_event=self.clock(), strategy=d.strategy, mode=self.mode,
                    reason=reason))

    def _fold(self, message: Message) -> None:
        """One journaled message into state, bar history, intents, entry counts, switches."""
        if isinstance(message, BarClosed) and self.guardrails is not None and \
                self._folded_symbol is not None:
            self._replay_guardrails()  # the previous bar's evaluation, before this bar
        self.state.apply(message)
        self._warm_detectors(message)
        if isinstance(message, BarClosed):
            self._fold_bar(message)
        elif isinstance(message, SignalRaised) and message.side is not SignalSide.FLAT:
            self.entry_traces.add(message.trace_id)
        elif isinstance(message, KillSwitchChanged):
            self._note_kill(message)
            self._note_guard(message.reason)
        elif isinstance(message, AlertRaised):
            self._note_alert(message)
        elif isinstance(message, OrderFilled | InternalCrossed):
            self._fold_fill(message)
        elif isinstance(message, ModeChanged):
            self.started[message.strategy] = message.reason
        elif isinstance(message, OrderSubmitted | OrderRejected):
            self.note_refusal(message)
        elif isinstance(message, PlaybookActed | TradeExited | HealthObserved):
            self._fold_room(message)
        elif isinstance(message, OrderIntended | ParentOrderStarted):
            self._fold_order(message)

    def _fold_fill(self, message: OrderFilled | InternalCrossed) -> None:
        """A fill, or an internal cross, as the protection and the guardrails learn it."""
        if isinstance(message, InternalCrossed):
            cross = self.state.crosses.get(message.cross_id)
            if cross is not None:
                self.protection.note_cross(cross, message.ts_event)
            return
        self.protection.note_fill(message)
        order = self.state.orders.get(message.client_key)
        if self.guardrails is not None and order is not None:
            self.guardrails.note_fill(order.strategy, message)
        self.note_fill_slippage(message)  # pending until the next HealthObserved

    def _fold_room(self, message: PlaybookActed | TradeExited | HealthObserved) -> None:
        """The playbooks' and the health monitor's memory of a journaled event."""
        if isinstance(message, PlaybookActed):
            self.note_playbook(message)
        elif isinstance(message, TradeExited):
            self.note_exit(message)
        else:
            self.note_health(message)

    def _warm_detectors(self, message: Message) -> None:
        """The anomaly and abuse detectors learn the journal: nothing raised again."""
        self.anomaly.warm(message)
        if self.surveillance is not None:
            self.surveillance.fold(message)

    def _fold_order(self, message: OrderIntended | ParentOrderStarted) -> None:
        """An intent (its risk memory, its entry count) or an algo's parent (one entry)."""
        if isinstance(message, ParentOrderStarted):
            self._count_entry(message)
        else:
            self.note_refusal(message)
            self.executor.intents[message.client_key] = message
            # direct, not a CheckRisk: the engine's memory is folded back from the journal
            # like the state (nothing is decided, nothing published; see RiskHandler.remember)
            self.risk_handler.remember(message, reduces_exposure=message.protective or
                                       message.trace_id not in self.entry_traces)
            if message.trace_id in self.entry_traces and not message.protective and \
                    message.slice_index == 0:  # one entry, however many slices
                self._count_entry(message)

    def _count_entry(self, message: OrderIntended | ParentOrderStarted) -> None:
        day = self.symbol_history(message.symbol).session_day(message.ts_event)
        self.entries[(message.strategy, message.symbol, day)] += 1

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

    def _note_alert(self, message: AlertRaised) -> None:
        self._journaled_alerts.add((message.ts_event, message.code, message.message))
        self.queue_alert(message)  # handled after the restart unless its steps are journaled
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
