"""``stratops backtest`` (one parameter set) and ``stratops grid`` (the whole space)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from strategies.params import ParamError, get_params

if TYPE_CHECKING:
    import pandas as pd

    from stratops.backtest_ops import BacktestRun, RunRequest
    from stratops.backtest_report import Report

console = Console()
err_console = Console(stderr=True)

StrategyOpt = Annotated[str, typer.Option("--strategy", "-s", help="registered strategy name")]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="dataset name (data list)")]
SymbolOpt = Annotated[str | None, typer.Option(help="symbol (default: the dataset's first)")]
FromOpt = Annotated[str | None, typer.Option("--from", help="first session, YYYY-MM-DD")]
ToOpt = Annotated[str | None, typer.Option("--to", help="last session, YYYY-MM-DD")]
CashOpt = Annotated[float, typer.Option(
    help="starting cash in INR; total return is measured on it")]
SizeTypeOpt = Annotated[str, typer.Option(
    help="lots (--lots per trade), amount (--size units per trade) or percent (--size = "
         "fraction of equity per trade, 1 = all-in; vectorbt's size_type='percent')")]
SizeOpt = Annotated[float | None, typer.Option(
    help="units (amount), fraction of equity (percent) or lots (lots)")]
LotsOpt = Annotated[int, typer.Option(help="lots per trade (size type lots)")]
AllInOpt = Annotated[bool, typer.Option(
    "--all-in", help="the whole equity on each trade: --size-type percent --size 1")]
FractionalOpt = Annotated[bool, typer.Option(
    "--fractional", help="percent/amount sizing in fractional units (vectorbt's default), not "
                         "whole lots")]
DirectionOpt = Annotated[str, typer.Option(
    help="both, long (long-only) or short (short-only); the other side's entry signal then "
         "only closes a position")]
StopOpt = Annotated[float, typer.Option(help="stop-loss in points (0 off)")]
SlPctOpt = Annotated[float, typer.Option(
    help="stop-loss in percent of the entry price (0 off; vectorbt sl_stop x 100)")]
TrailOpt = Annotated[float, typer.Option(help="trailing stop in points (0 off)")]
TrailPctOpt = Annotated[float, typer.Option(
    help="trailing stop in percent of the peak (0 off; vectorbt sl_stop x 100, sl_trail)")]
TargetOpt = Annotated[float, typer.Option(help="target in points (0 off)")]
TpPctOpt = Annotated[float, typer.Option(
    help="target in percent of the entry price (0 off; vectorbt tp_stop x 100)")]
RoundOpt = Annotated[bool, typer.Option(
    "--round/--no-round", help="stop/trail/target prices on the tick grid (--no-round: exact, "
                               "as vectorbt)")]
SlippageOpt = Annotated[float, typer.Option(help="ticks against each fill")]
FillOpt = Annotated[str, typer.Option(
    help="next_open (a signal at a close fills at the next open) or close (vectorbt's)")]
MaxTradesOpt = Annotated[int, typer.Option(help="0 = unlimited")]
CutoffOpt = Annotated[str, typer.Option(help="venue (15:00 on NSE), none, or HH:MM")]
NoCostsOpt = Annotated[bool, typer.Option("--no-costs", help="ignore the cost model")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="k=v, repeatable")]


def _wide() -> Console:
    """The console for tables: a pipe or file is not a terminal, and rich would squeeze a
    table into 80 columns there."""
    return console if console.is_terminal else Console(width=160)


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ParamError(f"{flag} {text!r} is not a date YYYY-MM-DD") from None


def _pairs(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamError(f"--param {item!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def _sizing(size_type: str, size: float | None, lots: int, all_in: bool,
            fractional: bool) -> dict[str, Any]:
    """SimConfig fields of the sizing flags."""
    if all_in:
        if size_type != "lots" or size is not None:
            raise ParamError(f"--all-in is --size-type percent --size 1; not with --size-type "
                             f"{size_type} --size {size}")
        size_type, size = "percent", 1.0
    if size_type == "lots":
        if size is not None:
            if size != int(size):
                raise ParamError(f"--size {size}: size type lots takes whole lots")
            lots = int(size)
        return {"qty_lots": lots, "fractional": fractional}
    if size is None:
        raise ParamError(f"--size-type {size_type!r} needs --size")
    return {"size_type": size_type, "size": size, "fractional": fractional}


def _levels(stop_points: float, sl_pct: float, trail_points: float, trail_pct: float,
            target_points: float, tp_pct: float) -> dict[str, float]:
    """SimConfig fields of the stop/trail/target flags (percent -> fraction of price)."""
    for points, pct, flags in ((stop_points, sl_pct, "--stop-points/--sl-pct"),
                               (trail_points, trail_pct, "--trail-points/--trail-pct"),
                               (target_points, tp_pct, "--target-points/--tp-pct")):
        if points > 0 and pct > 0:
            raise ParamError(f"{flags} {points:g}/{pct:g}: give one, in points or in percent")
    return {"stop_points": stop_points, "stop_frac": sl_pct / 100.0,
            "trail_points": trail_points, "trail_frac": trail_pct / 100.0,
            "target_points": target_points, "target_frac": tp_pct / 100.0}


def _execution(cash: float, direction: str, round_levels: bool, slippage_ticks: float,
               fill: str, max_trades_per_day: int, sizing: dict[str, Any],
               levels: dict[str, float]) -> dict[str, Any]:
    """The SimConfig overrides of the execution flags (backtest and grid share them)."""
    return {"initial_capital_inr": cash, "direction": direction, "round_levels": round_levels,
            "slippage_ticks": slippage_ticks, "fill": fill,
            "max_trades_per_day": max_trades_per_day, **sizing, **levels}


def backtest(
    strategy: StrategyOpt, dataset: DatasetOpt, symbol: SymbolOpt = None,
    param: ParamOpt = None, start: FromOpt = None, end: ToOpt = None,
    cash: CashOpt = 1_000_000.0, size_type: SizeTypeOpt = "lots", size: SizeOpt = None,
    lots: LotsOpt = 1, all_in: AllInOpt = False, fractional: FractionalOpt = False,
    direction: DirectionOpt = "both",
    stop_points: StopOpt = 0.0, sl_pct: SlPctOpt = 0.0, trail_points: TrailOpt = 0.0,
    trail_pct: TrailPctOpt = 0.0, target_points: TargetOpt = 0.0, tp_pct: TpPctOpt = 0.0,
    round_levels: RoundOpt = True, slippage_ticks: SlippageOpt = 1.0,
    fill: FillOpt = "next_open", max_trades_per_day: MaxTradesOpt = 0,
    cutoff: CutoffOpt = "venue", no_costs: NoCostsOpt = False,
    trades: Annotated[Path | None, typer.Option(
        help="CSV for the trades table (the equity plot goes beside it)")] = None,
    impact_slippage: Annotated[bool, typer.Option(
        help="slippage from the impact calibration live uses (replaces --slippage-ticks)")]
    = False,
    plot: Annotated[bool, typer.Option("--plot/--no-plot",
                                       help="write the equity/drawdown PNG")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Backtest one strategy on one dataset: print the stats, write the trades and a plot."""
    from stratops.backtest_ops import RunRequest, run_backtest

    request = RunRequest(
        strategy=strategy, dataset=dataset, symbol=symbol, params=_pairs(param),
        start=_date(start, "--from"), end=_date(end, "--to"), costs=not no_costs, cutoff=cutoff,
        sim=_execution(cash, direction, round_levels, slippage_ticks, fill, max_trades_per_day,
                       _sizing(size_type, size, lots, all_in, fractional),
                       _levels(stop_points, sl_pct, trail_points, trail_pct, target_points,
                               tp_pct)),
        impact_slippage=impact_slippage,
    )
    with err_console.status(f"backtesting {strategy} on {dataset} ..."):
        run = run_backtest(request)
    _report_backtest(request, run, trades, plot, as_json)


def _report_backtest(request: RunRequest, run: BacktestRun, trades: Path | None, plot: bool,
                     as_json: bool) -> None:
    from stratops.backtest_ops import default_output, plot_path
    from stratops.backtest_report import (
        build_report,
        execution_summary,
        no_trade_note,
        write_equity_plot,
    )

    result, config = run.result, run.config
    out = trades or default_output(request, run.symbol, "trades")
    out.parent.mkdir(parents=True, exist_ok=True)
    result.trades.to_csv(out, index=False)
    title = f"{request.strategy} on {request.dataset}:{run.symbol}  {run.params}"
    png = write_equity_plot(result, plot_path(out), title) if plot else None
    report = build_report(result, run.bar)
    notes = [n for n in (report.ruin, no_trade_note(result, config)) if n is not None]
    if as_json:
        reasons = result.trades["exit_reason"].value_counts().to_dict()
        typer.echo(json.dumps({
            "strategy": request.strategy, "dataset": request.dataset, "symbol": run.symbol,
            "params": str(run.params), "execution": execution_summary(config),
            "metrics": report.as_dict(), "labels": {k: label for k, label, _ in report.rows},
            "exit_reasons": reasons, "notes": notes, "trades_csv": str(out),
            "plot": None if png is None else str(png)}, indent=2))
        return
    _print_report(title, report, execution_summary(config))
    if len(result.trades):
        counts = result.trades["exit_reason"].value_counts()
        console.print("exit reasons: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
                      markup=False)
    for note in notes:
        console.print(note, style="yellow", markup=False)
    console.print(f"trades written to {out}", markup=False, soft_wrap=True)
    if png is not None:
        console.print(f"equity/drawdown plot written to {png}", markup=False, soft_wrap=True)


_PERCENT_KEYS = {"total_return", "max_drawdown", "hit_ratio", "exposure"}


def _print_report(title: str, report: Report, execution: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label, value in report.rows:
        if key in _PERCENT_KEYS:
            text = f"{value * 100:,.2f} %"
        elif key in ("trades", "sessions"):
            text = f"{value:,.0f}"
        else:
            text = f"{value:,.4f}" if key.startswith("sharpe") or key == "profit_factor" \
                else f"{value:,.2f}"
        table.add_row(label, text)
    _wide().print(table)
    console.print(execution, markup=False)


def grid(
    strategy: StrategyOpt, dataset: DatasetOpt, symbol: SymbolOpt = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="k=v or k=v1,v2: that parameter's values instead of its declared "
                              "range (repeatable)")] = None,
    start: FromOpt = None, end: ToOpt = None, cash: CashOpt = 1_000_000.0,
    size_type: SizeTypeOpt = "lots", size: SizeOpt = None, lots: LotsOpt = 1,
    all_in: AllInOpt = False, fractional: FractionalOpt = False,
    direction: DirectionOpt = "both",
    stop_points: StopOpt = 0.0, sl_pct: SlPctOpt = 0.0, trail_points: TrailOpt = 0.0,
    trail_pct: TrailPctOpt = 0.0, target_points: TargetOpt = 0.0, tp_pct: TpPctOpt = 0.0,
    round_levels: RoundOpt = True, slippage_ticks: SlippageOpt = 1.0,
    fill: FillOpt = "next_open", max_trades_per_day: MaxTradesOpt = 0,
    cutoff: CutoffOpt = "venue", no_costs: NoCostsOpt = False,
    top: Annotated[int, typer.Option(help="rows to print, best Sharpe first")] = 10,
    csv: Annotated[Path | None, typer.Option(
        "--csv", "--out", help="CSV for every combination (default data/backtests/...)")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print every combination as JSON (best Sharpe first)")] = False,
) -> None:
    """Evaluate every combination of the strategy's parameter space (one compiled pass)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from strategies.roster import get_strategy
    from stratops.backtest_ops import RunRequest, default_output, grid_combos, run_param_grid

    request = RunRequest(
        strategy=strategy, dataset=dataset, symbol=symbol, params=_pairs(param),
        start=_date(start, "--from"), end=_date(end, "--to"), costs=not no_costs, cutoff=cutoff,
        sim=_execution(cash, direction, round_levels, slippage_ticks, fill, max_trades_per_day,
                       _sizing(size_type, size, lots, all_in, fractional),
                       _levels(stop_points, sl_pct, trail_points, trail_pct, target_points,
                               tp_pct)),
    )
    grid_combos(get_strategy(strategy), request.params)  # bad --param: no progress bar
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console) as progress:
        task = progress.add_task(f"grid {strategy}", total=None)
        result, used_symbol = run_param_grid(request, lambda k: progress.advance(task, k),
                                             lambda total: progress.update(task, total=total))
    frame = result.frame().sort_values("sharpe", ascending=False, kind="stable")
    path = csv or default_output(request, used_symbol, "grid")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    if as_json:
        typer.echo(json.dumps(_records(frame), indent=2))
        err_console.print(f"{len(frame)} combinations written to {path}", markup=False)
        return
    title = f"{strategy} on {dataset}:{used_symbol}: top {min(top, len(frame))} of {len(frame)}"
    table = grid_table(frame.head(top), title, list(get_params(result.params[0])))
    _wide().print(table)
    console.print(f"{len(frame)} combinations written to {path}", markup=False, soft_wrap=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from stratops.backtest_report import plain

    return [{k: plain(v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


# grid columns as printed: metric -> (header, format); the caption says what they mean
GRID_COLUMNS = {
    "sharpe": ("Sharpe", "{:.2f}"),
    "total_return": ("return", "{:.1%}"),
    "max_drawdown": ("max DD", "{:.1%}"),
    "trades": ("trades", "{:.0f}"),
    "hit_ratio": ("hit", "{:.0%}"),
    "profit_factor": ("PF", "{:.2f}"),
    "net_pnl_inr": ("net INR", "{:,.0f}"),
    "costs_inr": ("costs INR", "{:,.0f}"),
}
GRID_CAPTION = ("Sharpe: per-session returns, mean/sd x sqrt(252), rf 0; return: on the "
                "starting cash; max DD: deepest fall from an equity peak; hit: share of "
                "winning trades; PF: gains / losses; net INR: P&L after costs")


def grid_table(frame: pd.DataFrame, title: str, param_names: list[str]) -> Table:
    """The best rows as a table: rank, the parameters, then the labelled metrics."""
    table = Table(title=title, caption=GRID_CAPTION, box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    for name in param_names:
        table.add_column(name, justify="right", style="cyan", no_wrap=True)
    for header, _ in GRID_COLUMNS.values():
        table.add_column(header, justify="right", no_wrap=True)
    for rank, row in enumerate(frame.to_dict("records"), start=1):
        cells = [str(rank), *(str(row[n]) for n in param_names)]
        cells += [fmt.format(row[key]) for key, (_, fmt) in GRID_COLUMNS.items()]
        table.add_row(*cells)
    return table
