"""The runner's bar loop: bar -> market -> fills -> protection -> controls -> signals ->
decisions -> governance -> risk -> journaled intent -> broker, and the feed boundary.

A bar that is not sound (:func:`~live.runner.feed.bar_problem`: NaN or non-positive prices,
high below low, a time outside the venue's sessions), a second bar of a symbol at one time
and an empty feed are refused with a journaled alert - a refused bar never becomes a
``BarClosed``, so a restart does not trip over it; protective orders keep resting at the
broker. A position that must be flat (past the cutoff, carried from an earlier session,
under a flatten switch) and has no exit working raises a critical ``exit_overdue`` alert at
every bar and its exit is tried again. Between bars (the feed's :class:`Idle` markers) the
controls poll the desk's kill commands and pushed order updates are drained. While the
broker's session is dead (:mod:`~live.runner.broker_session`) bars are journaled and nothing
else happens: no order of any kind is sent blind. A live feed's :class:`FeedAlert` is
journaled as an alert, its :class:`FeedHold` holds (or lifts) new entries in a symbol, and a
catch-up :class:`WarmBar` is admitted and journaled like any bar but only warms the history:
no market, fills, signals or orders on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from live.broker import Side
from live.events import BarClosed, KillMode, Severity, new_trace_id
from live.runner.core import RunSummary
from live.runner.decisions import Decision, decide
from live.runner.deployments import Deployed
from live.runner.feed import (
    FeedAlert,
    FeedBar,
    FeedHold,
    FeedItem,
    Idle,
    WarmBar,
    bar_problem,
)
from live.runner.history import OutOfOrderBarError, SymbolHistory
from live.runner.local_time import to_local
from live.runner.pipeline import LEG_ENTER, LEG_EXIT
from live.runner.remote_signal_room import (
    SIGNAL_MISMATCH_ALERT,
    SIGNAL_MISSING_ALERT,
    SIGNALS_MISSING,
    SIGNALS_WARMING,
    RemoteSignalRoom,
    SignalSource,
    kernel_signals,
)
from live.runner.snapshotting import SNAPSHOT_WRITER_FAILED
from strategies.ensemble import EnsemblePolicy

STALE_BARS = 5  # a gap of more than this many bars inside a session is a stale feed

__all__ = ["SIGNALS_MISSING", "SIGNALS_WARMING", "SIGNAL_MISMATCH_ALERT",
           "SIGNAL_MISSING_ALERT", "BarLoop", "SignalSource"]


class BarLoop(RemoteSignalRoom):
    """The loop room: admits each bar, runs it through the other rooms in order."""

    market: Callable[[FeedBar], object] | None  # the paper exchange's view of each bar
    carried: set[tuple[str, str]]
    entries: dict[tuple[str, str, object], int]
    _reprocessed: set[str]  # symbols whose journaled last bar came again
    ensemble: EnsemblePolicy | None  # the symbol's ensemble (None: each trades alone)

    def run(self, bars: Iterable[FeedItem], *, pause: Callable[[], None] | None = None
            ) -> RunSummary:
        """Process the feed: each bar through the whole path; each :class:`Idle` marker
        (waiting for the next bar) polls the kill commands (:meth:`between_bars`); a live
        feed's alerts, holds and warm-up bars as the module says (:meth:`_feed_note`)."""
        fed = 0
        for bar in bars:
            self.raise_anomalies()  # found on the item before (live: <= an idle slice ago)
            if self.observer is not None:  # the heartbeat: beats only while this loop turns
                self.observer.tick(bar=isinstance(bar, FeedBar))
            processed = False
            if not isinstance(bar, FeedBar):
                fed += self._feed_note(bar)
            else:
                fed += 1
                processed = self._bar(bar)
            self.bus.durable()  # the item's deferred events committed before the feed moves on
            if pause is not None and processed:
                pause()
        self.raise_anomalies()
        if not fed:
            self.alert(self.clock(), Severity.WARNING, "empty_feed",
                       "the feed yielded no bars for the requested range: nothing was "
                       "traded or checked")
        self.journal_findings()
        if self.snapshots is not None:  # session end: the state at the sealed head
            try:
                self.snapshots.take(self.state, self.journal)
            except Exception as exc:  # a snapshot only shortens a restart: the session ends
                self.alert(self.clock(), Severity.WARNING, SNAPSHOT_WRITER_FAILED,
                           f"the session-end snapshot was not written ({type(exc).__name__}: "
                           f"{exc}); the previous one stays trusted")
            self.snapshot_failures()
        self.journal.seal()  # session end: a signed checkpoint (if the journal has a signer)
        return self.summary

    def _bar(self, bar: FeedBar) -> bool:
        """One bar through the whole path (its events committed by the caller after it);
        False when it stopped early (refused, or a dead broker session)."""
        history = self.symbol_history(bar.symbol)
        if not self._admit(bar, history):
            return False
        if self.broker_held(bar.ts):  # a dead broker session: journaled, nothing sent
            self.summary.bars += 1
            return False
        self._session_start(bar, history)
        self.drift_check(bar, history)  # a new session: the last ones' drift
        if self.market is not None:
            self.market(bar)
        self.pushed_updates(bar.ts)
        self.poll_fills(bar)
        self._protect(bar)
        self.health_check(bar)  # trades closed since the last bar: a breach holds now
        self._controls(bar, history)
        sent = self.summary.intents
        self.work_parents(bar)  # the execution algos' children due at this bar
        self._on_close(bar, history)
        if self.summary.intents > sent:  # a broker filling at once: protect right away
            self.poll_fills(bar)
            self._protect(bar)
        self._exits_overdue(bar, history)
        self.health_check(bar)  # trades this bar closed (a broker filling at once)
        self.remediate(bar.ts)  # the playbooks' answers to this bar's alerts
        self.journal_findings()  # the abuse detectors' findings of this bar
        self.summary.bars += 1
        self.bus.durable()  # before a snapshot reads the journal's head
        if self.snapshots is not None:  # every N journal entries (live.snapshots.*)
            self.snapshots.after_bar(self.state, self.journal)
            self.snapshot_failures()
        self.raise_anomalies()
        return True

    def snapshot_failures(self) -> None:
        """Journal each failed background snapshot (a writer process killed mid-write, a
        write that raised) as a ``snapshot_writer_failed`` warning; trading goes on."""
        if self.snapshots is None:
            return
        for why in self.snapshots.take_failures():
            self.alert(self.clock(), Severity.WARNING, SNAPSHOT_WRITER_FAILED, why)

    def _feed_note(self, item: Idle | FeedAlert | FeedHold | WarmBar) -> int:
        """An item of the feed that is not a live bar; 1 when it was a (warm-up) bar."""
        if isinstance(item, Idle):
            self.pushed_updates(item.ts)
            if not self.broker_held(item.ts):
                self.between_bars(item.ts)
            self.anomaly.tick(item.ts)  # time-based detectors (a stuck order) between bars
        elif isinstance(item, FeedAlert):
            self.alert(item.ts, item.severity, item.code, item.message)
        elif isinstance(item, FeedHold):
            self._hold(item)
        else:
            history = self.symbol_history(item.bar.symbol)
            if self._admit(item.bar, history, warm=True):  # journaled: a restart folds it back
                self._session_start(item.bar, history)
                self.summary.warm_bars += 1
            return 1
        return 0

    def _hold(self, item: FeedHold) -> None:
        """Hold (or lift) new entries in a symbol; journaled once per change."""
        before = self.feed_holds.get(item.symbol)
        if item.held and before is None:
            self.feed_holds[item.symbol] = item.reason
            self.alert(item.ts, Severity.WARNING, "entries_held",
                       f"{item.symbol}: new entries held: {item.reason}; exits flow")
        elif not item.held and before is not None:
            del self.feed_holds[item.symbol]
            self.alert(item.ts, Severity.INFO, "entries_resumed",
                       f"{item.symbol}: entries resume: {item.reason} (held for: {before})")

    def _admit(self, bar: FeedBar, history: SymbolHistory, warm: bool = False) -> bool:
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
        return self._accept(bar, history, last, warm)

    def _refuse(self, bar: FeedBar, problem: str) -> None:
        """Journal why ``bar`` is refused, with everything it carried; nothing else moves
        (resting protective orders keep working at the broker)."""
        aware = bar.ts.tzinfo is not None and bar.ts.utcoffset() is not None
        self.alert(bar.ts if aware else self.clock(), Severity.ERROR, "bad_bar",
                   f"{bar.symbol} bar at {bar.ts.isoformat()} refused: {problem} (open "
                   f"{bar.open!r} high {bar.high!r} low {bar.low!r} close {bar.close!r} "
                   f"volume {bar.volume!r}); not journaled as a bar, not traded on")

    def _accept(self, bar: FeedBar, history: SymbolHistory, last: datetime | None,
                warm: bool = False) -> bool:
        try:
            new_session = history.append(bar)
        except OutOfOrderBarError as exc:
            self.alert(bar.ts, Severity.WARNING, "out_of_order_bar", str(exc))
            return False
        self.executor.record(BarClosed(trace_id="", ts_event=bar.ts, symbol=bar.symbol,
                                       open=bar.open, high=bar.high, low=bar.low,
                                       close=bar.close, volume=bar.volume, warm=warm))
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

    def _on_close(self, bar: FeedBar, history: SymbolHistory) -> None:
        """Each deployed strategy's decisions at ``bar``; the entries several of them want
        on the symbol are resolved by the ensemble (:meth:`resolve_entries`) before any
        order is sent, then each strategy acts in turn."""
        mine = [d for d in self.deployed if bar.symbol in d.symbols]
        if not self.resolves(mine):  # each strategy alone: decides and acts in turn
            for d in mine:
                self._act_all(bar, self._decide(d, bar, history))
            return
        decided = [self._decide(d, bar, history) for d in mine]
        self.resolve_entries(bar, [(one[0], dec.side) for one in decided if one is not None
                                   for dec in one[1] if dec.action == "enter"
                                   and self.signal_hold(one[0], bar) is None])
        for one in decided:
            self._act_all(bar, one)

    def _act_all(self, bar: FeedBar,
                 decided: tuple[Deployed, list[Decision], int, object] | None) -> None:
        if decided is None:
            return
        d, decisions, net, day = decided
        for decision in decisions:  # fixed legs: a restart between them keeps the keys
            leg = LEG_EXIT if decision.action == "exit" else LEG_ENTER
            if not self._act(d, bar, leg, decision, abs(net), day):
                break  # a flip whose exit is not on its way sends no entry

    def _decide(self, d: Deployed, bar: FeedBar, history: SymbolHistory
                ) -> tuple[Deployed, list[Decision], int, object] | None:
        """What ``d``'s signals decide at this close (after its carried exits, retries and
        stop-outs, which act at once); None: nothing to decide."""
        if self.working_entries(d, bar.symbol):
            flat_why = self._must_be_flat(d, bar, history)
            if flat_why is not None:  # a partly filled entry: only its filled part stays
                self.cancel_entry_remainders(d, bar, f"must be flat: {flat_why}")
        if self.recovered_last.get(bar.symbol) == bar.ts:  # re-processed after a restart
            for leg in (LEG_EXIT, LEG_ENTER):  # which may have come between slices
                self.resume_slices(d, bar, new_trace_id(d.strategy, bar.symbol, bar.ts,
                                                        leg))
        self.retry_exit(d, bar, history)
        if self.protection.stopped_out(d, bar):
            return None  # a bar that stopped out ignores its signals (as the simulator)
        if self._exit_carried(d, bar, history):
            return None
        read = self._signals(d, bar, history)
        if read is None:
            return None  # still warming up
        le, lx, se, sx = read
        pos = self.state.positions.get((d.strategy, bar.symbol))
        net = pos.net_qty if pos is not None else 0
        day = history.session_day(bar.ts)
        decisions = decide(
            pos=(net > 0) - (net < 0), signals=(le, lx, se, sx),
            ts=bar.ts, session_ends=self._session_ends(history, d, bar.ts),
            trades_today=self.entries[(d.strategy, bar.symbol, day)], rules=d.rules_for(bar.symbol))
        return d, decisions, net, day

    def _signals(self, d: Deployed, bar: FeedBar, history: SymbolHistory
                 ) -> tuple[bool, bool, bool, bool] | None:
        """``d``'s signals at this bar (None: still warming up): from its kernel here, or
        from the signal source, cross-checked and, when missing, computed here with new
        entries held (:mod:`~live.runner.remote_signal_room`)."""
        if self.signal_source is None:
            return kernel_signals(d, history)
        return self.remote_signals(d, bar, history)

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

    def _must_be_flat(self, d: Deployed, bar: FeedBar, history: SymbolHistory) -> str | None:
        """Why ``d``'s position in ``bar.symbol`` must be closed now (None: it may stay)."""
        if self.kill_mode(d) is KillMode.FLATTEN:
            return "a flatten kill switch is on"
        if d.rules.cutoff is None:
            return None
        if (d.strategy, bar.symbol) in self.carried:
            return "it was carried from an earlier session"
        nxt = to_local(bar.ts + d.rules.bar, d.rules.tz).time()
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
