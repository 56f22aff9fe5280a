"""Derived columns the expectation suites read: bar steps, session membership, jumps, and a
per-session completeness table.

Great Expectations checks columns; rules that span rows (strictly increasing timestamps per
symbol, bars inside the venue's session, missing bars per session) are first turned into
columns here, vectorised, so each rule stays one declarative expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.datasets.timeframes import is_daily, parse_timeframe
from strategies.venues import get_venue, session_schedule


@dataclass(frozen=True, slots=True)
class ValidationFrames:
    """``rows``: one row per bar with helper columns; ``sessions``: one row per
    (symbol, session) between each symbol's first and last bar."""

    rows: pd.DataFrame
    sessions: pd.DataFrame


def _schedule_for(ts: pd.Series, venue_name: str) -> pd.DataFrame:
    venue = get_venue(venue_name)
    local = ts.dt.tz_convert(venue.tz)
    start = (local.min() - pd.Timedelta(days=1)).date()
    end = (local.max() + pd.Timedelta(days=1)).date()
    return session_schedule(venue.name, start, end)


def _assign_intraday(ts: pd.Series, schedule: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """Session date of each bar (by the last open at or before it) and whether it is inside."""
    order = np.argsort(ts.to_numpy(), kind="stable")
    left = pd.DataFrame({"ts": ts.iloc[order].dt.as_unit("ns").reset_index(drop=True),
                         "pos": order})
    sched = schedule.sort_values("open").rename(columns={"open": "ts"})
    sched["ts"] = sched["ts"].dt.tz_convert(ts.dt.tz).dt.as_unit("ns")
    sched["close"] = sched["close"].dt.tz_convert(ts.dt.tz).dt.as_unit("ns")
    merged = pd.merge_asof(left, sched, on="ts", direction="backward")
    inside = (merged["close"].notna() & (merged["ts"] < merged["close"])).to_numpy()
    session = pd.Series(pd.NaT, index=range(len(ts)), dtype="datetime64[ns]")
    session.iloc[merged["pos"].to_numpy()] = merged["session"].to_numpy()
    flags = np.zeros(len(ts), dtype=bool)
    flags[merged["pos"].to_numpy()] = inside
    return session, flags


def _assign_daily(ts: pd.Series, schedule: pd.DataFrame, tz: str) -> tuple[pd.Series, np.ndarray]:
    session = ts.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize().reset_index(drop=True)
    flags = session.isin(set(schedule["session"])).to_numpy()
    return session.astype("datetime64[ns]"), flags


def _session_table(
    rows: pd.DataFrame, schedule: pd.DataFrame, daily: bool, bar: pd.Timedelta
) -> pd.DataFrame:
    sched = schedule.copy()
    if daily:
        sched["expected_bars"] = 1
    else:
        length = sched["close"] - sched["open"]
        sched["expected_bars"] = (length / bar).apply(np.ceil).astype("int64")
    sched["session"] = sched["session"].astype("datetime64[ns]")
    inside = rows[rows["in_session"]]
    counts = inside.groupby(["symbol", "session"]).size().rename("bars").reset_index()
    tables = []
    for symbol, first, last in (
        inside.groupby("symbol")["session"].agg(["min", "max"]).itertuples(name=None)
    ):
        span = sched[(sched["session"] >= first) & (sched["session"] <= last)]
        tables.append(span[["session", "expected_bars"]].assign(symbol=symbol))
    if not tables:
        return pd.DataFrame(columns=["symbol", "session", "expected_bars", "bars",
                                     "missing_bars", "completeness"])
    table = pd.concat(tables, ignore_index=True).merge(counts, on=["symbol", "session"],
                                                       how="left")
    table["bars"] = table["bars"].fillna(0).astype("int64")
    table["missing_bars"] = (table["expected_bars"] - table["bars"]).clip(lower=0)
    table["completeness"] = (table["bars"] / table["expected_bars"]).clip(upper=1.0)
    return table[["symbol", "session", "expected_bars", "bars", "missing_bars", "completeness"]]


def build_validation_frames(frame: pd.DataFrame, *, venue: str, timeframe: str) -> ValidationFrames:
    """Add ``line``, ``ts_step_s``, ``session``, ``in_session``, ``jump_pct`` and build the
    per-session table for ``frame`` (normalised schema, any row order)."""
    rows = frame.reset_index(drop=True).copy()
    if "line" not in rows:
        rows["line"] = np.arange(1, len(rows) + 1)
    if rows.empty:
        rows = rows.assign(ts_step_s=[], session=pd.Series([], dtype="datetime64[ns]"),
                           in_session=[], jump_pct=[])
        empty = _session_table(rows, _empty_schedule(), True, pd.Timedelta(0))
        return ValidationFrames(rows, empty)
    by_symbol = rows.groupby("symbol", sort=False)
    rows["ts_step_s"] = by_symbol["ts"].diff().dt.total_seconds()
    prev_close = by_symbol["close"].shift()
    rows["jump_pct"] = ((rows["close"] / prev_close) - 1.0).abs() * 100.0
    schedule = _schedule_for(rows["ts"], venue)
    daily = is_daily(timeframe)
    if daily:
        session, inside = _assign_daily(rows["ts"], schedule, get_venue(venue).tz)
    else:
        session, inside = _assign_intraday(rows["ts"], schedule)
    rows["session"] = session.to_numpy()
    rows["in_session"] = inside
    sessions = _session_table(rows, schedule, daily, parse_timeframe(timeframe))
    return ValidationFrames(rows, sessions)


def _empty_schedule() -> pd.DataFrame:
    return pd.DataFrame({"session": pd.Series([], dtype="datetime64[ns]"),
                         "open": [], "close": []})
