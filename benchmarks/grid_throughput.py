"""Grid throughput: our engine vs vectorbt vs a minimal numba loop, same rules, same process.

Workload: the synthetic NSE 1-minute year (NIFTY, ~93k bars) and an EMA-cross grid of 1,064
(fast, slow) combinations, long and short, reversing on the opposite cross, a 0.2 % stop-loss,
fills at the signal bar's close, no costs, no session cutoff (vectorbt has none) - the case
all three can express. Each number is the median of several timed runs after a warm-up
(compile time is reported on its own). Peak memory of our engine is measured in a fresh
child process so vectorbt's allocations do not count against it.

Run: ``.venv/bin/python benchmarks/grid_throughput.py [--runs 3] [--vbt-chunk 200]``.
The last lines are ``name: value`` pairs, the headline ratio last.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from datetime import date

import numba
import numpy as np

from pipelines.datasets.synthetic_nse import generate_nse_index_bars
from strategies.bars import Bars, bars_from_frame
from strategies.ema_cross import SPEC, EmaCrossParams
from strategies.grid import run_grid
from strategies.indicators import _ema_kernel
from strategies.simulator import SimConfig

STOP_FRAC = 0.002
FAST = tuple(range(2, 30))
SLOW = tuple(range(30, 330, 8))


def load_bars() -> Bars:
    frame, _ = generate_nse_index_bars(start=date(2025, 1, 1), end=date(2025, 12, 31))
    return bars_from_frame(frame, symbol="NIFTY", venue="NSE", cutoff=None)


def combos() -> list[EmaCrossParams]:
    return [EmaCrossParams(fast=f, slow=s) for f in FAST for s in SLOW]


def config() -> SimConfig:
    # exact stop levels (no tick grid): vectorbt's convention, so all three run one rule
    return SimConfig(fill="close", stop_frac=STOP_FRAC, initial_capital_inr=1e9,
                     round_levels=False)


# --- (a) our grid engine -------------------------------------------------------------------

def run_ours(bars: Bars, grid: list[EmaCrossParams]) -> np.ndarray:
    return run_grid(SPEC, bars, config(), grid).metrics


# --- (c) the floor: one hand-written numba loop of the same rules --------------------------

@numba.njit(cache=True, nogil=True, parallel=True)
def _floor_kernel(o, h, lo, c, day_end, table, fast_row, slow_row, start, stop_frac, capital, out):
    n = len(c)
    for j in numba.prange(fast_row.shape[0]):
        f, s = table[fast_row[j]], table[slow_row[j]]
        pos, entry, cash, peak_eq, max_dd, prev_eq = 0.0, 0.0, capital, capital, 0.0, capital
        eq = capital
        trades = wins = days = sum_r = sum_r2 = 0.0
        for t in range(max(start[j], 1), n):
            stopped = False
            if pos != 0:
                level = entry * (1.0 - pos * stop_frac)
                px = np.nan
                if (o[t] - level) * pos <= 0:
                    px = o[t]
                elif (pos > 0 and lo[t] <= level) or (pos < 0 and h[t] >= level):
                    px = level
                if not np.isnan(px):
                    pnl = (px - entry) * pos
                    cash += pnl
                    trades += 1.0
                    wins += 1.0 if pnl > 0 else 0.0
                    pos, stopped = 0.0, True
            if not stopped:
                up = f[t - 1] <= s[t - 1] and f[t] > s[t]
                down = f[t - 1] >= s[t - 1] and f[t] < s[t]
                if (pos > 0 and down) or (pos < 0 and up):
                    pnl = (c[t] - entry) * pos
                    cash += pnl
                    trades += 1.0
                    wins += 1.0 if pnl > 0 else 0.0
                    pos = 0.0
                if pos == 0 and (up or down) and t < n - 1:  # ours: no entry on the last bar
                    pos, entry = (1.0 if up else -1.0), c[t]
            eq = cash + (c[t] - entry) * pos
            peak_eq = max(peak_eq, eq)
            max_dd = max(max_dd, 1.0 - eq / peak_eq)
            if day_end[t]:
                r = eq / prev_eq - 1.0
                days += 1.0
                sum_r += r
                sum_r2 += r * r
                prev_eq = eq
        if pos != 0:  # ours closes what is open at the last bar; count it the same way
            pnl = (c[n - 1] - entry) * pos
            trades += 1.0
            wins += 1.0 if pnl > 0 else 0.0
        out[j, 0] = eq / capital - 1.0
        mean = sum_r / max(days, 1.0)
        var = (sum_r2 - days * mean * mean) / max(days - 1.0, 1.0)
        out[j, 1] = mean / np.sqrt(var) * np.sqrt(252.0) if var > 0 else 0.0
        out[j, 2] = max_dd
        out[j, 3] = trades
        out[j, 4] = wins / trades if trades > 0 else 0.0


def run_floor(bars: Bars, grid: list[EmaCrossParams]) -> np.ndarray:
    spans = sorted({p.fast for p in grid} | {p.slow for p in grid})
    row = {span: i for i, span in enumerate(spans)}
    table = np.vstack([_ema_kernel(bars.close, span) for span in spans])
    fast_row = np.array([row[p.fast] for p in grid], dtype=np.int64)
    slow_row = np.array([row[p.slow] for p in grid], dtype=np.int64)
    start = np.array([p.slow for p in grid], dtype=np.int64)  # the strategy's warm-up
    out = np.zeros((len(grid), 5))
    _floor_kernel(bars.open, bars.high, bars.low, bars.close, bars.session_last, table,
                  fast_row, slow_row, start, STOP_FRAC, 1e9, out)
    return out


# --- (b) vectorbt: MA.run + Portfolio.from_signals, in chunks ------------------------------

def run_vectorbt(bars: Bars, grid: list[EmaCrossParams], chunk: int) -> np.ndarray:
    import pandas as pd
    import vectorbt as vbt

    close = pd.Series(bars.close)
    ohl = {k: pd.Series(getattr(bars, k)) for k in ("open", "high", "low")}
    returns = []
    for start in range(0, len(grid), chunk):
        part = grid[start:start + chunk]
        fast = vbt.MA.run(close, [p.fast for p in part], ewm=True).ma.to_numpy()
        slow = vbt.MA.run(close, [p.slow for p in part], ewm=True).ma.to_numpy()
        prev_f, prev_s = np.roll(fast, 1, axis=0), np.roll(slow, 1, axis=0)
        up = (prev_f <= prev_s) & (fast > slow)
        down = (prev_f >= prev_s) & (fast < slow)
        up[0] = down[0] = False
        pf = vbt.Portfolio.from_signals(
            close, entries=up, exits=down, short_entries=down, short_exits=up,
            open=ohl["open"], high=ohl["high"], low=ohl["low"], sl_stop=STOP_FRAC, size=1.0,
            size_type="amount", init_cash=1e9, upon_opposite_entry="reverse", freq="1min",
        )
        returns.append(pf.total_return().to_numpy())
        del pf, fast, slow, prev_f, prev_s, up, down
        gc.collect()
    return np.concatenate(returns)


def timed(fn: Callable[[], np.ndarray], runs: int) -> tuple[float, float, np.ndarray]:
    """(first call seconds, median of ``runs`` later calls, last result)."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), result


def _peak_rss_gib() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries that
    across exec, so a child would report its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child_peak(queue: mp.Queue) -> None:  # type: ignore[type-arg]
    bars = load_bars()
    base = _peak_rss_gib()
    run_ours(bars, combos())
    queue.put((base, _peak_rss_gib()))


def peak_memory_ours_gib() -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_peak, args=(queue,))
    proc.start()
    result = queue.get(timeout=900)
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vbt-chunk", type=int, default=200)
    args = parser.parse_args()
    bars, grid = load_bars(), combos()
    work = len(bars) * len(grid)
    print(f"bars {len(bars):,}  combinations {len(grid):,}  threads {numba.get_num_threads()}")
    first_o, ours_s, ours = timed(lambda: run_ours(bars, grid), args.runs)
    first_f, floor_s, floor = timed(lambda: run_floor(bars, grid), args.runs)
    first_v, vbt_s, vbt_ret = timed(lambda: run_vectorbt(bars, grid, args.vbt_chunk),
                                    max(1, args.runs - 1))
    agree = float(np.max(np.abs(ours[:, 0] * 1e9 - vbt_ret * 1e9)))
    same_trades = bool(np.array_equal(ours[:, 3], floor[:, 3]))
    base_gib, peak_gib = peak_memory_ours_gib()
    for name, first, median in (("ours", first_o, ours_s), ("floor", first_f, floor_s),
                                ("vectorbt", first_v, vbt_s)):
        print(f"{name:9s} median {median:8.3f} s  {work / median / 1e6:9.1f} M bar x combo/s"
              f"  (first call incl. compile {first:.2f} s)")
    print(f"ours vs vectorbt total return, max abs difference: {agree:.3e} INR per 1e9")
    print(f"ours vs floor trade counts identical: {same_trades}")
    print(f"peak RSS of our engine (child process): {peak_gib:.2f} GiB "
          f"(after loading data {base_gib:.2f} GiB)")
    print(f"ours_m_per_s: {work / ours_s / 1e6:.1f}")
    print(f"floor_m_per_s: {work / floor_s / 1e6:.1f}")
    print(f"vectorbt_m_per_s: {work / vbt_s / 1e6:.1f}")
    print(f"peak_rss_ours_gib: {peak_gib:.2f}")
    print(f"ratio_to_floor: {ours_s / floor_s:.2f}")
    print(f"speedup_vs_vectorbt: {vbt_s / ours_s:.1f}")


if __name__ == "__main__":
    main()
