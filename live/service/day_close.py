"""A session's end: the positions that must be flat, confirmed against the broker (the
startup reconciliation's passes, journaled as ``ReconciliationCompleted``, never sending a
late order), and the day's report files."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from live.broker import BrokerUnavailableError
from live.runner.broker_reconciliation import reconcile
from live.runner.runner import Runner
from strategies.files import atomic_write


@dataclass(frozen=True, slots=True)
class DayClose:
    """The journal's and the broker's positions per symbol after the session, whether every
    position under a cutoff policy is flat, and the broker reconciliation's verdict."""

    flat: bool
    clean: bool
    issues: tuple[str, ...]
    journal_positions: dict[str, int]
    broker_positions: dict[str, int] | None  # None: the broker's report was unavailable
    open_under_cutoff: tuple[str, ...]  # "strategy/symbol net" still open that must be flat

    @property
    def confirmed(self) -> bool:
        return self.flat and self.clean


def open_positions(runner: Runner, *, cutoff_only: bool) -> list[str]:
    """``strategy/symbol +net`` of every open position (only those whose version has a
    cutoff, i.e. must be flat at the session end, with ``cutoff_only``)."""
    cut = {d.strategy for d in runner.deployed if d.rules.cutoff is not None}
    return [f"{strategy}/{symbol} {pos.net_qty:+d}"
            for (strategy, symbol), pos in sorted(runner.state.positions.items())
            if pos.net_qty and (strategy in cut or not cutoff_only)]


def close_day(runner: Runner, ts: datetime) -> DayClose:
    """Journal the broker reconciliation (fills polled, in-doubt orders settled by status
    query and never sent late, positions compared) and say whether the day ended flat."""
    outcome = reconcile(runner.executor, ts, None)
    ours: dict[str, int] = defaultdict(int)
    for (_strategy, symbol), pos in runner.state.positions.items():
        ours[symbol] += pos.net_qty
    try:
        theirs: dict[str, int] | None = {p.symbol: p.net_qty for p in
                                         runner.broker.positions()}
    except BrokerUnavailableError:
        theirs = None
    still_open = open_positions(runner, cutoff_only=True)
    return DayClose(flat=not still_open, clean=outcome.clean, issues=outcome.issues,
                    journal_positions=dict(sorted(ours.items())), broker_positions=theirs,
                    open_under_cutoff=tuple(still_open))


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """``data`` as indented JSON at ``path`` (atomic; folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def broker_report(close: DayClose) -> dict[str, Any]:
    """The broker reconciliation as the day report's ``broker.json``."""
    return {**asdict(close), "confirmed": close.confirmed}
