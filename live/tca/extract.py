"""Read the live journal into TCA tables: the public API the day close, the CLI, the canary
evidence and the attribution report call (one computation, never repeated elsewhere).

A parent is one decision: the orders of one trace on one side (a plain order, its
freeze-quantity slices ``slice_key(trace, i)``, an execution algo's children - named by
the journaled ``ParentOrderStarted``'s algo, its whole quantity the target, so a remainder
never sent is opportunity cost); a protective order (stop / target, ``after_trade`` set)
is a parent of its own, measured against its trigger or limit. Fills are counted once per
broker ``trade_id``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from live.broker import Side
from live.events import (
    BarClosed,
    InternalCrossed,
    InternalCrossStarted,
    Message,
    OrderFilled,
    OrderIntended,
    ParentOrderStarted,
    SignalRaised,
    TradeExited,
)
from live.journal import Journal
from live.tca.daily import DailyTca, PnlEntry, daily_tca
from live.tca.metrics import (
    Bar,
    BarPath,
    Child,
    ChildTca,
    Fill,
    Parent,
    ParentTca,
    child_tca,
    parent_tca,
)

ALGO_CHILD = re.compile(r"-c\d+$")
ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TcaTables:
    """The computed TCA of a journal span: per child order, per parent and per day."""

    day: date | None
    children: list[ChildTca] = field(default_factory=list)
    parents: list[ParentTca] = field(default_factory=list)
    days: list[DailyTca] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The tables as JSON-ready data (dates ISO, markout keys as strings)."""
        return {"day": None if self.day is None else self.day.isoformat(),
                "daily": [_plain(asdict(r)) for r in self.days],
                "parents": [_plain(asdict(r)) for r in self.parents],
                "children": [_plain(asdict(r)) for r in self.children]}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, float):
            value = value + 0.0  # no -0.0 in the report
        elif isinstance(value, dict):
            value = {str(k): v for k, v in value.items()}
        out[key] = value
    return out


@dataclass
class _Read:
    bars: dict[str, list[Bar]] = field(default_factory=lambda: defaultdict(list))
    signals: dict[str, datetime] = field(default_factory=dict)
    intents: list[OrderIntended] = field(default_factory=list)
    fills: dict[str, dict[str, Fill]] = field(default_factory=lambda: defaultdict(dict))
    exits: list[TradeExited] = field(default_factory=list)
    parents: dict[str, ParentOrderStarted] = field(default_factory=dict)  # algos', by trace
    # internal crosses (self_trade: net): not broker executions, so left out of TCA; the
    # part of a resting order crossed internally is withdrawn from the broker, and its
    # child is measured on what was left there
    crossing: dict[str, str] = field(default_factory=dict)  # cross id -> resting key
    crossed: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def take(self, m: Message) -> None:
        if isinstance(m, BarClosed):
            self.bars[m.symbol].append(Bar(m.ts_event, m.high, m.low, m.close, m.volume))
        elif isinstance(m, SignalRaised):
            self.signals.setdefault(m.trace_id, m.ts_event)
        elif isinstance(m, OrderIntended):
            self.intents.append(m)
        elif isinstance(m, OrderFilled):
            self.fills[m.client_key].setdefault(m.trade_id, Fill(m.ts_event, m.qty, m.price))
        elif isinstance(m, TradeExited):
            self.exits.append(m)
        elif isinstance(m, ParentOrderStarted):
            self.parents[m.trace_id] = m
        elif isinstance(m, InternalCrossStarted):
            self.crossing[m.cross_id] = m.resting_key
        elif isinstance(m, InternalCrossed) and m.cross_id in self.crossing:
            self.crossed[self.crossing.pop(m.cross_id)] += m.crossed_qty


def _messages(journal: Journal, from_seq: int, to_seq: int | None) -> Iterator[Message]:
    for seq, m in journal.read(from_seq):
        if to_seq is not None and seq > to_seq:
            return
        yield m


def _bar_length(bars: list[Bar]) -> timedelta:
    gaps = [b.ts - a.ts for a, b in itertools.pairwise(bars) if b.ts > a.ts]
    return min(gaps) if gaps else ONE_MINUTE


def _algo(intents: list[OrderIntended]) -> str:
    if any(ALGO_CHILD.search(i.client_key) for i in intents):
        return "algo"
    if any(i.slice_count > 1 for i in intents):
        return "sliced"
    return intents[0].order_type.value.lower()


def _algo_name(started: ParentOrderStarted) -> str:
    """The execution algo's name (``twap``, ``vwap``, ...) from its journaled spec."""
    try:
        name = json.loads(started.algo).get("name")
    except (ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and name else "algo"


def _child(i: OrderIntended, parent_id: str, algo: str, fills: Iterable[Fill],
           crossed: int = 0) -> Child:
    reference = None
    if i.protective:
        reference = i.trigger_price if i.trigger_price is not None else i.limit_price
    return Child(client_key=i.client_key, parent_id=parent_id, trace_id=i.trace_id,
                 strategy=i.strategy, version=i.version, symbol=i.symbol,
                 side=1 if i.side is Side.BUY else -1, qty=i.qty - crossed, ts=i.ts_event,
                 algo=algo,
                 reference_price=reference,
                 order_type=i.order_type.value,
                 fills=tuple(sorted(fills, key=lambda f: f.ts)))


def _parents(read: _Read, intents: list[OrderIntended]) -> list[Parent]:
    groups: dict[str, list[OrderIntended]] = defaultdict(list)
    for i in intents:
        groups[i.client_key if i.protective else f"{i.trace_id}/{i.side.value}"].append(i)
    parents = []
    for parent_id, members in groups.items():
        members.sort(key=lambda i: (i.ts_event, i.slice_index, i.client_key))
        first = members[0]
        started = None if first.protective else read.parents.get(first.trace_id)
        if started is not None and started.side is not first.side:
            started = None  # an exit on the algo's trace is its own parent
        algo = "protective" if first.protective else \
            _algo(members) if started is None else _algo_name(started)
        crossed = {i.client_key: read.crossed.get(i.client_key, 0) for i in members}
        children = tuple(_child(i, parent_id, algo, read.fills.get(i.client_key, {}).values(),
                                crossed[i.client_key])
                         for i in members if i.qty > crossed[i.client_key])
        if not children:
            continue  # all of it crossed internally: nothing executed at the broker
        signal = read.signals.get(first.trace_id)
        opened = first.ts_event if started is None else min(started.ts_event, first.ts_event)
        decided = signal if signal is not None and signal <= opened else opened
        target = max(sum(i.qty for i in members),
                     max((i.parent_qty or 0) for i in members),
                     0 if started is None else started.qty) - \
            sum(crossed.values())  # an algo's unsent remainder too; not what was crossed
        if first.protective:
            # a resting stop / target is a decision to trade only once it fills: one never
            # triggered (or cancelled by its OCO twin) has no execution and no opportunity cost
            target = sum(c.filled_qty for c in children)
            if not target:
                continue
        parents.append(Parent(parent_id=parent_id, trace_id=first.trace_id,
                              strategy=first.strategy, version=first.version,
                              symbol=first.symbol, side=children[0].side, algo=algo,
                              decision_ts=first.ts_event if first.protective else decided,
                              target_qty=target, children=children))
    return sorted(parents, key=lambda p: (p.decision_ts, p.parent_id))


def tca_tables(journal: Journal, day: date | None = None, *, from_seq: int = 1,
               to_seq: int | None = None, strategy: str | None = None,
               version: str | None = None) -> TcaTables:
    """TCA of the orders intended on ``day`` (None: every day) in journal seqs
    ``from_seq..to_seq``, optionally of one strategy (and version)."""
    read = _Read()
    for m in _messages(journal, from_seq, to_seq):
        read.take(m)
    intents = [i for i in read.intents
               if (day is None or i.ts_event.date() == day)
               and (strategy is None or i.strategy == strategy)
               and (version is None or i.version == version)]
    paths = {s: BarPath(bars, _bar_length(bars)) for s, bars in read.bars.items()}
    empty = BarPath(())
    children: list[ChildTca] = []
    parents: list[ParentTca] = []
    for parent in _parents(read, intents):
        path = paths.get(parent.symbol, empty)
        rows = [child_tca(c, path) for c in parent.children]
        children += rows
        parents.append(parent_tca(parent, path, rows))
    versions = {i.trace_id: i.version for i in intents}
    pnl = [PnlEntry(e.ts_event.date(), e.strategy, versions[e.trace_id], e.pnl_inr)
           for e in read.exits if e.trace_id in versions
           and (day is None or e.ts_event.date() == day)]
    return TcaTables(day, children, parents, daily_tca(parents, children, pnl))
