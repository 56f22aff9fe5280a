"""The runner's controls, in one place: the kill switch (desk commands, risk-engine pulls,
flatten and halt) and the intraday guardrails (drawdown bands, loss and volatility triggers,
session lockouts). Everything that pulls, lifts or obeys a kill switch goes through
:class:`Controls` (``switch``, ``apply_kill_commands``, ``between_bars``); the desk side
of the channel (signed commands in the governance store, ``stratops kill`` / ``rearm``) is
:mod:`live.governance.kill`, and the effective mode of a strategy is the fold's
:func:`~live.state.kill_mode_for`.

Which desk commands a runner obeys (:class:`KillGate`): a kill (halt, reduce, flatten) is
always applied - one whose signature does not verify too, with an alert, because the safe
failure is toward halting. A re-arm (``off``) is applied only when its maker/checker
signatures verify, its approval was not used before (a copied command row replays the same
approval nonce) and its request had seen the newest kill of its scope (an approval cannot
lift a kill pulled after it was asked for). What the gate remembers is rebuilt from the
journal's ``KillSwitchChanged`` reasons, so a restart obeys the same rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from live.events import KILL_SEVERITY, KillMode, KillSwitchChanged, Severity
from live.risk.guardrails import SESSION_LOCK, GuardAction, fired_key
from live.runner.core import RunnerCore
from live.runner.decisions import Decision
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.runner.pipeline import LEG_FLATTEN, LEG_KILL
from live.state import OrderStatus
from strategies.errors import StratopsError

KILL_COMMAND_ALERT = "kill_command_refused"
_COMMAND = re.compile(r"K(\d+): ")
_NONCE = re.compile(r" \[approval ([0-9a-f]{32})\]$")


def command_of(text: str) -> int | None:
    """The command id a journaled reason or alert starts with (``K12: ...``)."""
    found = _COMMAND.match(text)
    return int(found.group(1)) if found else None


def nonce_note(nonce: str) -> str:
    """The suffix that records a re-arm's approval nonce in its journaled reason."""
    return f" [approval {nonce}]" if nonce else ""


@dataclass
class KillGate:
    """The newest desk kill applied per scope and the re-arm approvals already used."""

    newest_kill: dict[str, int] = field(default_factory=dict)
    used_approvals: set[str] = field(default_factory=set)

    def admit(self, command: Any) -> tuple[bool, str | None]:
        """(apply it?, the alert to raise or None)."""
        if command.mode != "off":
            if not command.verified:
                return True, (f"{command.mode} applied although its signature does not "
                              f"verify (fail closed): {command.problem}")
            return True, None
        if not command.verified:
            return False, f"re-arm of {command.scope} ignored: {command.problem}"
        if command.nonce in self.used_approvals:
            return False, (f"re-arm of {command.scope} ignored: its approval was already used "
                           "(a replayed command)")
        newest = self.newest_kill.get(command.scope, 0)
        if command.after_command < newest:
            return False, (f"re-arm of {command.scope} ignored: it was requested before kill "
                           f"K{newest}; request a new re-arm")
        return True, None

    def note(self, scope: str, off: bool, reason: str) -> int | None:
        """Remember a journaled switch change; the desk command id it came from, if any."""
        command = command_of(reason)
        if command is None:
            return None
        if off:
            nonce = _NONCE.search(reason)
            if nonce:
                self.used_approvals.add(nonce.group(1))
        else:
            self.newest_kill[scope] = max(self.newest_kill.get(scope, 0), command)
        return command


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


class NoBarYetError(StratopsError, RuntimeError):
    """An action between bars before any bar was seen (no last price to act on)."""


class Controls(RunnerCore):
    """The kill switch and guardrails room of the runner."""

    kill_commands: Callable[[int], Sequence[KillCommandLike]] | None  # desk commands after id
    last_kill_command: int
    kill_gate: KillGate
    kill_actor: dict[str, tuple[str, str]]  # scope -> (actor, reason) now

    def _note_kill(self, event: KillSwitchChanged) -> None:
        self.kill_actor[event.scope] = (event.actor, event.reason)
        command = self.kill_gate.note(event.scope, event.mode is KillMode.OFF, event.reason)
        if command is not None:
            self.last_kill_command = max(self.last_kill_command, command)

    def _note_guard(self, reason: str) -> None:
        key = fired_key(reason)
        if key is not None and self.guardrails is not None:
            self.guardrails.mark_fired(key)

    def switch(self, bar: FeedBar, scope: str, mode: str, actor: str, reason: str, *,
               flatten_leg: int = LEG_FLATTEN, trace: str = "") -> None:
        current = self.state.kill_switches.get(scope, KillMode.OFF)
        wanted = KillMode(mode)
        if wanted is not KillMode.OFF and KILL_SEVERITY[current] >= KILL_SEVERITY[wanted]:
            return  # already at least this strict
        event = KillSwitchChanged(trace_id=trace, ts_event=bar.ts, scope=scope, mode=wanted,
                                  actor=actor, reason=reason)
        self.executor.record(event)
        self._note_kill(event)
        if wanted is KillMode.HALT:  # nothing new may fill: pending entries are cancelled
            for order in list(self.state.working.values()):
                if order.status is OrderStatus.OPEN and self.kill_covers(scope, order.strategy) \
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
                    self.kill_mode(d) is not KillMode.FLATTEN:
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
        self.remediate(ts)  # the playbooks' answers to alerts raised since the last bar

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
        self.remediate(bar.ts)  # playbooks: before this bar's entries
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
