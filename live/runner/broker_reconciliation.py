"""Startup reconciliation: the journal against the broker's reports, before any strategy
starts. Orders first (settle every in-doubt intent by status query), then fills (journal
the ones the broker has and the journal lacks, by trade id), then positions (per symbol, or
per contract for a broker that reports contracts: the journal's sum must equal the
broker's). Anything unresolved - including a report that could not be fetched; a missing
report never means flat - keeps the runner halted with an alert."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from live.broker import BrokerUnavailableError
from live.events import AlertRaised, ReconciliationCompleted, Severity
from live.runner.execution import Executor
from live.state import LiveState


def reports_contracts(broker: object) -> bool:
    """True for a broker that reports positions by contract (Kite: by tradingsymbol); the
    paper exchange reports by the feed's symbol (the underlying)."""
    return bool(getattr(broker, "reports_contracts", False))


def journal_positions(state: LiveState, *, by_contract: bool) -> dict[str, int]:
    """The journal's net quantity per broker-reported name: per contract (tradingsymbol)
    for a broker that reports contracts, per feed symbol otherwise, so the two sides are
    compared like with like. A position without a contract stays under its symbol, which
    such a broker never reports: it shows as a break, never as flat."""
    ours: dict[str, int] = defaultdict(int)
    for (_strategy, symbol), pos in state.positions.items():
        key = pos.tradingsymbol if by_contract and pos.tradingsymbol is not None else symbol
        ours[key] += pos.net_qty
    return ours


def reconcile(executor: Executor, ts: datetime,
              latest_bars: dict[str, datetime] | None = None) -> ReconciliationCompleted:
    """Run the three passes; journal and return the outcome (``clean`` or the issues).
    ``latest_bars``: each symbol's last journaled bar (an unsent intent of that bar is sent)."""
    issues = executor.settle_in_doubt(ts, latest_bars)
    try:
        executor.poll(ts)
        broker_positions = {p.symbol: p.net_qty for p in executor.broker.positions()}
    except BrokerUnavailableError as exc:
        issues.append(f"broker reports unavailable: {exc}")
        broker_positions = None
    if broker_positions is not None:
        ours = journal_positions(executor.state, by_contract=reports_contracts(executor.broker))
        for symbol in sorted(set(ours) | set(broker_positions)):
            if ours.get(symbol, 0) != broker_positions.get(symbol, 0):
                issues.append(f"position {symbol}: journal {ours.get(symbol, 0)} != broker "
                              f"{broker_positions.get(symbol, 0)}")
    issues += [f"journal discrepancy: {d}" for d in executor.state.discrepancies]
    outcome = ReconciliationCompleted(trace_id="", ts_event=ts, clean=not issues,
                                      issues=tuple(issues))
    executor.record(outcome)
    if issues:
        executor.record(AlertRaised(trace_id="", ts_event=ts, severity=Severity.CRITICAL,
                                    code="reconciliation_failed",
                                    message="; ".join(issues)[:2000]))
    return outcome
