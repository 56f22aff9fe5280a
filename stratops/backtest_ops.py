"""What ``stratops backtest`` and ``stratops grid`` do, apart from printing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from pipelines.datasets.catalog import DatasetUnavailableError, find_dataset
from pipelines.datasets.schema import DatasetMeta, read_dataset
from pipelines.datasets.timeframes import parse_timeframe
from strategies.bars import Bars, bars_from_frame
from strategies.costs import load_cost_rates
from strategies.grid import GridResult, run_grid
from strategies.names import path_under, validate_name, validate_symbol
from strategies.params import ParamError, coerce, expand_space, in_space
from strategies.roster import get_strategy
from strategies.simulator import BacktestResult, SimConfig, simulate
from strategies.spec import StrategySpec
from strategies.venues import CutoffError
from strategies.venues import parse_cutoff as parse_venue_cutoff
from stratops.settings import load_settings


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRequest:
    """One backtest or grid: what to trade, on which data, with which execution rules."""

    strategy: str
    dataset: str
    symbol: str | None = None
    params: dict[str, str] | None = None
    start: date | None = None
    end: date | None = None
    sim: dict[str, Any] | None = None
    costs: bool = True
    cutoff: str = "venue"  # "venue", "none" or HH:MM in venue time
    impact_slippage: bool = False  # slippage from the impact calibration (execution_ops)

    def __post_init__(self) -> None:
        validate_name(self.strategy, field="--strategy")
        validate_name(self.dataset, field="--dataset")
        if self.symbol is not None:
            validate_symbol(self.symbol, field="--symbol")


def load_bars(request: RunRequest) -> tuple[Bars, DatasetMeta]:
    """The dataset's bars of one symbol (default: its first), cut to [start, end]."""
    entry = find_dataset(load_settings().root, request.dataset)
    if entry.meta is None:
        why = f" ({entry.problem})" if entry.problem else ""
        raise DatasetUnavailableError(
            f"dataset {request.dataset!r} is {entry.state}{why}; run `stratops data build`")
    frame = read_dataset(entry.path)
    symbol = request.symbol or entry.symbols[0]
    if symbol not in entry.symbols:
        raise ParamError(f"symbol {symbol!r} not in dataset {request.dataset!r} "
                         f"({list(entry.symbols)})")
    frame = frame[frame["symbol"] == symbol]
    local_day = frame["ts"].dt.tz_localize(None).dt.normalize()
    if request.start is not None:
        frame = frame[local_day >= pd.Timestamp(request.start)]
    if request.end is not None:
        frame = frame[local_day.loc[frame.index] <= pd.Timestamp(request.end)]
    return bars_from_frame(frame, symbol=symbol, venue=entry.meta.venue,
                           cutoff=parse_cutoff(request.cutoff)), entry.meta


def parse_cutoff(text: str) -> time | str | None:
    """``--cutoff``: ``venue`` (the venue's own), ``none`` (no forced flat), or ``HH:MM``
    venue time, by the one cutoff parser (:func:`strategies.venues.parse_cutoff`)."""
    try:
        return parse_venue_cutoff(text, field="--cutoff")
    except CutoffError as exc:
        raise ParamError(str(exc)) from None


def sim_config(request: RunRequest, bars: Bars, meta: DatasetMeta) -> SimConfig:
    """Execution rules: lot and tick from the dataset's instrument facts, NSE F&O costs in
    force on the first bar's date for NSE data (none elsewhere, or with ``costs=False``)."""
    instrument = meta.instruments.get(bars.symbol)
    rates = None
    if request.costs and meta.venue == "NSE":
        rates = load_cost_rates("index_future", on=bars.ts[0].date())
    defaults: dict[str, Any] = {
        "lot_size": instrument.lot_size if instrument else 1,
        "tick_size": instrument.tick_size if instrument else 0.01,
        "costs": rates,
    }
    values = {**defaults, **(request.sim or {})}
    if request.impact_slippage:
        from stratops.execution_ops import impact_slippage_ticks

        values["slippage_ticks"] = impact_slippage_ticks(bars, values)
    return SimConfig(**values)


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """A finished backtest and what it ran on."""

    result: BacktestResult
    params: Any
    config: SimConfig
    symbol: str
    bar: pd.Timedelta  # the dataset's timeframe (vectorbt's ``freq``)


def run_backtest(request: RunRequest) -> BacktestRun:
    spec = get_strategy(request.strategy)
    bars, meta = load_bars(request)
    params = spec.make_params(**coerce(spec.params_cls, request.params or {}))
    config = sim_config(request, bars, meta)
    return BacktestRun(simulate(bars, spec.signals(bars, params), config), params, config,
                       bars.symbol, parse_timeframe(meta.timeframe))


def grid_combos(spec: StrategySpec, fixed: dict[str, str] | None) -> list[Any]:
    """The strategy's declared space with each ``fixed`` parameter's dimension replaced by
    its comma-separated values (each inside the declared space); every valid combination."""
    space: dict[str, Sequence[Any]] = dict(spec.space)
    for name, text in (fixed or {}).items():
        values = [coerce(spec.params_cls, {name: v.strip()})[name] for v in text.split(",")]
        if name in spec.space:
            for value in values:
                in_space(SimpleNamespace(**{name: value}), {name: spec.space[name]})
        space[name] = values
    combos = list(expand_space(spec.params_cls, space))
    if not combos:
        given = " ".join(f"{k}={v}" for k, v in (fixed or {}).items())
        raise ParamError(f"--param {given}: no valid combination of {spec.name}'s parameters")
    return combos


def run_param_grid(request: RunRequest, progress: Callable[[int], None] | None,
                   on_total: Callable[[int], None] | None = None) -> tuple[GridResult, str]:
    spec = get_strategy(request.strategy)
    bars, meta = load_bars(request)
    combos = grid_combos(spec, request.params)
    if on_total is not None:
        on_total(len(combos))
    config = sim_config(request, bars, meta)
    return run_grid(spec, bars, config, combos, progress=progress), bars.symbol


def default_output(request: RunRequest, symbol: str, kind: str) -> Path:
    """``data/backtests/<strategy>_<dataset>_<symbol>_<kind>.csv`` (git-ignored), built from
    validated names only and kept under ``data/backtests``."""
    name = (f"{validate_name(request.strategy, field='strategy')}_"
            f"{validate_name(request.dataset, field='dataset')}_{validate_symbol(symbol)}_"
            f"{validate_name(kind, field='kind')}.csv")
    return path_under(load_settings().root / "data" / "backtests", name)


def plot_path(trades_csv: Path) -> Path:
    """The equity/drawdown plot beside the trades CSV: ``<stem>_equity.png``."""
    return trades_csv.with_name(f"{trades_csv.stem.removesuffix('_trades')}_equity.png")

