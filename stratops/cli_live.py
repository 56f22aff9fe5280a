"""``stratops live run`` and ``stratops journal verify|replay|export``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from stratops.cli_common import JsonOpt, date_option, print_json
from stratops.errors import EXIT_FAILED

if TYPE_CHECKING:
    from live.journal import Journal
    from stratops.checkpoint_ops import AgainstResult

console = Console()
live_app = typer.Typer(help="The live runner (paper exchange by default).",
                       no_args_is_help=True)
journal_app = typer.Typer(help="The runner's append-only journal.", no_args_is_help=True)
ModeOpt = Annotated[str, typer.Option(help="shadow | canary | live")]
ALERTS_SHOWN = 20  # a session's first alerts printed after its summary (all are journaled)



@live_app.command("run")
def run(
    mode: ModeOpt = "shadow",
    feed: Annotated[str | None, typer.Option(
        help="replay:<dataset> | kite (live Kite ticker) | ticks:<YYYY-MM-DD> (a recorded "
             "day); default: live.market.feed")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first session YYYY-MM-DD")]
    = None,
    end: Annotated[str | None, typer.Option("--to", help="last session YYYY-MM-DD")] = None,
    speed: Annotated[float, typer.Option(help="replay speed x real time; 0 = flat out")] = 0.0,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s")] = None,
    candidates: Annotated[bool, typer.Option(
        help="shadow only: evaluate the latest registered (unapproved) versions")] = False,
    broker: Annotated[str | None, typer.Option(
        help="paper | kite (default: live.broker); shadow is always paper")] = None,
    standby: Annotated[bool, typer.Option(
        help="hot standby (live.ha.enabled): follow the journal, lead when the lease "
             "expires")] = False,
) -> None:
    """Trade the approved versions of MODE on a replayed or live feed; every event journaled."""
    if feed is None:
        from stratops.settings import load_settings

        feed = load_settings().live.market.feed
    session(mode, feed, date_option(start, "--from"), date_option(end, "--to"), strategy,
            candidates, speed, broker=broker, standby=standby)


def session(mode: str, feed: str, start: date | None, end: date | None,
            strategy: list[str] | None, candidates: bool, speed: float = 0.0,
            out: Console | None = None, broker: str | None = None,
            standby: bool = False) -> dict[str, Any]:
    """One runner session (also the last step of ``stratops run``), printed to ``out``
    (stdout by default); returns its summary as data (``stratops run --json``). Under
    ``live.ha`` the runner leads only while it holds the lease (``standby``: it follows the
    journal until then). The process's metrics endpoint and span exporter
    (``observability.*``) live as long as the session."""
    from stratops.observability_ops import Observability
    from stratops.settings import load_settings

    out = out or console
    settings = load_settings()
    observability = Observability(settings, service=f"live-run-{mode}")
    try:
        return _session(mode, feed, start, end, strategy, candidates, speed, out, broker,
                        standby, observability)
    finally:
        observability.close()


def _session(mode: str, feed: str, start: date | None, end: date | None,
             strategy: list[str] | None, candidates: bool, speed: float, out: Console,
             broker: str | None, standby: bool, observability: Any) -> dict[str, Any]:
    from live.runner.deployments import qty_text
    from live.runner.feed import replay_bars
    from live.runner.fold_memory import fold_digest
    from live.runner.preload import preloaded
    from live.runner.runner import RunnerHalted
    from live.state import state_hash
    from stratops.alerts_ops import alert_delivery
    from stratops.ha_ops import take_lead
    from stratops.live_ops import paced_feed, prepare
    from stratops.restart_notes import restart_notes
    from stratops.settings import load_settings

    prepared = prepare(mode, feed, start, end, strategy, candidates, broker=broker,
                       observability=observability)
    if observability.url is not None:
        out.print(f"metrics: {observability.url}", markup=False, highlight=False)
    for note in prepared.notes:
        out.print(f"[yellow]{note}[/]" if "without" in note else note)
    for refusal in prepared.refused:
        out.print(f"[red]refused[/] {refusal.strategy}: {refusal.reason}")
    runner = prepared.runner
    lease = take_lead(load_settings(), mode, runner, standby=standby,
                      say=lambda line: out.print(line, markup=False, highlight=False))
    before, _ = runner.journal.head()
    try:
        runner.recover()
    except RunnerHalted as exc:
        out.print(f"[red]HALTED[/]: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    recovered = fold_digest(runner)  # compare across restarts, leader and standby
    origin = f"the snapshot at seq {runner.resumed_at:,} + " if runner.resumed_at else \
        "a full fold of "
    out.print(f"recovered from {origin}{before - runner.resumed_at:,} journal entries; runner "
              f"state digest {recovered[:16]}...", markup=False, highlight=False)
    for note in restart_notes(runner.journal, before, runner.state.orders):
        out.print(note, markup=False, highlight=False)
    names = ", ".join(f"{d.strategy} v{d.version} ({qty_text(d)})" for d in runner.deployed)
    twin = _twin_beside(mode, out)  # live.paper_twin: trades beside live, on its own thread
    try:
        # alerts.* (README, Alert delivery); calendars, kernels, codecs loaded now, not by
        # the first order (live.runner.preload)
        with alert_delivery(load_settings(), mode, before), preloaded(runner):
            if prepared.feed is not None:  # live (kite) or a recorded day's ticks
                out.print(f"{mode}: {names} on --feed {feed} (Ctrl-C or SIGTERM ends the "
                          "session)")
                summary = runner.run(_beside(twin, runner, prepared.feed))
            else:
                _say_resume(mode, prepared.frame, runner.recovered_last, out)
                with _progress(out) as progress:
                    task = progress.add_task(f"{mode}: {names}", total=len(prepared.frame))
                    summary = runner.run(_beside(twin, runner, paced_feed(prepared.warm(
                        _advancing(replay_bars(prepared.frame), progress, task)), speed)))
    finally:  # the snapshot writer process: its snapshot in hand waited for, then reaped
        if runner.snapshots is not None:
            runner.snapshots.close()
    _say_snapshots(runner.snapshots, out)
    if lease is not None:  # handed over now, not after the TTL
        lease.close()
    if twin is not None:  # the session's days reconciled from the twin's journal
        _paper_twin(mode, runner, before, twin, out)
    seq, head = runner.journal.head()
    digest = state_hash(runner.state)
    out.print(f"{mode} session{' (unapproved candidates)' if candidates else ''}: {names}")
    warm = f"  warm-up bars {summary.warm_bars:,}" if summary.warm_bars else ""
    out.print(f"bars {summary.bars:,}{warm}  intents {summary.intents}  fills {summary.fills}  "
              f"denials {summary.denials}  alerts {len(summary.alerts)}")
    for alert in summary.alerts[:ALERTS_SHOWN]:
        out.print(f"  [yellow]alert[/] {alert}")
    positions = []
    for (strategy_name, symbol), pos in sorted(runner.state.positions.items()):
        stats = runner.state.stats_for(strategy_name)
        out.print(f"  {strategy_name} {symbol}: position {pos.net_qty}, realised "
                  f"{pos.realised_pnl_inr:,.2f} INR (points x qty, before costs), "
                  f"trades {stats.trades}")
        positions.append({"strategy": strategy_name, "symbol": symbol, "net_qty": pos.net_qty,
                          "realised_pnl_inr": pos.realised_pnl_inr, "trades": stats.trades})
    out.print(f"journal seq {seq}, head {head[:16]}..., state hash {digest[:16]}...")
    return {
        "mode": mode, "candidates": candidates,
        "deployed": [{"strategy": d.strategy, "version": d.version, "qty": d.rules.qty,
                      **({} if d.ensemble is None else {"ensemble": d.ensemble.label})}
                     for d in runner.deployed],
        "refused": [{"strategy": r.strategy, "reason": r.reason} for r in prepared.refused],
        "bars": summary.bars, "intents": summary.intents, "fills": summary.fills,
        "denials": summary.denials, "alerts": [str(a) for a in summary.alerts],
        "positions": positions, "journal_seq": seq, "journal_head": head,
        "state_hash": digest, "recovered_from_snapshot_seq": runner.resumed_at or None,
        "recovered_digest": recovered,
    }


def _say_snapshots(snapshots: Any, out: Console) -> None:
    """The session's snapshots (none configured: nothing said)."""
    if snapshots is not None:
        out.print(snapshot_line(snapshots), markup=False, highlight=False)


def snapshot_line(snapshots: Any) -> str:
    """The session's snapshots: how many, and who wrote them (the writer process, or the
    thread and why it took over)."""
    line = f"snapshots: {snapshots.written} written by the writer {snapshots.writer}"
    if snapshots.fallback is not None:
        line += f" (the writer process is not used: {snapshots.fallback})"
    if snapshots.failed:
        line += f"; {snapshots.failed} failed (alerted snapshot_writer_failed)"
    return line


def _twin_beside(mode: str, out: Console) -> Any:
    """With ``live.paper_twin``: the twin that trades beside this session (else None)."""
    from stratops.settings import load_settings
    from stratops.twin_ops import twin_close_sink

    return twin_close_sink(load_settings(), mode,
                           lambda line: out.print(line, markup=False, highlight=False))


def _beside(twin: Any, runner: Any, items: Any) -> Any:
    return items if twin is None else twin.beside(runner, items)


def _paper_twin(mode: str, runner: Any, before: int, twin: Any, out: Console) -> None:
    """Each day this session journaled bars of, reconciled with the twin's journal (the
    bars it lacks traded on it first) in ``live.serve.report_dir/<mode>/<day>/twin/``."""
    from live.events import BarClosed
    from stratops.settings import load_settings

    settings = load_settings()
    days = sorted({m.ts_event.date() for _, m in runner.journal.read(before + 1)
                   if isinstance(m, BarClosed)})
    folder = settings.path(settings.live.serve.report_dir) / mode
    for day in days:
        twin(runner, day, folder / day.isoformat() / "twin")  # a failure: twin_failed
    runner.journal.seal()  # a twin_drift alert appended after the session's seal is covered


def _progress(out: Console) -> Any:
    """A bar-count progress bar with an ETA (cleared when done; silent when not a TTY)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("bars"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=out, transient=True)


def _advancing(bars: Any, progress: Any, task: Any) -> Any:
    for bar in bars:
        yield bar
        progress.advance(task)


def _say_resume(mode: str, frame: Any, recovered: dict[str, Any],
                out: Console | None = None) -> None:
    """Say so when the journal already holds bars of this range: the feed resumes at the
    last journaled bar of each symbol (re-processing it), never replays earlier ones."""
    for symbol, last in sorted(recovered.items()):
        rows = frame[frame["symbol"] == symbol]
        done = int((rows["ts"] < last).sum())
        if done:
            (out or console).print(f"resuming the {mode} journal at its last {symbol} bar {last}: "
                          f"{done:,} earlier bars of this range were journaled before and "
                          "are skipped (a fresh run needs another journal: "
                          "STRATOPS_LIVE__JOURNAL_URL)")


def existing_journal(mode: str) -> Journal:
    """MODE's existing journal, for reading; a missing one is an input error (exit 2) and is
    never created by a read."""
    from live.journal import journal_exists
    from stratops.live_ops import LiveSetupError, journal_url, open_mode_journal
    from stratops.settings import load_settings

    settings = load_settings()
    url = journal_url(settings, mode)
    if not journal_exists(url, settings.root):
        raise LiveSetupError(f"no {mode} journal at {url}: nothing has run in {mode} mode "
                             f"here yet (stratops live run --mode {mode} ...), or "
                             "live.journal_url points elsewhere")
    return open_mode_journal(settings, mode)


AgainstOpt = Annotated[Path | None, typer.Option(
    "--against", help="checkpoint file (JSON lines) or one exported checkpoint (JSON); "
                      "default: the configured checkpoint file, if it exists")]


@journal_app.command("verify")
def verify(mode: ModeOpt = "shadow", against: AgainstOpt = None) -> None:
    """Detect edits, gaps and reordering in MODE's journal, and (against signed checkpoints)
    truncation and re-chained rewrites; exit 1 naming the first bad entry."""
    from stratops.checkpoint_ops import (
        RUNNER_ROLE,
        check_against,
        journal_chain,
        journal_checkpoint_file,
    )
    from stratops.governance_ops import directory_or_none
    from stratops.settings import load_settings

    settings = load_settings()
    journal = existing_journal(mode)
    verdict = journal.verify()
    if not verdict.ok:
        console.print(f"[red]journal BROKEN[/] at seq {verdict.first_bad_seq}: "
                      f"{verdict.reason}")
        raise typer.Exit(EXIT_FAILED)
    seq, head = journal.head()
    console.print(f"journal chain links: {verdict.entries} entries, head seq {seq} hash {head}")
    result = check_against(journal, against, journal_checkpoint_file(settings, mode),
                           directory_or_none(settings), chain=journal_chain(mode),
                           role=RUNNER_ROLE)
    report_against("journal", result)


def report_against(what: str, result: AgainstResult) -> None:
    """Print a chain's verdict against its checkpoints; exit 1 unless it matches them."""
    path, verdict = result.path, result.verdict
    if verdict is None:
        console.print(f"[yellow]{what} links intact, but no checkpoint file[/]: a truncated "
                      "or re-chained log would also pass; pass --against FILE")
        return
    source = f"{path} (the configured checkpoint file)" if result.implicit else str(path)
    if not verdict.ok:
        console.print(f"[red]{what} BROKEN[/] at seq {verdict.first_bad_seq} against {source}: "
                      f"{verdict.reason}")
        raise typer.Exit(EXIT_FAILED)
    signers = ", ".join(verdict.signers)
    console.print(f"[green]{what} intact[/] against {verdict.checkpoints} signed checkpoints "
                  f"in {source} (signed by {signers}), up to seq {verdict.checkpoint_seq}")
    if verdict.finding == "open_tail":
        console.print(f"[yellow]note[/]: {verdict.reason}")


@journal_app.command("replay")
def replay(mode: ModeOpt = "shadow", as_json: JsonOpt = False) -> None:
    """Rebuild the live state from MODE's journal; print its positions, its full hash and its
    trading-state hash (positions, orders, fills, P&L, kill switches: equal for equal trading
    histories, whatever restarts happened). Starts from the latest verified state snapshot
    and folds the checked tail; a snapshot that fails its checks is named and skipped."""
    from live.journal import JournalCorruptError
    from live.snapshots import restore_state, snapshot_store
    from live.state import in_doubt_orders, state_hash, trading_state_hash

    journal = existing_journal(mode)
    try:  # the latest verified state snapshot plus the checked tail (README, State snapshots)
        restored = restore_state(journal, snapshot_store(journal))
    except JournalCorruptError as exc:
        console.print(f"[red]journal BROKEN[/] at seq {exc.seq}: {exc.reason}; not replaying "
                      "it")
        raise typer.Exit(EXIT_FAILED) from None
    state = restored.state
    positions = [{"strategy": strategy_name, "symbol": symbol, "net_qty": pos.net_qty,
                  "avg_price": pos.avg_price, "realised_pnl_inr": pos.realised_pnl_inr}
                 for (strategy_name, symbol), pos in sorted(state.positions.items())]
    summary = {"mode": mode, "events": state.events_applied, "orders": len(state.orders),
               "fills": len(state.trade_ids), "in_doubt": len(in_doubt_orders(state)),
               "positions": positions, "state_hash": state_hash(state),
               "snapshot_seq": restored.snapshot_seq, "tail_events": restored.tail_events,
               "snapshots_rejected": restored.rejected,
               "trading_state_hash": trading_state_hash(state)}
    if as_json:
        print_json(summary)
        return
    for why in restored.rejected:
        console.print(f"[yellow]warning[/]: {why}; folded without it", highlight=False)
    console.print(f"events {summary['events']:,}, orders {summary['orders']}, fills "
                  f"{summary['fills']}, in doubt {summary['in_doubt']}")
    for p in positions:
        console.print(f"  {p['strategy']} {p['symbol']}: {p['net_qty']} @ "
                      f"{p['avg_price']:.2f}, realised {p['realised_pnl_inr']:,.2f}")
    console.print(f"state hash {summary['state_hash']}", soft_wrap=True)  # one line: grep it
    console.print(f"trading state hash {summary['trading_state_hash']}", soft_wrap=True)


@journal_app.command("export")
def export(path: Annotated[Path, typer.Argument(help="JSONL file")],
           mode: ModeOpt = "shadow") -> None:
    """One JSON line per journal entry, for auditors."""
    count = existing_journal(mode).export_jsonl(path)
    console.print(f"wrote {count} entries to {path}")


@live_app.command("create-databases")
def create_databases(as_json: JsonOpt = False) -> None:
    """Create the per-mode PostgreSQL journal databases (live.journal_url with {mode}) that
    do not exist yet; SQLite journals need nothing (each is created by its mode's first run)."""
    from live.db import create_postgres_database, redacted
    from stratops.live_ops import MODES, journal_url
    from stratops.settings import load_settings

    settings = load_settings()
    urls = {mode: journal_url(settings, mode) for mode in MODES}
    if not settings.live.journal_url.startswith("postgresql"):
        result = {mode: "sqlite" for mode in MODES}
        note = ("live.journal_url is SQLite: each mode's journal file is created by its first "
                "`stratops live run --mode MODE`; nothing to create")
    else:
        result = {mode: "created" if create_postgres_database(url) else "exists"
                  for mode, url in urls.items()}
        note = ""
    if as_json:
        print_json({mode: {"url": redacted(urls[mode]), "state": state}
                    for mode, state in result.items()})
        return
    if note:
        console.print(note)
        return
    for mode, state in result.items():
        console.print(f"{mode}: {redacted(urls[mode])} {state}")


def _reconcile_ensembles(journal: Any, registry: Any, settings: Any, folder: Path) -> int:
    """Each ensemble version's members against its simulation, printed and written under
    ``<folder>/<ensemble>/<member>/``; the number of breaks."""
    from live.backtest_reconciliation import write_day_report
    from live.ensemble_reconciliation import ensembles_in, reconcile_ensembles
    from strategies.names import path_under, validate_name
    from stratops.governance_ops import confidence_sizing

    if not ensembles_in(journal):
        return 0  # no ensemble ran: the policy file is not needed
    total = 0
    for e in reconcile_ensembles(journal, registry,
                                 max_sessions=settings.live.max_history_sessions,
                                 sizing=confidence_sizing(settings)):
        total += e.breaks
        if e.problem is not None:
            console.print(f"{e.name} v{e.version}: 1 break: its members cannot be simulated: "
                          f"{e.problem}")
            continue
        console.print(f"{e.name} v{e.version} {e.symbol} ({e.resolver}): members against the "
                      "ensemble's simulation")
        for strategy, version, reports in e.members:
            for report in reports:
                write_day_report(report, path_under(folder, validate_name(e.name),
                                                    validate_name(strategy)))
            console.print(f"  {strategy} v{version}: {len(reports)} days, "
                          f"{sum(len(r.actual) for r in reports)} trades, "
                          f"{sum(len(r.breaks) for r in reports)} breaks, "
                          f"{sum(len(r.explained) for r in reports)} explained")
    return total


@live_app.command("reconcile")
def reconcile_cmd(mode: ModeOpt = "canary",
                  out: Annotated[Path | None, typer.Option(help="report folder")] = None
                  ) -> None:
    """Per strategy and day: the journal's trades against the simulator on the same bars
    (an ensemble's members against the ensemble's simulation, under the ensemble); JSON +
    HTML reports; exit 1 if any break."""
    from live.backtest_reconciliation import expectation_config, reconcile_journal, write_day_report
    from live.ensemble_reconciliation import ensembles_in
    from live.service.backtest_day import journal_versions
    from strategies.names import path_under, validate_name
    from stratops.governance_ops import registry as open_registry
    from stratops.settings import load_settings

    settings = load_settings()
    journal = existing_journal(mode)
    versions = journal_versions(journal)
    registry = open_registry(settings, create=False)
    folder = out or settings.root / "data" / "live" / "reconciliation" / mode
    total = _reconcile_ensembles(journal, registry, settings, folder)
    under = ensembles_in(journal)
    for (name, version), qtys in sorted(versions.items()):
        if name in under:
            continue  # reconciled under its ensemble above
        config = registry.load_config(name, version)  # as data; no artifact code runs
        for symbol in config.symbols:
            size = config.size_of(symbol)
            rules = expectation_config(config.sim, qtys.get(symbol) or
                                       config.sim.qty_lots * size.lot_size, size)
            reports = reconcile_journal(journal, strategy=name, params=config.params_dict,
                                        venue=config.venue, symbol=symbol, sim=rules,
                                        max_sessions=settings.live.max_history_sessions)
            for report in reports:
                write_day_report(report, path_under(folder, validate_name(name)))
            breaks = sum(len(r.breaks) for r in reports)
            total += breaks
            explained = sum(len(r.explained) for r in reports)
            console.print(f"{name} v{version} {symbol}: {len(reports)} days, "
                          f"{sum(len(r.actual) for r in reports)} trades, {breaks} breaks, "
                          f"{explained} explained (denied or flattened by the risk engine or "
                          "the kill switch, as expected)")
    console.print(f"reports in {folder}")
    if total:
        raise typer.Exit(EXIT_FAILED)
