"""One trade's timeline from the journal: every entry of a trace id, in journal order, with
the latency from the previous step and from the first (``stratops trace show``), and the
trace that closed the position an entry opened (:func:`closing_trace`). The step
names are the spans' names too (:mod:`live.observability.tracing`): the trace view and the
spans say the same thing.

Two clocks per step: ``ts_event`` (exchange time of what happened: a signal at its bar, a
fill at the exchange's time) and ``ts_record`` (wall time the journal committed it): the
latencies of the runner's own path show in the second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from live.events import (
    GovernanceDecided,
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
    from_record,
)
from live.journal import JOURNAL, Journal
from strategies.errors import BadInputError

STEP_NAMES: dict[str, str] = {
    "SignalRaised": "signal", "GovernanceDecided": "governance", "RiskChecked": "risk",
    "ParentOrderStarted": "order.parent", "OrderIntended": "order.intent",
    "OrderSubmitted": "order.submit", "OrderAcknowledged": "order.ack",
    "OrderRetried": "order.retry", "OrderModified": "order.modify",
    "OrderCancelled": "order.cancel", "OrderRejected": "order.reject", "OrderFilled": "fill",
    "PositionChanged": "position", "TradeExited": "exit", "ParentOrderFinished": "order.done",
    "SubmitOrder": "command.submit", "CancelOrder": "command.cancel",
    "ModifyOrder": "command.modify", "CheckRisk": "command.risk",
}


class TraceNotFoundError(BadInputError, LookupError):
    """No journal entry carries the trace id asked for."""


@dataclass(frozen=True, slots=True)
class Step:
    """One journaled step of a trace."""

    seq: int
    name: str
    message: Message
    ts_record: datetime

    @property
    def ts_event(self) -> datetime:
        return self.message.ts_event


def step_name(message: Message) -> str:
    """The step a message is (``signal``, ``risk``, ``order.intent``, ``fill``, ``exit``...)."""
    return STEP_NAMES.get(message.KIND, message.KIND)


def step_detail(message: Message) -> str:
    """A short line saying what the step carried (side, qty, price, the check, ...)."""
    m = message
    if isinstance(m, SignalRaised):
        return f"{m.strategy} v{m.version} {m.symbol} {m.side.value} ({m.reason})"
    if isinstance(m, GovernanceDecided | RiskChecked):
        verdict = m.allowed if isinstance(m, GovernanceDecided) else m.passed
        check = "" if isinstance(m, GovernanceDecided) else f" {m.check}"
        why = "" if not isinstance(m, GovernanceDecided) else governance_provenance(m)
        return f"{'passed' if verdict else 'DENIED'}{check}: {m.reason}{why}"
    if isinstance(m, OrderIntended):
        price = "" if m.limit_price is None else f" @ {m.limit_price:g}"
        trigger = "" if m.trigger_price is None else f" trigger {m.trigger_price:g}"
        role = " protective" if m.protective else ""
        return (f"{m.client_key} {m.side.value} {m.qty} {m.symbol} "
                f"{m.order_type.value}{price}{trigger}{role}")
    if isinstance(m, OrderSubmitted):
        why = f": {m.reason}" if m.reason else ""
        return f"{m.client_key} {m.outcome.value}{why}"
    if isinstance(m, OrderRejected | OrderCancelled):
        return f"{m.client_key}: {m.reason}"
    if isinstance(m, OrderFilled):
        return f"{m.client_key} {m.side.value} {m.qty} @ {m.price:g} (trade {m.trade_id})"
    if isinstance(m, PositionChanged):
        return f"{m.strategy} {m.symbol} net {m.net_qty} realised {m.realised_pnl_inr:,.2f} INR"
    if isinstance(m, TradeExited):
        return f"{m.strategy} {m.symbol} {m.reason} P&L {m.pnl_inr:,.2f} INR"
    return ""


def governance_provenance(m: GovernanceDecided) -> str:
    """What a governed decision used (empty for an ungoverned version): its regime and
    probability, the regime features at the bar (``nan``: not known yet) and the drift and
    kill-switch state."""
    if m.regime is None:
        return ""
    p = "" if m.regime_probability is None else f" p {m.regime_probability:.3f}"
    features = ", ".join(f"{n} {'nan' if v is None else f'{v:.6g}'}"
                         for n, v in zip(m.features, m.feature_values, strict=True))
    drift = "" if m.drift is None else f"; drift {m.drift}"
    return f"; regime {m.regime}{p}; features {features or 'none'}{drift}"


def trace_steps(journal: Journal, trace_id: str) -> list[Step]:
    """Every journal entry of ``trace_id`` in seq order (the journal's trace index).

    Raises
    ------
    TraceNotFoundError
        No entry carries it.
    """
    query = (sa.select(JOURNAL.c.seq, JOURNAL.c.ts_record, JOURNAL.c.body)
             .where(JOURNAL.c.trace_id == trace_id).order_by(JOURNAL.c.seq))
    with journal.engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise TraceNotFoundError(f"trace {trace_id!r}: no journal entry carries it (a trace "
                                 "id starts with 'tr'; `stratops journal export` lists them)")
    steps = []
    for row in rows:
        message = from_record(json.loads(row.body))
        steps.append(Step(row.seq, step_name(message), message,
                          datetime.fromisoformat(row.ts_record)))
    return steps


def closing_trace(journal: Journal, steps: Sequence[Step]) -> str | None:
    """The trace that closed the position ``steps`` opened: a trace whose last fill comes
    after its last ``TradeExited`` (an entry; a flip: its exit leg, then its entry) is closed
    by the first ``TradeExited`` of its strategy and symbol journaled after that fill (one
    position per strategy and symbol: the runner's rule). None: no fill, closed on its own
    trace (a protective stop's fill is on its entry's trace), or still open."""
    fills = [s for s in steps if isinstance(s.message, OrderFilled)]
    exits = [s for s in steps if isinstance(s.message, TradeExited)]
    if not fills or (exits and exits[-1].seq > fills[-1].seq):
        return None
    intents = [s.message for s in steps if isinstance(s.message, OrderIntended)]
    if not intents:
        return None
    strategy, symbol = intents[0].strategy, intents[0].symbol
    query = (sa.select(JOURNAL.c.body)
             .where(JOURNAL.c.kind == TradeExited.KIND, JOURNAL.c.seq > fills[-1].seq)
             .order_by(JOURNAL.c.seq))
    with journal.engine.connect() as conn:
        for row in conn.execute(query):
            message = from_record(json.loads(row.body))
            if isinstance(message, TradeExited) and message.strategy == strategy and \
                    message.symbol == symbol:
                return message.trace_id
    return None


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """A step with its latencies (milliseconds) from the previous step and from the first,
    on both clocks."""

    step: Step
    event_since_prev_ms: float
    event_since_first_ms: float
    record_since_prev_ms: float
    record_since_first_ms: float
    detail: str


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1e3


def timeline(steps: Sequence[Step]) -> list[TimelineRow]:
    """``steps`` with the latencies between them."""
    rows = []
    for i, step in enumerate(steps):
        prev, first = steps[max(i - 1, 0)], steps[0]
        rows.append(TimelineRow(step, _ms(step.ts_event, prev.ts_event),
                                _ms(step.ts_event, first.ts_event),
                                _ms(step.ts_record, prev.ts_record),
                                _ms(step.ts_record, first.ts_record),
                                step_detail(step.message)))
    return rows
