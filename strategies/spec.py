"""What the engine needs to know about a strategy: params, space, priority, and its kernel.

A strategy is data plus pure functions. Its :class:`Plan` turns bars and a list of params
into an indicator table (each distinct indicator computed once, shared by every
combination) and per-combination row indices and numbers; its signal kernel (numba) turns
one combination's rows into entry/exit arrays. The single backtest and the grid engine run
the very same kernel, so a combination's grid metrics equal its standalone backtest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from strategies.bars import Bars, BarsInputError
from strategies.params import get_params, in_space, params_hash
from strategies.signals import Signals


@dataclass(frozen=True, slots=True)
class Plan:
    """``table`` (rows x bars) of indicator series; ``idx`` (combos x k) rows each combination
    reads (-1 = unused); ``values`` (combos x m) its numeric parameters."""

    table: np.ndarray
    idx: np.ndarray
    values: np.ndarray


class TableBuilder:
    """Collects distinct indicator series by key so each is computed once."""

    def __init__(self, n_bars: int) -> None:
        self._rows: dict[tuple[Any, ...], int] = {}
        self._series: list[np.ndarray] = []
        self.n_bars = n_bars

    def row(self, key: tuple[Any, ...], compute: Callable[[], np.ndarray]) -> int:
        if key not in self._rows:
            self._rows[key] = len(self._series)
            self._series.append(compute())
        return self._rows[key]

    def series(self, row: int) -> np.ndarray:
        """A row already computed (for indicators built on other indicators)."""
        return self._series[row]

    def table(self) -> np.ndarray:
        if not self._series:
            return np.zeros((1, self.n_bars))
        return np.ascontiguousarray(np.vstack(self._series))


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A registered strategy. ``priority``: lower wins when several enter on one bar."""

    name: str
    params_cls: type[Any]
    space: Mapping[str, Sequence[Any]]
    priority: int
    warmup: Callable[[Any], int]
    plan: Callable[[Bars, Sequence[Any]], Plan]
    kernel: Any  # numba dispatcher: (o, h, l, c, session, bar_in_session, table, idx, values,
    #              long_entry, long_exit, short_entry, short_exit) -> None
    description: str = ""

    def default_params(self) -> Any:
        return self.params_cls()

    def make_params(self, **overrides: Any) -> Any:
        params = self.params_cls(**overrides)
        in_space(params, self.space)
        return params

    def signals(self, bars: Bars, params: Any) -> Signals:
        """Entry/exit signals of ``params`` on ``bars`` (the grid engine's own kernel)."""
        self.check_length(bars, params)
        plan = self.plan(bars, [params])
        out = Signals.empty(len(bars))
        self.kernel(bars.open, bars.high, bars.low, bars.close, bars.session,
                    bars.bar_in_session, plan.table, plan.idx[0], plan.values[0], *out.arrays())
        return out

    def check_length(self, bars: Bars, params: Any) -> None:
        need = self.warmup(params) + 2
        if len(bars) < need:
            raise BarsInputError(
                f"{self.name}: {len(bars)} bars of {bars.symbol} are fewer than the {need} "
                f"the warm-up of {get_params(params)} needs"
            )

    def tag(self, params: Any) -> str:
        return f"{self.name}-{params_hash(params)}"
