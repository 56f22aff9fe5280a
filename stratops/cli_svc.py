"""``stratops svc market-data|signal|risk|execution|state|twin``: the live side as separate
processes over the NATS JetStream bus (settings ``live.bus``; README, Services over NATS
JetStream)."""

from __future__ import annotations

from typing import Annotated

import typer

from stratops.cli_common import JsonOpt, date_option, print_json

svc_app = typer.Typer(help="The live side as services over NATS JetStream (live.bus).",
                      no_args_is_help=True)
FromOpt = Annotated[str | None, typer.Option("--from", help="first session YYYY-MM-DD")]
ToOpt = Annotated[str | None, typer.Option("--to", help="last session YYYY-MM-DD")]
IdleExitOpt = Annotated[float | None, typer.Option(
    help="exit after this many seconds without a message, once one came (default: run "
         "until stopped)",
    min=0.1)]



def _report(data: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(data)
    else:
        typer.echo("  ".join(f"{k} {v}" for k, v in data.items() if not isinstance(v, list)))


@svc_app.command("market-data")
def market_data(
    feed: Annotated[str, typer.Option(help="replay:<dataset>")] = "replay:nse_index_1m",
    start: FromOpt = None, end: ToOpt = None,
    symbol: Annotated[list[str], typer.Option("--symbol", help="symbols published")]
    = ["NIFTY"],  # noqa: B006 - typer's list default
    max_bars: Annotated[int | None, typer.Option(help="stop after this many bars", min=1)]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish a replayed dataset's bars on the bus (BarClosed, keyed by symbol and time)."""
    from stratops.market_ops import parse_feed_spec
    from stratops.settings import load_settings
    from stratops.svc_ops import run_market_data

    kind, dataset = parse_feed_spec(feed)
    if kind != "replay":
        raise typer.BadParameter(f"--feed {feed!r}: the market-data service replays "
                                 "(replay:<dataset>)")
    count = run_market_data(load_settings(), dataset, date_option(start, "--from"),
                            date_option(end, "--to"), symbol, max_bars)
    _report({"published": count}, as_json)


@svc_app.command("execution")
def execution(
    mode: Annotated[str, typer.Option(help="shadow | canary | live")] = "shadow",
    feed: Annotated[str, typer.Option(
        help="replay:<dataset> whose history sizes the risk caps")] = "replay:nse_index_1m",
    start: FromOpt = None, end: ToOpt = None,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s")] = None,
    candidates: Annotated[bool, typer.Option(help="shadow only: unapproved versions")] = False,
    idle_exit_seconds: IdleExitOpt = None,
    risk: Annotated[str, typer.Option(
        help="local: the risk engine in this process | remote: `stratops svc risk` answers")]
    = "local",
    risk_deadline_ms: Annotated[float, typer.Option(
        help="remote: an answer later than this is none (entries denied, exits checked here)",
        min=1)] = 500.0,
    signals: Annotated[str, typer.Option(
        help="local: each strategy's kernel in this process | remote: `stratops svc signal` "
             "publishes them")] = "local",
    signal_deadline_ms: Annotated[float, typer.Option(
        help="remote: a bar's signals later than this are none (no entry on that bar; "
             "its exits are decided on this process's own kernel); at most 312.5", min=1,
        max=312.5)]
    = 250.0,
    as_json: JsonOpt = False,
) -> None:
    """Run MODE's approved versions (signals, risk, journal-first execution) on the bus's
    bars, mirroring every journaled event on the bus."""
    from stratops.settings import load_settings
    from stratops.svc_ops import run_execution

    _report(run_execution(load_settings(), mode, feed, date_option(start, "--from"),
                          date_option(end, "--to"), strategy, candidates, idle_exit_seconds,
                          risk, risk_deadline_ms / 1000.0, signals,
                          signal_deadline_ms / 1000.0), as_json)


@svc_app.command("signal")
def signal(
    mode: Annotated[str, typer.Option(help="shadow | canary | live")] = "shadow",
    feed: Annotated[str, typer.Option(
        help="replay:<dataset> (the versions' contracts; a replay's warm-up)")]
    = "replay:nse_index_1m",
    start: FromOpt = None, end: ToOpt = None,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s")] = None,
    candidates: Annotated[bool, typer.Option(help="shadow only: unapproved versions")] = False,
    idle_exit_seconds: IdleExitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish MODE's versions' signals (and regime reading) at every bar of the market-data
    stream for `svc execution --signals remote`."""
    from stratops.settings import load_settings
    from stratops.svc_ops import run_signal

    _report(run_signal(load_settings(), mode, feed, date_option(start, "--from"),
                       date_option(end, "--to"), strategy, candidates, idle_exit_seconds),
            as_json)


@svc_app.command("risk")
def risk(
    mode: Annotated[str, typer.Option(help="shadow | canary | live")] = "shadow",
    feed: Annotated[str, typer.Option(
        help="replay:<dataset> whose history sizes the risk caps")] = "replay:nse_index_1m",
    start: FromOpt = None, end: ToOpt = None,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s")] = None,
    candidates: Annotated[bool, typer.Option(help="shadow only: unapproved versions")] = False,
    idle_exit_seconds: IdleExitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer `svc execution --risk remote`'s CheckRisk commands with MODE's pre-trade risk
    engine over the state folded from the events stream."""
    from stratops.settings import load_settings
    from stratops.svc_ops import run_risk

    _report(run_risk(load_settings(), mode, feed, date_option(start, "--from"),
                     date_option(end, "--to"), strategy, candidates, idle_exit_seconds),
            as_json)


@svc_app.command("twin")
def twin(
    mode: Annotated[str, typer.Option(help="shadow | canary | live: whose paper twin")]
    = "shadow",
    feed: Annotated[str, typer.Option(
        help="replay:<dataset> (the versions' contracts; a replay's warm-up)")]
    = "replay:nse_index_1m",
    start: FromOpt = None, end: ToOpt = None,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s")] = None,
    candidates: Annotated[bool, typer.Option(help="shadow only: unapproved versions")] = False,
    idle_exit_seconds: IdleExitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Trade MODE's versions on a paper twin (its own journal <mode>_twin and exchange) at
    every bar of the market-data stream, for `stratops report twin`."""
    from stratops.settings import load_settings
    from stratops.svc_ops import run_twin

    _report(run_twin(load_settings(), mode, feed, date_option(start, "--from"),
                     date_option(end, "--to"), strategy, candidates, idle_exit_seconds),
            as_json)


@svc_app.command("state")
def state(
    journal: Annotated[str, typer.Option(help="the replica journal's URL")]
    = "sqlite:///.stratops/replica-shadow.db",
    durable: Annotated[str, typer.Option(help="its durable consumer's name")] = "state",
    idle_exit_seconds: IdleExitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Keep a replica journal and state of the events the execution service mirrors."""
    from stratops.settings import load_settings
    from stratops.svc_ops import run_state

    _report(run_state(load_settings(), journal, durable, idle_exit_seconds), as_json)
