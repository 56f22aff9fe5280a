"""A strategy as an MLflow "model from code": bars in, the strategy's own signals out.

MLflow logs this file as source, not a pickle, and runs it on load; the registered version's
``model_config`` names the strategy, its params, venue and cutoff. Prediction calls the very
same ``bars_from_frame`` + ``StrategySpec.signals`` path as research, so a registered version
signals exactly what its walk-forward traded. The config is decoded by
:meth:`VersionConfig.from_json`, the codec every reader of a version shares. This is the only
module of ``strategies`` that imports MLflow (nothing else imports it: an import-linter
contract keeps ``live`` away from it).
"""

from __future__ import annotations

from datetime import time
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext  # mlflow.pyfunc is lazy: opaque

from strategies.bars import BarsInputError, bars_from_frame
from strategies.spec import StrategySpec
from strategies.version_config import VersionConfig, VersionConfigError

BAR_COLUMNS = ("ts", "symbol", "open", "high", "low", "close", "volume")
SIGNAL_COLUMNS = ("long_entry", "long_exit", "short_entry", "short_exit")
__all__ = ["StrategyModel", "VersionConfig", "VersionConfigError", "signals_frame"]


def _check_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise BarsInputError(f"model input must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise BarsInputError(f"bar frame lacks columns {missing}; has {list(frame.columns)}")
    if not isinstance(frame["ts"].dtype, pd.DatetimeTZDtype):
        raise BarsInputError(f"bar frame column 'ts' must be timezone-aware, got "
                             f"{frame['ts'].dtype}")


def signals_frame(spec: StrategySpec, params: Any, venue: str, cutoff: time | str | None,
                  frame: pd.DataFrame) -> pd.DataFrame:
    """Signals of ``spec`` with ``params`` for every symbol of a bar frame.

    Returns ``ts, symbol`` and the four signal columns, row for row in the input's order
    (and index); each symbol's rows must be in ascending time, as :func:`bars_from_frame`
    requires.
    """
    _check_frame(frame)
    symbols = frame["symbol"].to_numpy()
    out = {name: np.zeros(len(frame), dtype=bool) for name in SIGNAL_COLUMNS}
    for symbol in pd.unique(symbols):
        rows = np.flatnonzero(symbols == symbol)
        bars = bars_from_frame(frame.iloc[rows], symbol=symbol, venue=venue, cutoff=cutoff)
        signals = spec.signals(bars, params)
        for name, values in zip(SIGNAL_COLUMNS, signals.arrays(), strict=True):
            out[name][rows] = values
    return pd.DataFrame({"ts": frame["ts"].array, "symbol": frame["symbol"].array, **out},
                        index=frame.index)


class StrategyModel(PythonModel):
    """The pyfunc face of one strategy version; its config comes from ``model_config``."""

    def load_context(self, context: PythonModelContext) -> None:
        self.config_ = VersionConfig.from_json(context.model_config)

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        cfg = self.config_
        return signals_frame(cfg.spec, cfg.params, cfg.venue, cfg.cutoff, model_input)


mlflow.models.set_model(StrategyModel())
