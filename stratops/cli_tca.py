"""``stratops tca report``: the day's transaction cost analysis of a mode's journal."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from stratops.cli_common import JsonOpt, print_json
from stratops.errors import LiveSetupError

tca_app = typer.Typer(help="Transaction cost analysis of the live journal.",
                      no_args_is_help=True)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LiveSetupError(f"--day {value!r}: not a date (YYYY-MM-DD)") from None


@tca_app.command("report")
def report(
    day: Annotated[str, typer.Option(help="the trading day, YYYY-MM-DD")],
    mode: Annotated[str, typer.Option(help="shadow | canary | live: whose journal")] = "live",
    journal: Annotated[str | None, typer.Option(
        help="a journal URL (sqlite:///... | postgresql://...) instead of MODE's")] = None,
    out: Annotated[Path | None, typer.Option(
        help="write tca.json and tca.html (plots embedded) in this folder")] = None,
    log_mlflow: Annotated[bool, typer.Option(
        "--log-mlflow", help="log each version's day to MLflow (experiment stratops_tca)")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Per child order, parent and day: arrival and VWAP slippage, Perold shortfall (delay,
    timing, impact, opportunity), markouts at 1/5/15 bars, fill rate, cost share of P&L."""
    from live.tca.report import text_summary
    from stratops.settings import load_settings
    from stratops.tca_ops import tca_report

    found = tca_report(load_settings(), _day(day), mode=mode, url=journal, out=out,
                       log_mlflow=log_mlflow)
    if as_json:
        print_json({**found.tables.to_json(),
                    "files": None if found.files is None else
                    [str(found.files.json_path), str(found.files.html_path)],
                    "mlflow_runs": list(found.mlflow_runs)})
        return
    typer.echo(text_summary(found.tables))
    if found.files is not None:
        typer.echo(f"report: {found.files.html_path} and {found.files.json_path}")
    if found.mlflow_runs:
        typer.echo(f"logged to MLflow: {', '.join(found.mlflow_runs)}")
