"""Everything the runner's journal fold (:mod:`~live.runner.recovery`) rebuilds besides the
:class:`~live.state.LiveState`, as plain data: the part of a schema-3 state snapshot
(:mod:`live.snapshots`) that lets a restart read the snapshot plus the journal's tail
instead of folding the whole journal.

What it holds: each symbol's bar history, the executor's intents, the risk engine's memory
(message rate, duplicate window), the guardrails' session, the protection's entry and
protective fills, the traces that open positions, entry counts per session, the kill
switches' actors and the kill gate (newest kill per scope, approvals used), the last desk
command seen, the alerts journaled (their dedup keys), the modes started, positions
carried over a session, rejected exits to retry and the last folded bar's symbol.

A snapshot's runner part is used only under the configuration it was folded with
(:func:`fold_fingerprint`: the deployed versions, the history depth, the exchange, the
risk engine and the guardrails); another configuration folds the whole journal. Nothing in
it is executed: :func:`restore_fold_memory` reads data into the runner's own objects.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import orjson

from live.canonical import sha256_hex
from live.journal import Journal
from live.risk.guardrails import Guardrails
from live.runner.deployments import Deployed
from live.runner.execution import Executor
from live.runner.history import SymbolHistory
from live.runner.intent_book import IntentBook
from live.runner.protection import EntryFill, Protection
from live.snapshots import SnapshotInputError, SnapshotStore
from live.state import LiveState

MEMORY_VERSION = 1


class FoldedRunner(Protocol):
    """What this module reads and restores of a runner (:class:`~live.runner.recovery.
    Recovery`; a protocol, so the runner's rooms and this module import no cycle)."""

    journal: Journal
    state: LiveState
    journal_position: tuple[int, str]
    risk: Any
    guardrails: Guardrails | None
    deployed: list[Deployed]
    max_sessions: int
    exchange: str
    history: dict[str, SymbolHistory]
    executor: Executor
    protection: Protection
    entry_traces: set[str]
    entries: dict[tuple[str, str, object], int]
    kill_actor: dict[str, tuple[str, str]]
    kill_gate: Any  # controls.KillGate: newest_kill, used_approvals
    last_kill_command: int
    _journaled_alerts: set[tuple[datetime, str, str]]
    started: dict[str, str]
    carried: set[tuple[str, str]]
    retry_exits: set[tuple[str, str]]
    _folded_symbol: str | None

    def new_history(self, symbol: str) -> SymbolHistory: ...

    def health_memory(self) -> dict[str, Any]: ...

    def restore_health(self, memory: dict[str, Any] | None) -> None: ...

    def fold_journal(self, upto: int | None = None) -> int: ...

    def restore_snapshot(self, store: SnapshotStore) -> list[str]: ...


def fold_fingerprint(runner: FoldedRunner) -> str | None:
    """SHA-256 of what the fold's result depends on besides the journal (None: the risk
    engine keeps a memory this module cannot take, so the runner is never snapshotted)."""
    if not callable(getattr(runner.risk, "memory", None)):
        return None
    engine = runner.risk
    guard = runner.guardrails
    config = {
        "deployed": [[d.strategy, d.version, d.snapshot_digest, sorted(d.symbols), d.venue,
                      None if d.rules.cutoff is None else d.rules.cutoff.isoformat()]
                     for d in runner.deployed],
        "max_sessions": runner.max_sessions, "exchange": runner.exchange,
        "risk": [type(engine).__module__, type(engine).__qualname__,
                 repr(getattr(engine, "limits", None))],
        "guardrails": None if guard is None else [repr(guard.limits), sorted(
            guard.capital.items()), sorted((k, repr(v)) for k, v in guard.costs.items())],
    }
    return sha256_hex(orjson.dumps(config, option=orjson.OPT_SORT_KEYS))


def fold_memory(runner: FoldedRunner) -> dict[str, Any]:
    """The runner's fold-derived state (besides ``runner.state``) as plain data.

    Raises
    ------
    SnapshotInputError
        The risk engine has no ``memory()`` to take.
    """
    memory = getattr(runner.risk, "memory", None)
    if not callable(memory):
        raise SnapshotInputError(f"risk engine {type(runner.risk).__name__} keeps no memory a "
                              "snapshot can take")
    gate = runner.kill_gate
    return {
        "version": MEMORY_VERSION,
        "history": {s: h.memory() for s, h in runner.history.items()},
        "intents": runner.executor.intents.records(),
        "risk": memory(),
        "guardrails": None if runner.guardrails is None else runner.guardrails.memory(),
        "entry_fill": [[s, sym, f.trace_id, f.trade_id, f.ts.isoformat()]
                       for (s, sym), f in runner.protection.entry_fill.items()],
        "fill_ts": [[s, sym, ts.isoformat()] for (s, sym), ts in
                    runner.protection.fill_ts.items()],
        "entry_traces": sorted(runner.entry_traces),
        "entries": [[s, sym, _day(day), n] for (s, sym, day), n in runner.entries.items()],
        "kill_actor": {scope: list(who) for scope, who in runner.kill_actor.items()},
        "newest_kill": gate.newest_kill, "used_approvals": sorted(gate.used_approvals),
        "last_kill_command": runner.last_kill_command,
        "alerts": sorted([ts.isoformat(), code, text]
                         for ts, code, text in runner._journaled_alerts),
        "started": runner.started,
        "carried": sorted(list(p) for p in runner.carried),
        "retry_exits": sorted(list(p) for p in runner.retry_exits),
        "folded_symbol": runner._folded_symbol,
        "health": runner.health_memory(),
    }


def restore_fold_memory(runner: FoldedRunner, memory: dict[str, Any]) -> None:
    """Put :func:`fold_memory`'s data back into a freshly built ``runner`` (its state is
    restored by the caller), in place: the objects other rooms hold stay the same. Every
    part is read before anything is changed, so bad data leaves the runner as it was.

    Raises
    ------
    ValueError, KeyError, TypeError
        The data does not have the shape this version writes.
    """
    if memory.get("version") != MEMORY_VERSION:
        raise ValueError(f"fold memory version {memory.get('version')!r}, this code reads "
                         f"{MEMORY_VERSION}")
    histories = {}
    for symbol, data in memory["history"].items():
        history = runner.new_history(symbol)
        history.restore(data)
        histories[symbol] = history
    intents = IntentBook()  # records, decoded when one is asked for
    intents.restore(memory["intents"])
    guard = runner.guardrails
    if guard is not None:  # read into a scratch copy first: a bad shape raises here
        Guardrails(guard.limits, guard.capital, costs=guard.costs).restore(memory["guardrails"])
    entry_fill = {(s, sym): EntryFill(trace, trade, datetime.fromisoformat(ts))
                  for s, sym, trace, trade, ts in memory["entry_fill"]}
    fill_ts = {(s, sym): datetime.fromisoformat(ts) for s, sym, ts in memory["fill_ts"]}
    entries: dict[tuple[str, str, object], int] = {
        (s, sym, date.fromisoformat(day)): int(n) for s, sym, day, n in memory["entries"]}
    kill_actor = {scope: (str(a), str(r)) for scope, (a, r) in memory["kill_actor"].items()}
    alerts = {(datetime.fromisoformat(ts), code, text) for ts, code, text in memory["alerts"]}
    newest_kill = {str(k): int(v) for k, v in memory["newest_kill"].items()}
    pairs = {name: {(s, sym) for s, sym in memory[name]} for name in ("carried", "retry_exits")}
    last_kill, folded_symbol = int(memory["last_kill_command"]), memory["folded_symbol"]
    health = memory.get("health")  # absent: a snapshot written before the health monitor
    runner.risk.restore_memory(memory["risk"])  # all or nothing
    # nothing below can fail: the parts read above are put in place
    if guard is not None:
        guard.restore(memory["guardrails"])
    runner.history.update(histories)
    runner.executor.intents.restore(intents.records())
    runner.protection.entry_fill.update(entry_fill)
    runner.protection.fill_ts.update(fill_ts)
    runner.entry_traces.update(memory["entry_traces"])  # the set the protection holds
    runner.entries.clear()
    runner.entries.update(entries)
    runner.kill_actor.update(kill_actor)
    runner.kill_gate.newest_kill.update(newest_kill)
    runner.kill_gate.used_approvals.update(memory["used_approvals"])
    runner.last_kill_command = last_kill
    runner._journaled_alerts.update(alerts)
    runner.started.update(memory["started"])
    runner.carried.update(pairs["carried"])
    runner.retry_exits.update(pairs["retry_exits"])
    runner._folded_symbol = folded_symbol
    runner.restore_health(health)


def fold_digest(runner: FoldedRunner) -> str:
    """SHA-256 of everything the fold rebuilt - the state and :func:`fold_memory`, in a
    canonical form: a restart from a snapshot plus the tail must equal a full fold on it
    (the test and ``benchmarks/snapshot_restart.py`` compare it)."""
    from live.state import state_hash

    memory = fold_memory(runner)
    return sha256_hex(orjson.dumps({"state": state_hash(runner.state), "runner": memory,
                                    "position": list(runner.journal_position)},
                                   option=orjson.OPT_SORT_KEYS))


def _day(day: object) -> str:
    if not isinstance(day, date):
        raise TypeError(f"an entry count's session day {day!r} is not a date")
    return day.isoformat()
