"""``stratops backtest`` (one parameter set) and ``stratops grid`` (the whole space)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

StrategyOpt = Annotated[str, typer.Option("--strategy", "-s", help="registered strategy name")]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="dataset name (data list)")]
SymbolOpt = Annotated[str | None, typer.Option(help="symbol (default: the dataset's first)")]
FromOpt = Annotated[str | None, typer.Option("--from", help="first session, YYYY-MM-DD")]
ToOpt = Annotated[str | None, typer.Option("--to", help="last session, YYYY-MM-DD")]


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{flag} {text!r} is not a date YYYY-MM-DD") from None


def _pairs(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--param {item!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def _sim_options(lots: int, stop_points: float, trail_points: float, target_points: float,
                 slippage_ticks: float, fill: str, max_trades_per_day: int) -> dict[str, Any]:
    return {"qty_lots": lots, "stop_points": stop_points, "trail_points": trail_points,
            "target_points": target_points, "slippage_ticks": slippage_ticks, "fill": fill,
            "max_trades_per_day": max_trades_per_day}


def backtest(
    strategy: StrategyOpt, dataset: DatasetOpt, symbol: SymbolOpt = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="k=v, repeatable")] = None,
    start: FromOpt = None, end: ToOpt = None,
    lots: Annotated[int, typer.Option(help="lots per trade")] = 1,
    stop_points: Annotated[float, typer.Option(help="stop-loss in points (0 off)")] = 0.0,
    trail_points: Annotated[float, typer.Option(help="trailing stop in points (0 off)")] = 0.0,
    target_points: Annotated[float, typer.Option(help="target in points (0 off)")] = 0.0,
    slippage_ticks: Annotated[float, typer.Option(help="ticks against each fill")] = 1.0,
    fill: Annotated[str, typer.Option(help="next_open or close")] = "next_open",
    max_trades_per_day: Annotated[int, typer.Option(help="0 = unlimited")] = 0,
    cutoff: Annotated[str, typer.Option(help="venue (15:00 on NSE), none, or HH:MM")]
    = "venue",
    no_costs: Annotated[bool, typer.Option("--no-costs", help="ignore the cost model")]
    = False,
    trades: Annotated[Path | None, typer.Option(help="CSV for the trades table")] = None,
) -> None:
    """Backtest one strategy on one dataset: print the stats, write the trades."""
    from stratops.backtest_ops import RunRequest, default_output, run_backtest

    request = RunRequest(
        strategy=strategy, dataset=dataset, symbol=symbol, params=_pairs(param),
        start=_date(start, "--from"), end=_date(end, "--to"), costs=not no_costs, cutoff=cutoff,
        sim=_sim_options(lots, stop_points, trail_points, target_points, slippage_ticks, fill,
                         max_trades_per_day),
    )
    with err_console.status(f"backtesting {strategy} on {dataset} ..."):
        result, params, config, used_symbol = run_backtest(request)
    out = trades or default_output(request, used_symbol, "trades")
    out.parent.mkdir(parents=True, exist_ok=True)
    result.trades.to_csv(out, index=False)
    table = Table(title=f"{strategy} on {dataset}:{used_symbol}\n{params}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, f"{value:,.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    costs = config.costs.version if config.costs is not None else "none"
    console.print(f"fill {config.fill}, qty {config.qty} units, costs schedule {costs}")
    if len(result.trades):
        console.print(result.stats().to_string(), markup=False, highlight=False)
        console.print(result.trades["exit_reason"].value_counts().to_string(), markup=False)
    console.print(f"trades written to {out}", markup=False)


def grid(
    strategy: StrategyOpt, dataset: DatasetOpt, symbol: SymbolOpt = None,
    start: FromOpt = None, end: ToOpt = None,
    stop_points: Annotated[float, typer.Option(help="stop-loss in points (0 off)")] = 0.0,
    slippage_ticks: Annotated[float, typer.Option(help="ticks against each fill")] = 1.0,
    top: Annotated[int, typer.Option(help="rows to print, best Sharpe first")] = 10,
    out: Annotated[Path | None, typer.Option(help="CSV for every combination")] = None,
) -> None:
    """Evaluate every combination of the strategy's parameter space (one compiled pass)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from stratops.backtest_ops import RunRequest, default_output, run_param_grid

    request = RunRequest(
        strategy=strategy, dataset=dataset, symbol=symbol, start=_date(start, "--from"),
        end=_date(end, "--to"),
        sim={"stop_points": stop_points, "slippage_ticks": slippage_ticks},
    )
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console) as progress:
        task = progress.add_task(f"grid {strategy}", total=None)
        result, used_symbol = run_param_grid(request, lambda k: progress.advance(task, k),
                                lambda total: progress.update(task, total=total))
    frame = result.frame().sort_values("sharpe", ascending=False)
    path = out or default_output(request, used_symbol, "grid")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    console.print(frame.head(top).to_string(index=False), markup=False, highlight=False)
    console.print(f"{len(frame)} combinations written to {path}", markup=False)
