"""``stratops drill flatten``: the flatten-at-the-broker drill on a scratch paper exchange
(README, Operating runbook); exit 1 when the drill fails."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stratops.cli_common import JsonOpt, print_json
from stratops.errors import EXIT_FAILED

drill_app = typer.Typer(help="Rehearse the runbook's emergency procedures on paper.",
                        no_args_is_help=True)
console = Console()


@drill_app.command("flatten")
def flatten(
    day: Annotated[str, typer.Option(help="the replay day, YYYY-MM-DD")] = "2025-03-03",
    dataset: Annotated[str, typer.Option(help="catalog dataset of the replay")] =
    "nse_index_1m",
    folder: Annotated[Path | None, typer.Option(
        help="scratch folder (new; default .stratops/drills/flatten-<UTC time>)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Trade until a position is held, take the stack down, flatten from the broker's
    console, let the market run, restart: flat at the broker, the runner halted on the
    break. Exit 1 if any of that does not happen."""
    from pipelines.datasets.catalog import find_dataset
    from stratops.clock import utc_now
    from stratops.drill_ops import flatten_drill
    from stratops.errors import LiveSetupError
    from stratops.settings import load_settings

    settings = load_settings()
    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise LiveSetupError(f"--day {day!r}: not a YYYY-MM-DD date") from exc
    target = folder or settings.root / ".stratops" / "drills" / \
        f"flatten-{utc_now():%Y%m%dT%H%M%S}"
    if target.exists():
        raise LiveSetupError(f"--folder {target} exists: a drill starts on a new folder")
    report = flatten_drill(target, find_dataset(settings.root, dataset).path, when,
                           settings.path(settings.governance.risk_file))
    if as_json:
        print_json({"passed": report.passed, "folder": str(target), **vars(report)})
    else:
        console.print(f"1. traded until a position was held: {report.position_before}")
        console.print(f"2. stack down at {report.stack_down_at}")
        console.print(f"3. console: cancelled {report.cancelled or 'no open orders'}; "
                      f"sent {report.console_orders}")
        console.print(f"4. flat after {report.bars_to_flat} bar(s): {report.position_after}")
        console.print(f"5. restart halted: {report.restart_halted} "
                      f"({'; '.join(report.restart_issues)})")
        console.print(f"drill {'PASSED' if report.passed else 'FAILED'} ({target})")
    if not report.passed:
        raise typer.Exit(EXIT_FAILED)
