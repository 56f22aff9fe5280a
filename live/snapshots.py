"""State snapshots: the folded :class:`~live.state.LiveState` at a journal position, so a
rebuild reads the latest snapshot plus the journal's tail instead of folding everything.

A snapshot is a row of the ``state_snapshots`` table beside the journal (same engine:
SQLite or PostgreSQL; one transaction writes it and drops all but the newest ``keep``). It
names the journal position it stands for - ``seq`` and that entry's chain ``entry_hash`` -
its format's ``schema_version`` and the SHA-256 ``content_hash`` of its body (compact JSON
via orjson: data only, nothing in it is ever executed). :func:`load_latest` trusts a
snapshot only when all three hold: the body hashes to ``content_hash``, the journal's entry
at ``seq`` has ``entry_hash``, and the version is this code's; anything else is *rejected*
(the reason returned, for the caller to alert ``snapshot_rejected``) and an older snapshot,
or a full fold, is used instead. :func:`restore_state` folds the tail from ``seq + 1`` with
every chain check of :meth:`~live.journal.Journal.read_checked`, starting from the
snapshot's ``entry_hash``: the tail is checked; the prefix stands on the anchor (the signed
checkpoints of :mod:`live.checkpoints` still cover it in ``stratops journal verify``).

Schema 3 (this code's) holds, beside the state, the runner's *fold memory* - everything else
a runner rebuilds from its journal (:mod:`live.runner.fold_memory`) - and the fingerprint of
the configuration it was folded under; :func:`load_runner_snapshot` gives a restarting runner
the newest one made under its own configuration. Schema 2 (the state alone) is still read by
:func:`load_latest` (replay); a runner passes it over and folds the whole journal.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

from live.broker import OrderType, Side
from live.canonical import sha256_hex
from live.events import (
    BarClosed,
    EventDecodeError,
    InternalCrossStarted,
    KillMode,
    Message,
    ParentOrderFinished,
    ParentOrderStarted,
    ReconciliationCompleted,
    TradingMode,
    from_record,
    to_record,
)
from live.journal import Journal
from live.order_flow import FlowCount
from live.state import (
    CrossRecord,
    LiveState,
    OrderRecord,
    OrderStatus,
    Position,
    StrategyStats,
)
from strategies.errors import StratopsError

_M = TypeVar("_M", bound=Message)

# 2: the execution algos' parent orders; 3: the runner's fold memory and the state's order
# flow (OTR counts)
SCHEMA_VERSION = 3
READABLE_VERSIONS = frozenset({2, 3})  # a schema-2 body is a bare state: replay reads it
DEFAULT_KEEP = 3
SNAPSHOT_REJECTED = "snapshot_rejected"  # the alert code a rejected snapshot is journaled as

_META = sa.MetaData()
SNAPSHOTS = sa.Table(
    "state_snapshots", _META,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("entry_hash", sa.Text, nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
)

_ORDER_FIELDS = tuple(f.name for f in fields(OrderRecord))
_SIDE_AT, _STATUS_AT, _TYPE_AT, _EXPIRY_AT = (
    _ORDER_FIELDS.index(n) for n in ("side", "status", "order_type", "expiry"))
_SIDES = {m.value: m for m in Side}  # value -> member: a dict look-up, not Enum.__call__
_STATUSES = {m.value: m for m in OrderStatus}
_TYPES = {m.value: m for m in OrderType}
_DONE = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})
_STATS_FIELDS = tuple(f.name for f in fields(StrategyStats))


class SnapshotInputError(StratopsError, ValueError):
    """A snapshot that cannot be written: the state is not at the position it is given."""


class SnapshotDecodeError(StratopsError, ValueError):
    """A snapshot body whose hash matched but whose content does not decode (a writer bug)."""


@dataclass(frozen=True, slots=True)
class Restored:
    """A rebuilt state: ``snapshot_seq`` is the snapshot it started from (None: a full
    fold), ``tail_events`` the journal entries folded on top, ``rejected`` why snapshots
    were not trusted (each one alert)."""

    state: LiveState
    snapshot_seq: int | None
    tail_events: int
    rejected: list[str] = field(default_factory=list)


class SnapshotStore:
    """The ``state_snapshots`` table on ``engine`` (the journal's), keeping the newest
    ``keep`` rows."""

    def __init__(self, engine: sa.Engine, *, keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise SnapshotInputError(f"snapshots keep={keep!r}: must be >= 1")
        self.engine, self.keep = engine, keep

    def create(self) -> None:
        """Create the table (idempotent)."""
        _META.create_all(self.engine)

    def exists(self) -> bool:
        """Whether the table exists (readers never create it)."""
        return sa.inspect(self.engine).has_table(SNAPSHOTS.name)

    def put(self, seq: int, entry_hash: str, body: bytes, *,
            schema_version: int = SCHEMA_VERSION) -> None:
        """Store one snapshot (replacing one at the same seq) and drop all but the newest
        ``keep``, in one transaction."""
        row = {"seq": seq, "entry_hash": entry_hash, "schema_version": schema_version,
               "content_hash": sha256_hex(body), "body": body}
        with self.engine.begin() as conn:
            conn.execute(SNAPSHOTS.delete().where(SNAPSHOTS.c.seq == seq))
            conn.execute(SNAPSHOTS.insert(), [row])
            kept = sa.select(SNAPSHOTS.c.seq).order_by(SNAPSHOTS.c.seq.desc()).limit(self.keep)
            conn.execute(SNAPSHOTS.delete().where(SNAPSHOTS.c.seq.not_in(kept.scalar_subquery())))

    def newest_first(self) -> Iterator[sa.Row[Any]]:
        """The stored snapshots, newest first (one row in memory at a time)."""
        with self.engine.connect() as conn:
            seqs = conn.execute(sa.select(SNAPSHOTS.c.seq).order_by(SNAPSHOTS.c.seq.desc())
                                ).scalars().all()
        for seq in seqs:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(SNAPSHOTS).where(SNAPSHOTS.c.seq == seq)).first()
            if row is not None:
                yield row


def snapshot_store(journal: Journal, *, keep: int = DEFAULT_KEEP) -> SnapshotStore:
    """The snapshot table beside ``journal`` (same engine)."""
    return SnapshotStore(journal.engine, keep=keep)


# --- encoding -----------------------------------------------------------------------------

def encode_state(state: LiveState) -> bytes:
    """The compact JSON body of ``state`` alone (schema 2's body: rows of values in
    dataclass field order)."""
    return orjson.dumps(_state_payload(state))


def encode_snapshot(state: LiveState, runner: dict[str, Any] | None = None,
                    fingerprint: str | None = None) -> bytes:
    """A schema-3 body: ``state`` and, when given, the runner's fold memory
    (:mod:`live.runner.fold_memory`) with the fingerprint of the configuration it was
    folded under."""
    return orjson.dumps({"state": _state_payload(state), "runner": runner,
                         "fingerprint": fingerprint})


def _state_payload(state: LiveState) -> dict[str, Any]:
    return {
        "positions": [[s, sym, p.net_qty, p.avg_price, p.realised_pnl_inr, p.tradingsymbol,
                       _iso(p.expiry)] for (s, sym), p in state.positions.items()],
        "orders": [[_iso(getattr(o, name)) if name == "expiry" else getattr(o, name)
                    for name in _ORDER_FIELDS] for o in state.orders.values()],
        "trade_ids": sorted(state.trade_ids),
        "stats": {n: [getattr(s, f) for f in _STATS_FIELDS] for n, s in state.stats.items()},
        "modes": {n: str(m) for n, m in state.modes.items()},
        "kill_switches": {n: str(m) for n, m in state.kill_switches.items()},
        "last_bars": {s: to_record(b) for s, b in state.last_bars.items()},
        "prior_bars": {s: to_record(b) for s, b in state.prior_bars.items()},
        "last_reconciliation": None if state.last_reconciliation is None
        else to_record(state.last_reconciliation),
        "discrepancies": state.discrepancies,
        "events_applied": state.events_applied,
        "parents": {t: to_record(p) for t, p in state.parents.items()},
        "parent_outcomes": {t: to_record(p) for t, p in state.parent_outcomes.items()},
        "order_flow": [[s, sym, day.isoformat(), c.orders, c.modifications,
                        c.cancellations, c.trades]
                       for (s, sym, day), c in state.order_flow.items()],
        # internal crosses (self_trade: net); absent from snapshots written before them
        **({"crosses": [[to_record(c.started), c.crossed_qty, c.trade_id]
                        for c in state.crosses.values()]} if state.crosses else {}),
    }


def decode_state(body: bytes) -> LiveState:
    """The :class:`LiveState` an :func:`encode_state` or :func:`encode_snapshot` body
    stands for.

    Raises
    ------
    SnapshotDecodeError
        The body does not have the shape this version writes.
    """
    return decode_snapshot(body)[0]


def decode_snapshot(body: bytes) -> tuple[LiveState, dict[str, Any] | None, str | None]:
    """``(state, runner fold memory or None, its configuration fingerprint or None)`` of a
    schema-2 or schema-3 body (the memory stays data: its reader is the runner's).

    Raises
    ------
    SnapshotDecodeError
        The body does not have the shape this version writes.
    """
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of small objects and no cycles: skip the scans
    try:
        payload = orjson.loads(body)
        if "state" not in payload:  # schema 2: the state alone
            return _decode(payload), None, None
        return _decode(payload["state"]), payload["runner"], payload["fingerprint"]
    except (orjson.JSONDecodeError, EventDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SnapshotDecodeError(f"snapshot body does not decode: "
                                  f"{type(exc).__name__}: {exc}") from None
    finally:
        if collecting:
            gc.enable()


def _decode(payload: dict[str, Any]) -> LiveState:
    state = LiveState()
    for s, sym, net, avg, pnl, tsym, expiry in payload["positions"]:
        state.positions[(s, sym)] = Position(net, avg, pnl, tsym, _day(expiry))
    orders, working = state.orders, state.working
    for row in payload["orders"]:
        if len(row) != len(_ORDER_FIELDS):
            raise ValueError(f"an order row has {len(row)} values, not {len(_ORDER_FIELDS)}")
        row[_SIDE_AT], row[_STATUS_AT] = _SIDES[row[_SIDE_AT]], _STATUSES[row[_STATUS_AT]]
        row[_TYPE_AT] = _TYPES[row[_TYPE_AT]]
        if row[_EXPIRY_AT] is not None:
            row[_EXPIRY_AT] = date.fromisoformat(row[_EXPIRY_AT])
        order = OrderRecord(*row)  # the row is in field order (encode_state)
        orders[order.client_key] = order
        if order.status not in _DONE:
            working[order.client_key] = order  # the fold's index, in intent order
    state.trade_ids = set(payload["trade_ids"])
    state.stats = {n: StrategyStats(*v) for n, v in payload["stats"].items()}
    state.modes = {n: TradingMode(m) for n, m in payload["modes"].items()}
    state.kill_switches = {n: KillMode(m) for n, m in payload["kill_switches"].items()}
    state.last_bars = {s: _bar(r) for s, r in payload["last_bars"].items()}
    state.prior_bars = {s: _bar(r) for s, r in payload["prior_bars"].items()}
    reco = payload["last_reconciliation"]
    if reco is not None:
        message = from_record(reco)
        if not isinstance(message, ReconciliationCompleted):
            raise ValueError(f"last_reconciliation is a {type(message).__name__}")
        state.last_reconciliation = message
    state.discrepancies = list(payload["discrepancies"])
    state.events_applied = int(payload["events_applied"])
    state.parents = {t: _typed(r, ParentOrderStarted) for t, r in payload["parents"].items()}
    state.parent_outcomes = {t: _typed(r, ParentOrderFinished)
                             for t, r in payload["parent_outcomes"].items()}
    state.order_flow = {(s, sym, date.fromisoformat(day)): FlowCount(*counts)
                        for s, sym, day, *counts in payload["order_flow"]}
    for started, crossed_qty, trade_id in payload.get("crosses", ()):
        record = CrossRecord(_typed(started, InternalCrossStarted), crossed_qty, trade_id)
        state.crosses[record.started.cross_id] = record
    return state


def _typed(record: dict[str, Any], kind: type[_M]) -> _M:
    message = from_record(record)
    if not isinstance(message, kind):
        raise ValueError(f"a {kind.__name__} row is a {type(message).__name__}")
    return message


def _bar(record: dict[str, Any]) -> BarClosed:
    message = from_record(record)
    if not isinstance(message, BarClosed):
        raise ValueError(f"a last bar is a {type(message).__name__}")
    return message


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


# --- writing and loading ------------------------------------------------------------------

def write_snapshot(state: LiveState, seq: int, entry_hash: str, store: SnapshotStore, *,
                   runner: dict[str, Any] | None = None, fingerprint: str | None = None) -> int:
    """Store ``state`` (and ``runner``, the runner's fold memory under configuration
    ``fingerprint``) as the fold of journal entries 1..``seq`` (``entry_hash``: the chain
    hash of entry ``seq``); returns the body's size in bytes.

    Raises
    ------
    SnapshotInputError
        ``state`` has not folded exactly ``seq`` entries (it is not that position's state).
    """
    if state.events_applied != seq or seq < 1:
        raise SnapshotInputError(f"state folded {state.events_applied} events but the snapshot "
                                 f"would stand for journal seq {seq}: not written")
    body = encode_snapshot(state, runner, fingerprint)
    store.create()
    store.put(seq, entry_hash, body)
    return len(body)


def load_latest(store: SnapshotStore, journal: Journal
                ) -> tuple[tuple[LiveState, int, str] | None, list[str]]:
    """The newest trustworthy snapshot as ``(state, seq, entry_hash)`` (None: none), and why
    each newer one was rejected (wrong content hash, no journal entry at its seq or another
    hash there, another schema version, a body that does not decode)."""
    rejected: list[str] = []
    if not store.exists():
        return None, rejected
    for row in store.newest_first():
        why = _problem(row, journal)
        if why is None:
            try:
                state = decode_state(row.body)
            except SnapshotDecodeError as exc:
                why = str(exc)
            else:
                if state.events_applied == row.seq:
                    return (state, row.seq, row.entry_hash), rejected
                why = f"it folded {state.events_applied} events, not {row.seq}"
        rejected.append(f"snapshot at seq {row.seq} rejected: {why}")
    return None, rejected


@dataclass(frozen=True, slots=True)
class RunnerSnapshot:
    """A trusted snapshot a runner can restart from: its state, its fold memory and the
    journal position (``seq``, ``entry_hash``) both stand for."""

    state: LiveState
    memory: dict[str, Any]
    seq: int
    entry_hash: str


def load_runner_snapshot(store: SnapshotStore, journal: Journal, fingerprint: str
                         ) -> tuple[RunnerSnapshot | None, list[str]]:
    """The newest snapshot a runner under configuration ``fingerprint`` can restart from
    (None: none) and why each newer one was passed over: the checks of
    :func:`load_latest`, plus a schema-2 snapshot (no runner memory), one written without
    the runner's memory, or under another configuration (deployed versions, history depth,
    risk engine, guardrails)."""
    rejected: list[str] = []
    if not store.exists():
        return None, rejected
    for row in store.newest_first():
        why = _problem(row, journal)
        if why is None and row.schema_version < SCHEMA_VERSION:
            why = f"schema {row.schema_version} holds no runner memory (a full fold instead)"
        if why is None:
            try:
                state, memory, made_under = decode_snapshot(row.body)
            except SnapshotDecodeError as exc:
                why = str(exc)
            else:
                why = _runner_problem(state, memory, made_under, row.seq, fingerprint)
                if why is None and memory is not None:
                    return RunnerSnapshot(state, memory, row.seq, row.entry_hash), rejected
        rejected.append(f"snapshot at seq {row.seq} rejected: {why}")
    return None, rejected


def _runner_problem(state: LiveState, memory: dict[str, Any] | None, made_under: str | None,
                    seq: int, fingerprint: str) -> str | None:
    if memory is None:
        return "it holds no runner memory (written without a follower fold)"
    if made_under != fingerprint:
        return ("it was folded under another runner configuration (deployed versions, "
                "history depth, risk engine or guardrails changed)")
    if state.events_applied != seq:
        return f"it folded {state.events_applied} events, not {seq}"
    return None


def _problem(row: sa.Row[Any], journal: Journal) -> str | None:
    if row.schema_version not in READABLE_VERSIONS:
        return (f"schema version {row.schema_version}, this code reads "
                f"{sorted(READABLE_VERSIONS)}")
    if sha256_hex(row.body) != row.content_hash:
        return "content hash mismatch (the body was altered or damaged)"
    stored = dict(journal.hashes(row.seq, row.seq))
    if row.seq not in stored:
        return f"the journal has no entry at seq {row.seq}"
    if stored[row.seq] != row.entry_hash:
        return (f"journal entry {row.seq} has hash {stored[row.seq][:12]}..., the snapshot "
                f"names {row.entry_hash[:12]}...")
    return None


def restore_state(journal: Journal, store: SnapshotStore | None) -> Restored:
    """The journal's state: the latest trusted snapshot plus the checked tail, or a full
    checked fold when there is none (``rejected`` says why snapshots were passed over).

    Raises
    ------
    JournalCorruptError
        A tail (or, on a full fold, any) entry breaks the chain or does not decode.
    """
    loaded, rejected = (None, []) if store is None else load_latest(store, journal)
    state, seq, prev = (LiveState(), 0, None) if loaded is None else loaded
    collecting = gc.isenabled()
    gc.disable()  # millions of small objects and no cycles: skip the collector's scans
    try:
        tail = 0
        rows = journal.read_checked() if prev is None else \
            journal.read_checked(from_seq=seq + 1, prev_hash=prev)
        for _, message in rows:
            state.apply(message)
            tail += 1
    finally:
        if collecting:
            gc.enable()
    return Restored(state, None if loaded is None else seq, tail, rejected)


__all__ = ["SNAPSHOT_REJECTED", "Restored", "RunnerSnapshot", "SnapshotDecodeError",
           "SnapshotInputError", "SnapshotStore", "decode_snapshot", "decode_state",
           "encode_snapshot", "encode_state", "load_latest", "load_runner_snapshot",
           "restore_state", "snapshot_store", "write_snapshot"]
