"""The day's backtest reconciliation (what ``stratops live reconcile`` writes), for the
versions the journal traded: per strategy and symbol, the journal's trades of that session
against the simulator on the same bars, one JSON + HTML report each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from live.backtest_reconciliation import expectation_config, reconcile_journal, write_day_report
from live.events import OrderIntended
from live.journal import Journal
from live.service.ports import BacktestReports
from strategies.names import path_under, validate_name
from strategies.version_config import VersionConfig


def journal_versions(journal: Journal) -> dict[tuple[str, str], dict[str, int]]:
    """(strategy, version) -> symbol -> order quantity, for every version the journal
    intended for (each symbol its own: a several-symbol version's lots differ by symbol)."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for _, m in journal.read():
        if isinstance(m, OrderIntended):
            out.setdefault((m.strategy, m.version), {})[m.symbol] = m.qty
    return out


def write_backtest_day(journal: Journal, load_config: Callable[[str, str], VersionConfig],
                       folder: Path, day: date, *, max_sessions: int) -> BacktestReports:
    """Write ``day``'s reports under ``folder/<strategy>/``; ``load_config(name, version)``
    reads a version's config as data (the registry's ``load_config``)."""
    files: list[str] = []
    lines: list[str] = []
    breaks = 0
    for (name, version), qtys in sorted(journal_versions(journal).items()):
        config = load_config(name, version)
        for symbol in config.symbols:
            size = config.size_of(symbol)
            rules = expectation_config(config.sim, qtys.get(symbol) or
                                       config.sim.qty_lots * size.lot_size, size)
            reports = [r for r in reconcile_journal(
                journal, strategy=name, params=config.params_dict, venue=config.venue,
                symbol=symbol, sim=rules, max_sessions=max_sessions) if r.day == day.isoformat()]
            for report in reports:
                files += [str(p) for p in write_day_report(
                    report, path_under(folder, validate_name(name)))]
                breaks += len(report.breaks)
                lines.append(f"{name} v{version} {symbol}: {len(report.actual)} trades, "
                             f"{len(report.breaks)} breaks, {len(report.explained)} explained")
    return BacktestReports(tuple(files), breaks, tuple(lines))
