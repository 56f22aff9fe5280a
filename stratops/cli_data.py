"""``stratops data ...``: build, import, list and validate DVC-versioned datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from stratops.errors import EXIT_FAILED

if TYPE_CHECKING:
    from pipelines.datasets.validation import ValidationReport

app = typer.Typer(help="Datasets: build (DVC), import, list, validate (Great Expectations).",
                  no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
        console=err_console, transient=False,
    )


@app.command("build")
def build(
    push: Annotated[bool, typer.Option(help="dvc push the outputs to the default remote")] = True,
) -> None:
    """Reproduce every DVC stage (``dvc repro``); stages already up to date are skipped."""
    from stratops.datasets_ops import build_datasets

    with _progress() as progress:
        results = build_datasets(progress, push=push)
    for stage, status in results:
        console.print(f"stage [bold]{stage}[/]: {status}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file to import")],
    symbol: Annotated[str, typer.Option(help="instrument symbol, e.g. NIFTY")],
    timeframe: Annotated[str, typer.Option(help="bar length: 1m, 5m, 1h, 1d ...")],
    tz: Annotated[str | None, typer.Option(help="zone of naive timestamps (default: venue's)")]
    = None,
    venue: Annotated[str, typer.Option(help="NSE, NYSE, FX or 24x7")] = "NSE",
    name: Annotated[str | None, typer.Option(help="dataset name (default symbol_timeframe)")]
    = None,
    date_order: Annotated[str, typer.Option(help="auto, dmy or mdy for dates like 01/02/2024")]
    = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Import a broker/exchange export: normalise, validate, then store and ``dvc add`` it.

    Prints what landed: rows, date range, sessions, every validation rule with its counts,
    where it is stored, the dataset name and its DVC md5."""
    if date_order not in ("auto", "dmy", "mdy"):
        raise typer.BadParameter(f"--date-order must be auto, dmy or mdy, not {date_order!r}")
    from pipelines.datasets.gx_worker import gx_head_start

    with gx_head_start() as run_suite:  # first: GX imports on the other core while we read
        from pipelines.datasets.importer import DatasetRejectedError
        from stratops.datasets_ops import import_file

        try:
            with err_console.status(f"importing {path} ..."):
                result = import_file(
                    path, symbol=symbol, timeframe=timeframe, tz=tz, venue=venue, name=name,
                    date_order=date_order,  # type: ignore[arg-type]  # checked above
                    run_suite=run_suite)
        except DatasetRejectedError as exc:
            _refused(path, exc.report, as_json=as_json)
            raise typer.Exit(EXIT_FAILED) from exc
    entry, report = result.entry, result.report
    root = entry.path.parents[2]
    rel = entry.path.relative_to(root)
    record = rel.with_name(rel.name + ".dvc")
    if as_json:
        typer.echo(json.dumps({
            "imported": True, **entry.to_dict(), "path": str(rel), "record": str(record),
            "sessions": report.sessions, "notes": result.notes, "validation": report.to_dict(),
        }, indent=2, default=str))
        return
    passed = len(report.outcomes) - len(report.failures)
    console.print(f"imported [bold]{entry.name}[/]: {entry.rows} rows, {entry.first} .. "
                  f"{entry.last}, {report.sessions} sessions", soft_wrap=True)
    console.print(f"  stored   {rel} (DVC record {record})", markup=False, highlight=False,
                  soft_wrap=True)
    console.print(f"  md5      {entry.md5}", markup=False, highlight=False)
    for note in result.notes:
        console.print(f"  note     {note}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"  validation: {passed} of {len(report.outcomes)} rules passed "
                  f"({report.kind}, {report.missing_bars} missing bars)", markup=False,
                  highlight=False)
    for o in report.outcomes:
        counts = f"{o.failed}/{o.checked} failing" if o.checked else "table-level"
        console.print(f"    ok  {o.name}: {counts}", markup=False, highlight=False,
                      soft_wrap=True)
    console.print(f"next: git add {record} {rel.parent}/.gitignore && dvc push", markup=False,
                  soft_wrap=True)


def _refused(path: Path, report: ValidationReport, *, as_json: bool) -> None:
    err_console.print(f"[red]refused:[/] {path} failed validation; nothing was written.",
                      soft_wrap=True)
    if as_json:
        typer.echo(json.dumps({"imported": False, "validation": report.to_dict()},
                              indent=2, default=str))
    else:
        err_console.print(report.render(), markup=False, highlight=False, soft_wrap=True)


@app.command("import-instruments")
def import_instruments(
    path: Annotated[Path, typer.Argument(help="Kite instruments dump (CSV, GET /instruments)")],
    name: Annotated[str, typer.Option(help="stored as data/imports/<name>.csv")]
    = "kite_instruments",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Import an instrument master: parse, validate (Great Expectations), then store and
    ``dvc add`` it. A refused file leaves what is stored untouched."""
    from pipelines.datasets.master_validation import MasterRejectedError
    from stratops.datasets_ops import import_instruments as run_import

    try:
        result = run_import(path, name=name)
    except MasterRejectedError as exc:
        _refused(path, exc.report, as_json=as_json)
        raise typer.Exit(EXIT_FAILED) from exc
    root = result.path.parents[2]
    rel = result.path.relative_to(root)
    futures = sum(1 for c in result.master if c.is_future)
    if as_json:
        typer.echo(json.dumps({"imported": True, "path": str(rel), "md5": result.md5,
                               "rows": len(result.master), "futures": futures,
                               "validation": result.report.to_dict()}, indent=2, default=str))
        return
    console.print(f"imported {len(result.master)} instruments ({futures} futures) to {rel}",
                  markup=False, highlight=False, soft_wrap=True)
    console.print(f"  md5      {result.md5}", markup=False, highlight=False)
    console.print(f"next: git add {rel}.dvc {rel.parent}/.gitignore && dvc push; trade from it "
                  f"with instruments.master_file: {rel}", markup=False, soft_wrap=True)


@app.command("validate-instruments")
def validate_instruments(
    path: Annotated[Path | None, typer.Argument(
        help="Kite instruments dump (default: the configured instruments.master_file)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passed rules too")]
    = False,
) -> None:
    """Parse and validate an instrument master in place (the suite `import-instruments` and
    the live runner's master pass); exit 1 if a rule fails, 2 if it is not a Kite dump."""
    from pipelines.datasets.master_import import read_master_text
    from pipelines.datasets.master_validation import MasterRejectedError, validate_master
    from stratops.settings import load_settings

    settings = load_settings()
    target = path or settings.path(settings.instruments.master_file)
    text = read_master_text(target, max_bytes=settings.data.import_max_bytes)
    try:
        _, report = validate_master(text, name=target.stem, source=str(target))
    except MasterRejectedError as exc:
        _refused(target, exc.report, as_json=False)
        raise typer.Exit(EXIT_FAILED) from exc
    console.print(report.render(verbose=verbose), markup=False, highlight=False,
                  soft_wrap=True)


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show every dataset: name, DVC hash, symbols, timeframe, rows, first/last bar."""
    from pipelines.datasets.catalog import list_datasets
    from stratops.settings import load_settings

    entries = list_datasets(load_settings().root)
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    table = Table(title="datasets")
    for col in ("name", "md5", "state", "symbols", "timeframe", "venue", "rows", "first", "last"):
        table.add_column(col, no_wrap=col in ("name", "md5", "first", "last"))
    for e in entries:
        symbols = ", ".join(e.symbols[:4]) + (f" +{len(e.symbols) - 4}" if len(e.symbols) > 4
                                               else "")
        table.add_row(e.name, (e.md5 or "-")[:12], e.state, symbols,
                      e.meta.timeframe if e.meta else "-", e.meta.venue if e.meta else "-",
                      f"{e.rows:,}", e.first, e.last)
    Console(width=max(console.width, 150)).print(table)


@app.command("validate")
def validate(
    names: Annotated[list[str] | None, typer.Argument(help="datasets (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passed rules too")]
    = False,
) -> None:
    """Run each dataset's Great Expectations suite; exit 1 if any rule fails."""
    from stratops.datasets_ops import validate_datasets

    with _progress() as progress:
        reports = validate_datasets(names or [], progress)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2, default=str))
    else:
        for report in reports:
            console.print(report.render(verbose=verbose), markup=False, highlight=False,
                          soft_wrap=True)
    if not all(r.passed for r in reports):
        raise typer.Exit(EXIT_FAILED)
