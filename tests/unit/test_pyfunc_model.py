"""The strategy pyfunc: its signals equal the research code's (config: test_version_config)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModelContext

from strategies.bars import BarsInputError, bars_from_frame
from strategies.pyfunc_model import SIGNAL_COLUMNS, StrategyModel, signals_frame
from strategies.roster import STRATEGIES, get_strategy
from strategies.version_config import VersionConfig, VersionConfigError
from tests.stubs import nse_minute_bars

CONFIG: dict[str, Any] = {"strategy": "ema_cross", "params": {"fast": 9, "slow": 21},
                          "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
                          "sim": {"lot_size": 75}}


def _two_symbols() -> pd.DataFrame:
    """NIFTY and BANKNIFTY interleaved bar by bar, with a non-default index."""
    nifty = nse_minute_bars(symbol="NIFTY", seed=1)
    bank = nse_minute_bars(symbol="BANKNIFTY", seed=2)
    frame = pd.concat([nifty, bank]).sort_values(["ts", "symbol"], kind="stable")
    return frame.set_axis(np.arange(len(frame))[::-1] + 1000)


def _expected(frame: pd.DataFrame, symbol: str, name: str, params: Any) -> dict[str, np.ndarray]:
    spec = get_strategy(name)
    signals = spec.signals(bars_from_frame(frame, symbol=symbol, venue="NSE"), params)
    return dict(zip(SIGNAL_COLUMNS, signals.arrays(), strict=True))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_signals_frame_equals_spec_signals_on_the_same_bars(name: str) -> None:
    spec = get_strategy(name)
    params = spec.default_params()
    frame = nse_minute_bars(start=date(2025, 1, 6), end=date(2025, 1, 8))
    out = signals_frame(spec, params, "NSE", "venue", frame)
    for column, values in _expected(frame, "NIFTY", name, params).items():
        np.testing.assert_array_equal(out[column].to_numpy(), values, err_msg=column)


def test_signals_frame_keeps_input_row_order_for_two_symbols() -> None:
    spec = get_strategy("ema_cross")
    params = spec.make_params(fast=9, slow=21)
    frame = _two_symbols()
    out = signals_frame(spec, params, "NSE", "venue", frame)
    assert out.index.equals(frame.index)
    pd.testing.assert_series_equal(out["ts"], frame["ts"])
    pd.testing.assert_series_equal(out["symbol"], frame["symbol"])
    for symbol in ("NIFTY", "BANKNIFTY"):
        rows = (frame["symbol"] == symbol).to_numpy()
        for column, values in _expected(frame, symbol, "ema_cross", params).items():
            np.testing.assert_array_equal(out[column].to_numpy()[rows], values)


def test_signals_frame_naive_timestamps_are_refused() -> None:
    frame = nse_minute_bars()
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    spec = get_strategy("ema_cross")
    with pytest.raises(BarsInputError, match="timezone-aware"):
        signals_frame(spec, spec.default_params(), "NSE", "venue", frame)


def test_signals_frame_missing_column_is_named() -> None:
    spec = get_strategy("ema_cross")
    with pytest.raises(BarsInputError, match=r"\['volume'\]"):
        signals_frame(spec, spec.default_params(), "NSE", "venue",
                      nse_minute_bars().drop(columns="volume"))


def test_strategy_model_predicts_signals_frame() -> None:
    model = StrategyModel()
    model.load_context(PythonModelContext(artifacts={}, model_config=CONFIG))
    frame = _two_symbols()
    parsed = VersionConfig.from_json(CONFIG)
    expected = signals_frame(parsed.spec, parsed.params, "NSE", "venue", frame)
    pd.testing.assert_frame_equal(model.predict(None, frame), expected)


def test_strategy_model_bad_config_fails_at_load() -> None:
    with pytest.raises(VersionConfigError, match="strategy='nope'"):
        StrategyModel().load_context(
            PythonModelContext(artifacts={}, model_config={**CONFIG, "strategy": "nope"}))


def test_strategies_package_imports_without_mlflow() -> None:
    code = ("import pkgutil, importlib, sys, strategies\n"
            "for m in pkgutil.iter_modules(strategies.__path__):\n"
            "    if m.name != 'pyfunc_model': importlib.import_module('strategies.' + m.name)\n"
            "print('mlflow' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout
    assert out.strip() == "False"
