"""What ``stratops backtest`` reports besides the trades: labelled metrics, the two Sharpe
conventions, why an account ended at -100 %, and the equity/drawdown plot."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from strategies.simulator import BacktestResult, SimConfig

SHARPE_OURS = "Sharpe, ours (per-session returns, mean/sd x sqrt(252), rf 0)"


def freq_alias(freq: pd.Timedelta) -> str:
    """``freq`` as the pandas alias one passes to vectorbt: ``1D``, ``1h``, ``1min``."""
    seconds = int(freq.total_seconds())
    for unit, size in (("D", 86_400), ("h", 3_600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def vectorbt_sharpe_label(freq: pd.Timedelta) -> str:
    alias = freq_alias(freq)
    return (f"vectorbt Sharpe Ratio (from_signals(freq='{alias}'): per-bar returns, "
            f"mean/sd x sqrt(365 days / {alias}))")


@dataclass(frozen=True, slots=True)
class Report:
    """One backtest's numbers, labelled as they are printed (and keyed as in ``--json``)."""

    rows: list[tuple[str, str, float]]  # (json key, label, value)
    ruin: str | None  # why the account stopped trading, if it did

    def as_dict(self) -> dict[str, float | None]:
        return {key: plain(value) for key, _, value in self.rows}


def vectorbt_sharpe(result: BacktestResult, freq: pd.Timedelta) -> float:
    """vectorbt's Sharpe of the equity curve as ``Portfolio.from_signals(..., freq=freq)``
    computes it: each bar's return (the first on the starting cash), annualised with
    vectorbt's default year of 365 days: sqrt(365 days / ``freq``)."""
    import vectorbt as vbt  # noqa: F401  (registers the .vbt accessor)

    equity = result.equity
    returns = equity / equity.shift(1).fillna(result.metrics["capital"]) - 1.0
    return float(returns.reset_index(drop=True).vbt.returns(freq=freq).sharpe_ratio())


def build_report(result: BacktestResult, freq: pd.Timedelta) -> Report:
    """The metrics in the order and with the labels the CLI prints."""
    m = result.metrics
    final = m["capital"] + m["net_pnl_inr"]
    rows = [
        ("starting_cash_inr", "starting cash (INR)", m["capital"]),
        ("final_equity_inr", "final equity (INR)", final),
        ("total_return", "total return on the starting cash", m["total_return"]),
        ("net_pnl_inr", "net P&L (INR)", m["net_pnl_inr"]),
        ("gross_pnl_inr", "gross P&L (INR)", m["gross_pnl_inr"]),
        ("costs_inr", "costs (INR)", m["costs_inr"]),
        ("max_drawdown", "max drawdown", m["max_drawdown"]),
        ("trades", "trades", m["trades"]),
        ("hit_ratio", "hit ratio", m["hit_ratio"]),
        ("profit_factor", "profit factor (gains / losses)", m["profit_factor"]),
        ("exposure", "exposure (share of bars in a position)", m["exposure"]),
        ("sessions", "sessions", m["days"]),
        ("sharpe", SHARPE_OURS, m["sharpe"]),
        ("sharpe_vectorbt", vectorbt_sharpe_label(freq), vectorbt_sharpe(result, freq)),
    ]
    return Report(rows, ruin_note(result))


def ruin_note(result: BacktestResult) -> str | None:
    """Why the run stopped trading, when equity reached zero (the simulator's ruin rule)."""
    ruined = result.trades[result.trades["exit_reason"] == "ruin"]
    if ruined.empty:
        return None
    when = ruined["exit_ts"].iloc[0]
    capital = result.metrics["capital"]
    return (f"ruin: equity reached zero or below at {when} (the position was worth more than "
            f"the account); the simulator closed it at that bar's close and took no further "
            f"trade. Total return is measured on the starting cash of INR {capital:,.2f}, so "
            f"-100 % means all of it was lost (below -100 %: more than it). Size the account "
            f"with --cash, --lots or --size-type percent --size F.")


def no_trade_note(result: BacktestResult, config: SimConfig) -> str | None:
    """A hint when a percent size traded nothing: it opens only whole lots."""
    if config.size_type != "percent" or len(result.trades) or config.fractional:
        return None
    return (f"no trade taken: a percent size opens a position only when {config.size:g} x "
            f"equity (INR {config.initial_capital_inr:,.2f} at the start) buys at least one lot "
            f"of {config.lot_size}; raise --cash or add --fractional")


def execution_summary(config: SimConfig) -> str:
    """One line saying how trades were taken."""
    if config.size_type == "percent":
        units = "fractional units" if config.fractional else f"whole lots of {config.lot_size}"
        size = f"{config.size:g} x equity per trade ({units})"
    elif config.size_type == "amount":
        size = f"{config.qty:g} units per trade"
    else:
        size = f"{config.qty_lots} x {config.lot_size} = {config.qty:g} units per trade"
    levels = []
    for rule in ("stop", "trail", "target"):
        points, frac = getattr(config, f"{rule}_points"), getattr(config, f"{rule}_frac")
        if points > 0:
            levels.append(f"{rule} {points:g} pts")
        elif frac > 0:
            levels.append(f"{rule} {frac * 100:g} %")
    costs = config.costs.version if config.costs is not None else "none"
    grid = "on the tick grid" if config.round_levels else "exact"
    rules = f"{', '.join(levels)} ({grid})" if levels else "no stop/trail/target"
    return (f"fill {config.fill}, {size}, direction {config.direction}, {rules}, "
            f"slippage {config.slippage_ticks:g} ticks of {config.tick_size:g}, "
            f"costs schedule {costs}")


def drawdown(equity: pd.Series, capital: float) -> pd.Series:
    """Fall from the running equity peak (the starting cash counts as the first peak)."""
    peak = np.maximum.accumulate(np.maximum(equity.to_numpy(), capital))
    return pd.Series(equity.to_numpy() / peak - 1.0, index=equity.index, name="drawdown")


def write_equity_plot(result: BacktestResult, path: Path, title: str) -> Path:
    """A PNG of the equity curve (INR) over its drawdown (%)."""
    from matplotlib.figure import Figure

    capital = result.metrics["capital"]
    index = result.equity.index.tz_localize(None) if isinstance(
        result.equity.index, pd.DatetimeIndex) else result.equity.index
    fig = Figure(figsize=(11, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(index, result.equity.to_numpy(), lw=0.9, color="tab:blue")
    top.axhline(capital, lw=0.6, ls="--", color="grey")
    top.set_ylabel("equity (INR)")
    top.set_title(title, fontsize=10)
    dd = drawdown(result.equity, capital).to_numpy() * 100.0
    bottom.fill_between(index, dd, 0.0, color="tab:red", alpha=0.4, lw=0)
    bottom.set_ylabel("drawdown (%)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def plain(value: Any) -> Any:
    """A JSON-safe scalar: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
