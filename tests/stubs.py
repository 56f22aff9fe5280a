"""Factories of small, valid bar frames on real venue sessions, for tests to break one rule."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from strategies.venues import session_schedule


def nse_minute_bars(
    *, start: date = date(2025, 1, 6), end: date = date(2025, 1, 7), symbol: str = "NIFTY",
    seed: int = 1,
) -> pd.DataFrame:
    """Valid 1-minute bars for every minute of every NSE session in [start, end]."""
    sched = session_schedule("NSE", start, end)
    ts = pd.DatetimeIndex(np.concatenate([
        pd.date_range(o, c, freq="1min", inclusive="left").as_unit("ns").asi8
        for o, c in zip(sched["open"], sched["close"], strict=True)
    ])).tz_localize("UTC").tz_convert("Asia/Kolkata")
    rng = np.random.default_rng(seed)
    close = 23_500 * np.exp(np.cumsum(rng.normal(0, 4e-4, len(ts))))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 3, len(ts)))
    return pd.DataFrame({
        "ts": ts, "symbol": symbol, "open": open_,
        "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": rng.integers(1_000, 50_000, len(ts)).astype("float64"),
    })


def nyse_daily_bars(*, start: date = date(2024, 1, 2), end: date = date(2024, 3, 28),
                    symbol: str = "GOOG") -> pd.DataFrame:
    """Valid daily bars, one per NYSE session, stamped at midnight New York time."""
    days = session_schedule("NYSE", start, end)["session"]
    ts = pd.DatetimeIndex(days).tz_localize("America/New_York")
    close = np.linspace(100.0, 120.0, len(ts))
    return pd.DataFrame({
        "ts": ts, "symbol": symbol, "open": close - 0.5, "high": close + 1.0,
        "low": close - 1.0, "close": close, "volume": 1e6,
    })
