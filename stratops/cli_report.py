"""``stratops report attribution``: the day's model and execution attribution of a mode's
journal (signal, timing, slippage, costs; README, Daily attribution report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratops.cli_common import JsonOpt, date_option, print_json

report_app = typer.Typer(help="Daily reports of the live journal.", no_args_is_help=True)


@report_app.command("attribution")
def attribution(
    day: Annotated[str, typer.Option(help="the trading day, YYYY-MM-DD")],
    mode: Annotated[str, typer.Option(help="shadow | canary | live: whose journal")] = "live",
    journal: Annotated[str | None, typer.Option(
        help="a journal URL (sqlite:///... | postgresql://...) instead of MODE's")] = None,
    out: Annotated[Path | None, typer.Option(
        help="write attribution.json and attribution.html in this folder")] = None,
    cost_schedule: Annotated[str | None, typer.Option(
        help="the cost schedule version to charge fills with (default: the one in force "
             "on the day)")] = None,
    log_mlflow: Annotated[bool, typer.Option(
        "--log-mlflow", help="log each version's day to MLflow (experiment "
                             "stratops_attribution)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Each strategy version's P&L of the day split into signal (at decision prices),
    timing (signal bar close -> arrival), slippage (arrival -> fills) and costs, checked
    against the journal's realised net P&L (the residual)."""
    from live.tca.attribution import text_lines
    from stratops.attribution_ops import attribution_report
    from stratops.settings import load_settings

    the_day = date_option(day, "--day")
    assert the_day is not None  # a required option
    found = attribution_report(load_settings(), the_day, mode=mode, url=journal,
                               out=out, log_mlflow=log_mlflow, cost_schedule=cost_schedule)
    if as_json:
        print_json({**found.report.to_json(),
                    "files": None if found.files is None else
                    [str(found.files.json_path), str(found.files.html_path)],
                    "mlflow_runs": list(found.mlflow_runs)})
        return
    for line in text_lines(found.report):
        typer.echo(line)
    if found.files is not None:
        typer.echo(f"report: {found.files.html_path} and {found.files.json_path}")
    if found.mlflow_runs:
        typer.echo(f"logged to MLflow: {', '.join(found.mlflow_runs)}")


@report_app.command("twin")
def twin(
    day: Annotated[str, typer.Option(help="the trading day, YYYY-MM-DD")],
    mode: Annotated[str, typer.Option(help="shadow | canary | live: whose journal")] = "live",
    out: Annotated[Path | None, typer.Option(help="write twin.json in this folder")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Live against its paper twin on DAY (live.paper_twin): fills, P&L per trade, slippage
    and signals, with KS tests on per-trade P&L and slippage and McNemar's test on the
    signals; exits 1 when the day breaches policy.yaml signal_governance.twin. A day the
    twin never traded (live.paper_twin was off) is first traded on it with the versions
    deployed at MODE (refused when they are not the ones live traded that day)."""
    from live.twin import text_lines, write_twin_report
    from stratops.errors import EXIT_FAILED
    from stratops.settings import load_settings
    from stratops.twin_ops import twin_report

    the_day = date_option(day, "--day")
    assert the_day is not None  # a required option
    report, rebuilt = twin_report(load_settings(), the_day, mode)
    path = None if out is None else write_twin_report(report, out)
    if as_json:
        print_json({**report.to_json(), "file": None if path is None else str(path),
                    "rebuilt_bars": rebuilt})
    else:
        if rebuilt:
            typer.echo(f"the paper twin had no bar of {the_day}: {rebuilt} bars of the "
                       f"{mode} journal traded on it now")
        for line in text_lines(report):
            typer.echo(line)
        if path is not None:
            typer.echo(f"report: {path}")
    if report.breaches:
        raise typer.Exit(EXIT_FAILED)
