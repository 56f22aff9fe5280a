"""``stratops execution calibrate``: the impact model's calibration (README, Impact and
slippage)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stratops.cli_common import JsonOpt, print_json

console = Console()
execution_app = typer.Typer(help="Execution costs: the impact model's calibration.",
                            no_args_is_help=True)


@execution_app.command("calibrate")
def calibrate(
    journal: Annotated[list[str] | None, typer.Option(
        help="a journal mode whose MARKET fills are prints (canary, live, shadow); repeat")]
    = None,
    ticks: Annotated[list[str] | None, typer.Option(
        help="a recorded tick day (YYYY-MM-DD under live.market.ticks_dir); repeat")] = None,
    min_prints: Annotated[int, typer.Option(
        min=10, help="fewer usable prints: literature values, said so")] = 100,
    out: Annotated[Path | None, typer.Option(
        help="default: risk.yaml execution.calibration_file")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the impact law (Y, exponent, permanent share) on real prints; write the file the
    live pre-trade estimate and `stratops backtest --impact-slippage` read."""
    from stratops.execution_ops import calibrate_impact
    from stratops.settings import load_settings

    run = calibrate_impact(load_settings(), journals=journal or [], tick_days=ticks or [],
                           min_prints=min_prints, out=out)
    cal, params = run.calibration, run.calibration.params
    if as_json:
        print_json({"path": run.path, "y": params.y, "exponent": params.exponent,
                    "permanent_fraction": params.permanent_fraction,
                    "calibration_source": params.calibration_source, "note": params.note,
                    "n_prints": cal.n_prints, "sources": run.sources,
                    "source_sha256": cal.source_sha256})
        return
    for line in run.sources:
        console.print(f"  {line}")
    colour = "yellow" if params.calibration_source == "literature" else "green"
    console.print(f"[{colour}]calibration_source: {params.calibration_source}[/] "
                  f"Y={params.y:.3g} exponent={params.exponent:.3g} "
                  f"permanent_fraction={params.permanent_fraction:.3g} "
                  f"({cal.n_prints} usable prints)")
    console.print(f"  note: {params.note}")
    console.print(f"wrote {run.path} (source sha256 {cal.source_sha256[:16]})")
