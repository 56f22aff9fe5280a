"""Canary evidence for the canary -> live approval, read from the canary journal.

For a version, counting from the runner start that deployed it (its ``ModeChanged``):
sessions traded, closed trades, and open breaks - every shadow/live reconciliation break
over those days, plus any journal discrepancy - a size note when the canary's order size
was not below the live size (the minimum lot equals the live size: it ran at full size), and
the realised arrival slippage of its fills (:mod:`live.tca`) beside the version's research
assumption (``sim.slippage_ticks`` x ``sim.tick_size``) over the same fills. No
journal, or no canary run of this version, is no evidence (the approval is refused by
policy: fail closed). An ensemble version's evidence (``ensemble_<symbol>``) is its members'
trades against the ensemble's own simulation (:mod:`live.ensemble_canary`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from live.backtest_reconciliation import expectation_config, reconcile_journal
from live.canary_size import size_note
from live.ensemble_canary import registry_evidence
from live.events import ModeChanged, OrderIntended
from live.governance.policy import CanaryEvidence
from live.journal import Journal, journal_exists, open_journal
from live.state import replay
from live.tca.extract import tca_tables
from live.tca.metrics import slippage_vs_assumed_bps
from strategies.confidence import ConfidenceSizing
from strategies.ensemble_version import is_ensemble_name
from strategies.version_config import VersionConfig


def _span(journal: Journal, strategy: str, version: int) -> tuple[int, int | None] | None:
    """Journal seqs from the last start of ``version`` to the next start of another version
    of the strategy (None: to the end); None if the version never ran."""
    marker = f"v{version} "
    start, end = None, None
    for seq, m in journal.read():
        if isinstance(m, ModeChanged) and m.strategy == strategy:
            if marker in f"{m.reason} ":
                start, end = seq, None
            elif start is not None and end is None:
                end = seq - 1
    return None if start is None else (start, end)


def _qty(journal: Journal, strategy: str, symbol: str | None = None) -> int | None:
    for _, m in journal.read():
        if isinstance(m, OrderIntended) and m.strategy == strategy and \
                symbol in (None, m.symbol):
            return int(m.qty)
    return None


def evidence_for(journal: Journal, config: VersionConfig, version: int, *,
                 source: str, max_sessions: int = 5) -> CanaryEvidence | None:
    """Sessions, trades and open breaks of ``version`` in ``journal``."""
    strategy = config.strategy
    span = _span(journal, strategy, version)
    if span is None:
        return None
    live_qty = config.sim.qty_lots * config.sim.lot_size
    qty = _qty(journal, strategy) or live_qty
    breaks, trades, sessions = 0, 0, 0
    for symbol in config.symbols:
        size = config.size_of(symbol)  # each symbol's own lot: its own journaled quantity
        config_sim = expectation_config(config.sim, _qty(journal, strategy, symbol) or
                                        config.sim.qty_lots * size.lot_size, size)
        reports = reconcile_journal(journal, strategy=strategy, params=config.params_dict,
                                    venue=config.venue, symbol=symbol, sim=config_sim,
                                    max_sessions=max_sessions, from_seq=span[0],
                                    to_seq=span[1])
        sessions = max(sessions, len(reports))
        trades += sum(len(r.actual) for r in reports)
        breaks += sum(len(r.breaks) for r in reports)
    state = replay(journal)
    breaks += len(state.discrepancies)
    if state.last_reconciliation is not None and not state.last_reconciliation.clean:
        breaks += 1
    tables = tca_tables(journal, from_seq=span[0], to_seq=span[1], strategy=strategy,
                        version=str(version))
    realised, assumed = slippage_vs_assumed_bps(tables.children, config.sim.slippage_ticks,
                                                config.sim.tick_size)
    return CanaryEvidence(sessions=sessions, trades=trades, open_breaks=breaks,
                          source=source, size_note=size_note(qty, live_qty, config.sim.lot_size),
                          realised_slippage_bps=realised, assumed_slippage_bps=assumed)


def journal_evidence(journal_url: str, root: Path | None, registry: Any,
                     max_sessions: int = 5,
                     check: Callable[[Journal], str | None] | None = None,
                     sizing: Callable[[], ConfidenceSizing] | None = None,
                     ) -> Callable[[str, int], CanaryEvidence | None]:
    """An evidence source over the canary journal at ``journal_url``. ``check`` says why the
    journal cannot be believed (it contradicts its signed checkpoints): then the evidence is
    one open break naming that, so no live approval rests on a rewritten journal.
    ``sizing``: the desk's confidence sizing (policy.yaml ``signal_governance.confidence``),
    read when an ensemble's evidence is asked for (None: its defaults)."""
    def source(strategy: str, version: int) -> CanaryEvidence | None:
        if not journal_exists(journal_url, root):
            return None
        journal = open_journal(journal_url, root)
        problem = check(journal) if check is not None else None
        if problem is not None:
            return CanaryEvidence(sessions=0, trades=0, open_breaks=1,
                                  source=f"canary journal {journal_url} is not evidence: "
                                         f"{problem}")
        if is_ensemble_name(strategy):  # members against the ensemble's simulation
            return registry_evidence(journal, registry, strategy, version,
                                     source=f"canary journal {journal_url}",
                                     max_sessions=max_sessions,
                                     sizing=None if sizing is None else sizing())
        config = registry.load_config(strategy, version)  # as data; no artifact code runs
        return evidence_for(journal, config, version, source=f"canary journal {journal_url}",
                            max_sessions=max_sessions)

    return source
