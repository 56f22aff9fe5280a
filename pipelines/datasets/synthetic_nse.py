"""SYNTHETIC NSE-like 1-minute index bars (NIFTY, BANKNIFTY): a seeded, reproducible stand-in.

Nothing here is market data: a simple generative model gives pipelines, strategies and tests
realistic-looking intraday bars without a data licence. One ``Generator(PCG64(seed))`` drives
every draw in a fixed order, so a seed and date range always give byte-identical output.
How the data is made:

* **Calendar.** Sessions are the real NSE trading days (pandas-market-calendars ``XNSE``);
  a regular session has 375 one-minute bars labelled by bar start, 09:15 to 15:29
  Asia/Kolkata. Special sessions keep only their scheduled hours (2025-10-21 Muhurat
  trading: 13:45-14:44, 60 bars), cut from the same full-day path.
* **Regimes.** A market-wide daily Markov chain over ``trend``, ``chop`` and ``high_vol``
  (:data:`TRANSITION`; regimes persist, ``high_vol`` is the rarest). ``trend`` days add a
  drift of about 0.3 %/day whose sign is drawn once per trend spell; ``chop`` days have
  lower vol and an Ornstein-Uhlenbeck pull (about 2 %/minute) toward the session open;
  ``high_vol`` days have ~2.4x the trend vol with Student-t (df 4) innovations.
* **Cross-section.** Minute shocks are a common factor plus idiosyncratic noise (loadings
  0.88 and 0.90, so 1-minute return correlation is about 0.8). BANKNIFTY carries 1.2x the
  NIFTY vol. Annualised close-to-close vol is typically 13-18 % for NIFTY and a few points
  higher for BANKNIFTY, depending on how many ``high_vol`` days the seed draws.
* **Intraday smile.** Vol follows a U-shape: high in the first and last ~30 minutes.
* **Overnight gaps.** Each session opens at the previous close times ``exp(gap)``, with a
  Student-t (df 4) gap of sd 0.4 % (2x on ``high_vol`` days), so some gaps exceed 1 %.
* **Bars.** Closes follow the log-price path; each bar opens at the previous close. High and
  low are exact draws of the maximum and minimum of a Brownian bridge between open and close
  with the bar's vol. Prices are rounded to the 0.05 tick (high never below open/close, low
  never above). Volume is a U-shaped profile times lognormal noise, larger on ``high_vol``
  days, stored as whole numbers in float64.
* **Starting levels.** NIFTY 23,500 (lot 75), BANKNIFTY 51,000 (lot 35), tick 0.05.

Run ``python -m pipelines.datasets.synthetic_nse --out bars.parquet --regimes-out
regimes.parquet`` to write the dataset and the per-session regime labels.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.datasets.schema import (
    KIND_INTRADAY,
    DatasetMeta,
    Instrument,
    atomic_write,
    write_dataset,
)
from strategies.errors import StratopsError
from strategies.venues import Venue, get_venue, session_schedule, trading_days

VENUE = "NSE"
REGIMES = ("trend", "chop", "high_vol")
#: Daily regime transition probabilities; row = today's regime, column = tomorrow's.
TRANSITION = np.array([[0.86, 0.10, 0.04], [0.10, 0.86, 0.04], [0.15, 0.13, 0.72]])
T_DF = 4.0  # Student-t degrees of freedom for fat tails (high_vol shocks, overnight gaps)
GAP_SD = 0.004  # overnight log-gap sd on calm days
CHOP_PULL_PER_MIN = 0.02  # OU mean-reversion speed toward the session open


class EmptySessionRangeError(StratopsError, ValueError):
    """The requested date range holds no NSE trading session."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeParams:
    """How one regime shapes a session: vol, mean reversion, drift, gaps, volume."""

    vol_mult: float
    pull_per_min: float
    drift_per_day: float
    fat_tails: bool
    gap_mult: float
    volume_mult: float


@dataclass(frozen=True, kw_only=True, slots=True)
class SymbolSpec:
    """One synthetic index: starting level, contract facts, vol, factor loading, volume."""

    name: str
    start_level: float
    lot_size: int
    tick_size: float
    vol_per_min: float
    factor_loading: float
    volume_base: float


REGIME_PARAMS = (
    RegimeParams(vol_mult=1.0, pull_per_min=0.0, drift_per_day=0.003, fat_tails=False,
                 gap_mult=1.0, volume_mult=1.1),
    RegimeParams(vol_mult=0.75, pull_per_min=CHOP_PULL_PER_MIN, drift_per_day=0.0,
                 fat_tails=False, gap_mult=0.8, volume_mult=0.85),
    RegimeParams(vol_mult=2.4, pull_per_min=0.0, drift_per_day=0.0, fat_tails=True,
                 gap_mult=2.0, volume_mult=1.8),
)
SYMBOLS = (
    SymbolSpec(name="NIFTY", start_level=23_500.0, lot_size=75, tick_size=0.05,
               vol_per_min=4.0e-4, factor_loading=0.88, volume_base=30_000.0),
    SymbolSpec(name="BANKNIFTY", start_level=51_000.0, lot_size=35, tick_size=0.05,
               vol_per_min=4.8e-4, factor_loading=0.90, volume_base=15_000.0),
)


def _regime_chain(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """Regime code per session from the Markov chain, started from its stationary law."""
    cum_rows = np.cumsum(TRANSITION, axis=1)
    cum_start = np.cumsum(np.linalg.matrix_power(TRANSITION, 256)[0])
    draws = rng.random(n_days)
    codes = np.empty(n_days, dtype=np.int64)
    cum = cum_start
    for i in range(n_days):  # a Markov chain is sequential; one step per session
        codes[i] = min(int(np.searchsorted(cum, draws[i], side="right")), len(REGIMES) - 1)
        cum = cum_rows[codes[i]]
    return codes


def _per_regime(field: str, codes: np.ndarray) -> np.ndarray:
    """The :class:`RegimeParams` attribute ``field`` for each session's regime."""
    return np.asarray(np.array([getattr(p, field) for p in REGIME_PARAMS])[codes])


def _trend_signs(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    """Drift sign per session, drawn once per regime spell (slight upward bias)."""
    spell_id = np.cumsum(np.r_[True, codes[1:] != codes[:-1]]) - 1
    spell_signs = np.where(rng.random(int(spell_id[-1]) + 1) < 0.55, 1.0, -1.0)
    return np.asarray(spell_signs[spell_id])


def _u_shape(n_min: int, open_amp: float, close_amp: float, floor: float) -> np.ndarray:
    """Intraday U-shape: ``floor`` plus bumps decaying over ~15-30 min from open and close."""
    k = np.arange(n_min, dtype=np.float64)
    return floor + open_amp * np.exp(-k / 15.0) + close_amp * np.exp(-(n_min - 1 - k) / 15.0)


def _shocks(rng: np.random.Generator, fat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-variance shocks: normal, or scaled Student-t where ``fat`` (per session) is set."""
    normal = rng.standard_normal(shape)
    student = rng.standard_t(T_DF, shape) * np.sqrt((T_DF - 2.0) / T_DF)
    mask = fat.reshape((-1,) + (1,) * (len(shape) - 1))
    return np.where(mask, student, normal)


def _factor_mix(common: np.ndarray, idio: np.ndarray) -> np.ndarray:
    """Combine a common shock (..., 1) and per-symbol shocks (..., n_sym) by loading."""
    loading = np.array([s.factor_loading for s in SYMBOLS])
    return np.asarray(loading * common + np.sqrt(1.0 - loading**2) * idio)


def _relative_paths(
    shocks: np.ndarray, sigma: np.ndarray, pull: np.ndarray, drift: np.ndarray
) -> np.ndarray:
    """Log price relative to the session open after each minute, shape (days, min, sym)."""
    paths = np.empty_like(shocks)
    level = np.zeros((shocks.shape[0], shocks.shape[2]))
    keep = (1.0 - pull)[:, None]
    for k in range(shocks.shape[1]):  # vectorised across sessions and symbols
        level = keep * level + drift + sigma[:, k] * shocks[:, k]
        paths[:, k] = level
    return paths


def _log_paths(
    rng: np.random.Generator, codes: np.ndarray, n_min: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intraday log paths (days, min, sym), per-bar vol (same shape) and overnight gaps."""
    n_days, n_sym = len(codes), len(SYMBOLS)
    signs = _trend_signs(rng, codes)
    calm = np.ones(n_days, dtype=bool)
    gap_shocks = _factor_mix(_shocks(rng, calm, (n_days, 1)), _shocks(rng, calm, (n_days, n_sym)))
    gaps = GAP_SD * _per_regime("gap_mult", codes)[:, None] * gap_shocks
    gaps[0] = 0.0  # the first session opens at the starting level
    fat = _per_regime("fat_tails", codes)
    shocks = _factor_mix(
        _shocks(rng, fat, (n_days, n_min, 1)), _shocks(rng, fat, (n_days, n_min, n_sym))
    )
    vol_sym = np.array([s.vol_per_min for s in SYMBOLS])
    smile = _u_shape(n_min, open_amp=1.6, close_amp=0.8, floor=1.0)[None, :, None]
    smile = smile / np.sqrt(np.mean(smile**2))  # unit mean variance across the session
    sigma = _per_regime("vol_mult", codes)[:, None, None] * smile * vol_sym
    drift_day = _per_regime("drift_per_day", codes) * signs
    drift = (drift_day[:, None] / n_min) * (vol_sym / vol_sym[0])  # BANKNIFTY trends harder
    paths = _relative_paths(shocks, sigma, _per_regime("pull_per_min", codes), drift)
    return paths, sigma, gaps


def _round_tick(prices: np.ndarray, tick: np.ndarray) -> np.ndarray:
    # The outer round to paise removes float noise such as 23500.050000000003.
    return np.asarray(np.round(np.round(prices / tick) * tick, 2))


def _ohlc(
    rng: np.random.Generator, paths: np.ndarray, sigma: np.ndarray, gaps: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Open, high, low, close prices (days, min, sym) from relative paths and gaps."""
    day_move = paths[:, -1] + gaps  # gap into the session plus the session's own move
    start = np.log([s.start_level for s in SYMBOLS])
    open_log = start + np.cumsum(day_move, axis=0) - paths[:, -1]
    prev = np.concatenate([np.zeros_like(paths[:, :1]), paths[:, :-1]], axis=1)
    ret = paths - prev
    var = sigma**2  # bridge extremes: m = (r +- sqrt(r**2 + 2 var E)) / 2, E ~ Exp(1)
    up = 0.5 * (ret + np.sqrt(ret**2 + 2.0 * var * rng.standard_exponential(paths.shape)))
    down = 0.5 * (ret - np.sqrt(ret**2 + 2.0 * var * rng.standard_exponential(paths.shape)))
    base = open_log[:, None, :] + prev
    tick = np.array([s.tick_size for s in SYMBOLS])
    open_ = _round_tick(np.exp(base), tick)
    close = _round_tick(np.exp(open_log[:, None, :] + paths), tick)
    open_[:, 1:] = close[:, :-1]
    high = np.maximum(_round_tick(np.exp(base + up), tick), np.maximum(open_, close))
    low = np.minimum(_round_tick(np.exp(base + down), tick), np.minimum(open_, close))
    return open_, high, low, close


def _volumes(rng: np.random.Generator, codes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Whole-number volumes (days, min, sym): U-shaped profile x regime x lognormal noise."""
    profile = _u_shape(shape[1], open_amp=2.0, close_amp=1.5, floor=0.6)
    regime_mult = _per_regime("volume_mult", codes)
    base = np.array([s.volume_base for s in SYMBOLS])
    noise = rng.lognormal(mean=-0.08, sigma=0.4, size=shape)  # mean -sigma**2/2: unit mean
    raw = base * profile[None, :, None] * regime_mult[:, None, None] * noise
    return np.asarray(np.maximum(np.round(raw), 1.0))


def _session_minutes(venue: Venue) -> tuple[pd.Timedelta, int]:
    """Session open as an offset from midnight, and the number of 1-minute bars."""
    if venue.open is None or venue.close is None:
        raise EmptySessionRangeError(f"venue {venue.name!r} has no regular session hours")
    open_offset = pd.Timedelta(hours=venue.open.hour, minutes=venue.open.minute)
    close_offset = pd.Timedelta(hours=venue.close.hour, minutes=venue.close.minute)
    return open_offset, int((close_offset - open_offset) / pd.Timedelta(minutes=1))


def _timestamps(days: pd.DatetimeIndex, n_min: int, open_offset: pd.Timedelta) -> np.ndarray:
    """Bar-start epoch nanoseconds (venue wall clock), session-major, shape (days * n_min,)."""
    minutes = np.arange(n_min, dtype=np.int64) * np.int64(60_000_000_000)
    day_ns = days.as_unit("ns").asi8 + open_offset.value
    return np.asarray((day_ns[:, None] + minutes[None, :]).ravel())


def generate_nse_index_bars(
    *, seed: int = 20250101, start: date = date(2025, 1, 1), end: date = date(2025, 12, 31)
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate SYNTHETIC NIFTY/BANKNIFTY 1-minute bars and their per-session regimes.

    Parameters
    ----------
    seed : int
        Seed of the single PCG64 generator; equal seeds give identical frames.
    start, end : datetime.date
        Inclusive date range; only NSE (XNSE) trading sessions inside it get bars.

    Returns
    -------
    bars : pandas.DataFrame
        Normalised schema (``ts``, ``symbol``, OHLC, ``volume``) sorted by (symbol, ts).
    regimes : pandas.DataFrame
        One row per session: ``session`` (naive date) and ``regime`` (see :data:`REGIMES`).

    Raises
    ------
    EmptySessionRangeError
        If ``start`` is after ``end`` or no trading session falls between them.
    """
    if start > end:
        raise EmptySessionRangeError(f"start {start} is after end {end}")
    days = trading_days(VENUE, start, end)
    if len(days) == 0:
        raise EmptySessionRangeError(f"no {VENUE} trading session between {start} and {end}")
    venue = get_venue(VENUE)
    open_offset, n_min = _session_minutes(venue)
    rng = np.random.Generator(np.random.PCG64(seed))
    codes = _regime_chain(rng, len(days))
    paths, sigma, gaps = _log_paths(rng, codes, n_min)
    prices = _ohlc(rng, paths, sigma, gaps)
    volume = _volumes(rng, codes, paths.shape)

    ts_ns = _timestamps(days, n_min, open_offset)
    ts = pd.DatetimeIndex(ts_ns.astype("datetime64[ns]")).tz_localize(venue.tz)
    columns = dict(zip(("open", "high", "low", "close", "volume"), (*prices, volume), strict=True))
    bars = pd.concat(
        [
            pd.DataFrame({"ts": ts, "symbol": spec.name}
                         | {name: arr[..., j].ravel() for name, arr in columns.items()})
            for j, spec in enumerate(SYMBOLS)
        ],
        ignore_index=True,
    ).sort_values(["symbol", "ts"], kind="stable", ignore_index=True)
    bars = _inside_schedule(bars, start, end)
    regimes = pd.DataFrame({"session": days.as_unit("ns"), "regime": np.array(REGIMES)[codes]})
    return bars, regimes


def _write_regimes(regimes: pd.DataFrame, path: Path) -> Path:
    """Write the regime labels atomically (temporary sibling, then rename)."""
    return atomic_write(path, lambda tmp: regimes.to_parquet(tmp, index=False))


def _inside_schedule(bars: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Drop bars outside each day's scheduled hours (special sessions such as Muhurat
    trading are shorter than the regular 09:15-15:30 grid the paths are drawn on)."""
    sched = session_schedule(VENUE, start, end).set_index("session")
    day = bars["ts"].dt.tz_localize(None).dt.normalize()
    opens = day.map(sched["open"])
    closes = day.map(sched["close"])
    keep = (bars["ts"] >= opens) & (bars["ts"] < closes)
    return bars[keep.to_numpy()].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    """Write the SYNTHETIC NSE bars (and optionally the regime labels) to Parquet."""
    parser = argparse.ArgumentParser(description="Write SYNTHETIC NSE-like 1-minute index bars.")
    parser.add_argument("--out", type=Path, required=True, help="bars Parquet path")
    parser.add_argument("--regimes-out", type=Path, default=None, help="regimes Parquet path")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 31))
    args = parser.parse_args(argv)

    bars, regimes = generate_nse_index_bars(seed=args.seed, start=args.start, end=args.end)
    instruments = {s.name: Instrument(lot_size=s.lot_size, tick_size=s.tick_size) for s in SYMBOLS}
    meta = DatasetMeta(
        name=args.out.stem, kind=KIND_INTRADAY, timeframe="1m", venue=VENUE,
        source=f"synthetic: pipelines.datasets.synthetic_nse seed={args.seed}",
        synthetic=True, instruments=instruments,
    )
    write_dataset(bars, args.out, meta)
    if args.regimes_out is not None:
        _write_regimes(regimes, args.regimes_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
