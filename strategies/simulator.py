"""The bar simulator: typed configuration in, trades table and equity curve out.

The compiled core and its conventions are in :mod:`strategies.sim_kernel`; this module
validates the configuration, runs one backtest and shapes the result. Analytics on the
equity curve (returns statistics, drawdowns) come from vectorbt, not from hand-written code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from strategies.bars import Bars
from strategies.costs import N_RATES, CostRates
from strategies.params import ParamError, require
from strategies.rules import LEVEL_KEYS, REASONS, check_fill, check_levels, check_slippage
from strategies.signals import Signals
from strategies.sim_kernel import (
    C_CAPITAL,
    C_DIRECTION,
    C_LEVEL_TICK,
    C_MAX_TRADES,
    C_NEXT_OPEN,
    C_QTY,
    C_QTY_STEP,
    C_SIZE_FRAC,
    C_SLIP,
    C_STOP,
    C_STOP_FRAC,
    C_TARGET,
    C_TARGET_FRAC,
    C_TRAIL,
    C_TRAIL_FRAC,
    M_TRADES,
    METRIC_NAMES,
    N_CFG,
    N_TRADE_COLS,
    T_COSTS,
    T_ENTRY_IDX,
    T_ENTRY_PX,
    T_EXIT_IDX,
    T_EXIT_PX,
    T_GROSS,
    T_NET,
    T_QTY,
    T_REASON,
    T_SIDE,
    simulate_kernel,
)

FillConvention = Literal["next_open", "close"]
SizeType = Literal["lots", "amount", "percent"]
Direction = Literal["both", "long", "short"]
DIRECTION_CODES = {"both": 0.0, "long": 1.0, "short": -1.0}
ZERO_COSTS = np.zeros(N_RATES)


@dataclass(frozen=True, kw_only=True, slots=True)
class SimConfig:
    """How trades are taken: size, stops (points or fraction of price), cutoff, costs.

    ``*_points`` and ``*_frac`` of one rule are exclusive; 0 disables a rule.
    ``max_trades_per_day`` 0 means unlimited. ``costs`` None means zero costs.
    Size: ``size_type="lots"`` trades ``qty_lots`` x ``lot_size`` units; ``"amount"``
    ``size`` units; ``"percent"`` a fraction ``size`` of equity (1 = all-in; vectorbt's
    ``size_type="percent"``), in whole lots unless ``fractional``. ``direction`` "long" or
    "short" takes only that side's entries (the other side's entry still closes a position).
    """

    qty_lots: int = 1
    lot_size: int = 1
    stop_points: float = 0.0
    stop_frac: float = 0.0
    trail_points: float = 0.0
    trail_frac: float = 0.0
    target_points: float = 0.0
    target_frac: float = 0.0
    max_trades_per_day: int = 0
    slippage_ticks: float = 0.0
    tick_size: float = 0.05
    fill: FillConvention = "next_open"
    initial_capital_inr: float = 1_000_000.0
    costs: CostRates | None = None
    round_levels: bool = True  # stop/trail/target prices on the tick_size grid
    size_type: SizeType = "lots"
    size: float = 0.0  # "amount": units per trade; "percent": fraction of equity
    fractional: bool = False  # "percent" sizing: fractional units, not whole lots
    direction: Direction = "both"

    def __post_init__(self) -> None:
        check_config(asdict_shallow(self))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "sim.") -> SimConfig:
        """A config from plain data (a registered version's ``sim``, a settings file):
        numbers coerced to the field's type (None: 0 for an exit rule), an unknown key or a
        bad value refused with a :class:`ParamError` naming ``where`` + the field."""
        unknown = sorted(str(k) for k in values if k not in _FIELD_KINDS)
        if unknown:
            raise ParamError(f"{where or 'config '}keys {unknown}: unknown; known: "
                             f"{sorted(_FIELD_KINDS)}")
        typed = {name: _coerce(f"{where}{name}", value, _FIELD_KINDS[name])
                 for name, value in values.items()}
        check_config({**asdict_shallow(_DEFAULTS), **typed}, where)
        return cls(**typed)

    @property
    def qty(self) -> float:
        """Units per trade (lots x lot size, or ``size`` for ``size_type="amount"``); a
        ``"percent"`` size has none (each trade's is in the trades table)."""
        if self.size_type == "percent":
            raise ParamError(f"size_type={self.size_type!r}: no fixed quantity per trade")
        if self.size_type == "amount":
            return self.size
        return self.qty_lots * self.lot_size

    def to_array(self) -> np.ndarray:
        cfg = np.zeros(N_CFG)
        percent = self.size_type == "percent"
        cfg[C_QTY] = 0.0 if percent else self.qty
        cfg[C_SIZE_FRAC] = self.size if percent else 0.0
        cfg[C_QTY_STEP] = 0.0 if self.fractional else float(self.lot_size)
        cfg[C_DIRECTION] = DIRECTION_CODES[self.direction]
        cfg[C_STOP], cfg[C_STOP_FRAC] = self.stop_points, self.stop_frac
        cfg[C_TRAIL], cfg[C_TRAIL_FRAC] = self.trail_points, self.trail_frac
        cfg[C_TARGET], cfg[C_TARGET_FRAC] = self.target_points, self.target_frac
        cfg[C_MAX_TRADES] = self.max_trades_per_day
        cfg[C_SLIP] = self.slippage_ticks * self.tick_size
        cfg[C_NEXT_OPEN] = 1.0 if self.fill == "next_open" else 0.0
        cfg[C_CAPITAL] = self.initial_capital_inr
        cfg[C_LEVEL_TICK] = self.tick_size if self.round_levels else 0.0
        return cfg

    def rates(self) -> np.ndarray:
        return self.costs.as_array() if self.costs is not None else ZERO_COSTS


def asdict_shallow(config: SimConfig) -> dict[str, Any]:
    """The fields of ``config`` by name (costs kept as the object, unlike ``asdict``)."""
    return {f.name: getattr(config, f.name) for f in fields(config)}


def check_config(values: Mapping[str, Any], where: str = "") -> None:
    """Refuse :class:`SimConfig` field values outside their domain (every field present),
    naming ``where`` + the field: the one validation of the execution rules."""
    for name in ("qty_lots", "lot_size"):
        require(values[name] >= 1, f"{where}{name}", values[name], "must be >= 1")
    require(np.isfinite(values["max_trades_per_day"]) and values["max_trades_per_day"] >= 0,
            f"{where}max_trades_per_day", values["max_trades_per_day"],
            "must be finite and >= 0")
    check_levels(values, where)
    check_slippage(values["slippage_ticks"], values["tick_size"], where)
    check_fill(values["fill"], where)
    require(values["initial_capital_inr"] > 0, f"{where}initial_capital_inr",
            values["initial_capital_inr"], "must be > 0")
    require(values["direction"] in DIRECTION_CODES, f"{where}direction", values["direction"],
            "must be 'both', 'long' or 'short'")
    _check_size(values, where)


def _check_size(values: Mapping[str, Any], where: str) -> None:
    size_type, size, lot_size = values["size_type"], values["size"], values["lot_size"]
    require(size_type in ("lots", "amount", "percent"), f"{where}size_type", size_type,
            "must be 'lots', 'amount' or 'percent'")
    if size_type == "lots":
        require(size == 0, f"{where}size", size, "size_type 'lots' takes qty_lots")
        return
    require(bool(np.isfinite(size)) and size > 0, f"{where}size", size,
            "must be finite and > 0")
    if size_type == "amount" and not values["fractional"]:
        require(size % lot_size == 0, f"{where}size", size,
                f"must be a whole number of lots of {lot_size} (or fractional)")


def _coerce(name: str, value: Any, kind: type) -> Any:
    """``value`` as a ``kind`` field's value: ints and floats from numbers (an int only from
    a whole one; None is 0 for the exit rules), bools and strings as they are."""
    if value is None and name.rsplit(".", 1)[-1] in LEVEL_KEYS:
        return 0.0
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int | float) and not isinstance(value, bool) and (
            float(value).is_integer()):
        return int(value)
    if kind is CostRates and (value is None or isinstance(value, CostRates)):
        return value
    require(kind in (bool, str) and isinstance(value, kind), name, value,
            f"must be {'a number' if kind in (int, float) else kind.__name__}")
    return value


_DEFAULTS = SimConfig()
_FIELD_KINDS: dict[str, type] = {
    "qty_lots": int, "lot_size": int, **dict.fromkeys(LEVEL_KEYS, float),
    "max_trades_per_day": int, "slippage_ticks": float, "tick_size": float, "fill": str,
    "initial_capital_inr": float, "costs": CostRates, "round_levels": bool, "size_type": str,
    "size": float, "fractional": bool, "direction": str}


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Closed trades, the equity curve at each bar's close, and the summary metrics."""

    trades: pd.DataFrame
    equity: pd.Series
    metrics: dict[str, float]

    def stats(self) -> pd.Series:
        """Returns statistics of the daily equity curve (vectorbt's returns accessor)."""
        import warnings

        import vectorbt as vbt  # noqa: F401  (registers the .vbt accessor)

        daily = self.equity.groupby(self.equity.index.normalize()).last()
        returns = daily / daily.shift(1).fillna(self.metrics["capital"]) - 1.0
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*requires benchmark_rets.*")
            return returns.vbt.returns(freq="1D", year_freq="252D").stats()


def kernel_inputs(bars: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                       np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """The bar arrays in the order :func:`simulate_kernel` takes them."""
    return (bars.open, bars.high, bars.low, bars.close, bars.session, bars.entry_ok,
            bars.entry_ok_at_close, bars.cutoff_exit, bars.session_last,
            bars.flat_at_session_end)


def simulate(bars: Bars, signals: Signals, config: SimConfig) -> BacktestResult:
    """Backtest one instrument: trades table (entry/exit ts, side, qty, prices, costs, exit
    reason) and equity curve in INR."""
    signals.check_length(len(bars))
    n = len(bars)
    trades = np.zeros((n, N_TRADE_COLS))  # each trade has its own entry bar: at most n
    equity = np.zeros(n)
    metrics = simulate_kernel(*kernel_inputs(bars), *signals.arrays(), config.to_array(),
                              config.rates(), True, trades, equity, np.zeros(0))
    k = int(metrics[M_TRADES])
    rows = trades[:k]
    entry_idx = rows[:, T_ENTRY_IDX].astype(np.int64)
    exit_idx = rows[:, T_EXIT_IDX].astype(np.int64)
    table = pd.DataFrame({
        "symbol": bars.symbol,
        "entry_ts": bars.ts[entry_idx], "exit_ts": bars.ts[exit_idx],
        "side": np.where(rows[:, T_SIDE] > 0, "long", "short"),
        "qty": rows[:, T_QTY] if config.fractional else rows[:, T_QTY].astype(np.int64),
        "entry_price": rows[:, T_ENTRY_PX], "exit_price": rows[:, T_EXIT_PX],
        "gross_pnl_inr": rows[:, T_GROSS], "costs_inr": rows[:, T_COSTS],
        "net_pnl_inr": rows[:, T_NET],
        "exit_reason": [REASONS[int(r)] for r in rows[:, T_REASON]],
        "entry_idx": entry_idx, "exit_idx": exit_idx,
    })
    summary = dict(zip(METRIC_NAMES, (float(v) for v in metrics), strict=True))
    summary["capital"] = config.initial_capital_inr
    return BacktestResult(table, pd.Series(equity, index=bars.ts, name="equity_inr"), summary)
