"""Execution algos under the paper exchange's realism impact model: implementation shortfall
of market, TWAP, VWAP, POV and IS parents on replayed NSE futures days, and the algos'
decision latency per child.

    .venv/bin/python benchmarks/execution.py [--days 20] [--dataset nse_futures_front_1m]

Each (day, symbol, start time, parent size) is worked by every algo in isolation, over the
same real one-minute bars: a parent of 1 %, 5 % or 20 % of the symbol's average minute
volume (the previous ``HISTORY_DAYS`` days; whole lots), side seeded, started every
``START_EVERY`` minutes from 09:30 to 14:30 with a 30-minute horizon. Schedules come from
``live.algos.schedules.plan_schedule`` (:func:`schedule_children` is the one place they are
made); each child executes as a market order in the minute bar of its ``not_before`` on the
realism model (:mod:`live.adapters.paper.realism`: seeded intrabar path, temporary
``0.7 sigma (q/V)^0.6``, permanent ``0.3 sigma q/V`` decaying over 10 minutes, carried from
child to child of one parent); a POV remainder goes as a market order at the deadline.
Shortfall (bps) = side x (fill VWAP - arrival) / arrival, arrival the start bar's open;
``impact`` is the part paid to the impact model alone (fill against the path price met),
i.e. without the market's own move during the schedule. IS gets sigma from the history and
eta from the impact calibration file (literature values when there is none).

Decision latency per child: ``plan_schedule``'s wall time per parent (the best of
``LATENCY_REPEATS`` calls, garbage collection off, as ``timeit`` does) divided by its
children (the reference measured in the same run: the market algo's one-child plan). Targets:
IS mean shortfall at 20 % at least 30 % below market's without a higher std; p99 decision
latency per child under 200 us. Ends with ``name: value`` lines, the headline last.

Measured (2026-12-05, default 20 sessions, 440 parents per algo and size, ~20 s on a loaded
2-core machine, literature calibration): at 20 % market 1.07 bps (std 1.14), IS (lambda 300)
0.55 bps (std 3.96): the mean is 49 % below market's but the std is higher - spreading a
parent over minutes buys lower impact with exposure to the market's move, so the "no
higher std" half of the target is missed (lambda 10000 gets std 1.02 but only 6 % lower
mean). Impact paid alone: IS 48 % below market, TWAP 70 %. Decision latency per child:
p50 8.5 us, p99 90 us (POV's one child carries its whole profile walk: ~100 us).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from live.adapters.paper.fill_model import Bar, FillModel, RealismParams, WorkingOrder
from live.adapters.paper.realism import (
    PermanentImpact,
    arrival_fraction,
    intrabar_path,
    realism_match,
)
from live.algos.schedules import plan_schedule
from live.broker import OrderType, Side
from live.impact.calibration import load_impact_params
from strategies.impact import BPS, parkinson_sigma_bps

ROOT = Path(__file__).resolve().parents[1]
LOT_SIZES = {"NIFTY": 75, "BANKNIFTY": 30}  # NSE index futures lots (2025)
SIZES_PCT = (1.0, 5.0, 20.0)
ALGOS = ("market", "twap", "vwap", "pov", "is")
HISTORY_DAYS = 5
START_EVERY = 30  # minutes between parent starts
HORIZON_MINUTES = 30
CHILDREN = 10
POV_PCT = 10.0
IS_RISK_AVERSION = 300.0  # front-loads a 20 % parent into roughly its first third
SEED = 20_25
LATENCY_REPEATS = 3
MODEL = FillModel(mode="realism", realism=RealismParams())


@dataclass(frozen=True, slots=True)
class Market:
    """One symbol-day: its bars by minute, and its history's statistics."""

    symbol: str
    bars: dict[datetime, Bar]
    profile: Any  # live.algos.profile.VolumeProfile
    adv_minute_volume: float
    sigma_bps: float


def _specs(risk_aversion: float) -> dict[str, Any]:
    from live.algos.spec import AlgoSpec

    common: dict[str, Any] = {"horizon_minutes": HORIZON_MINUTES, "child_count": CHILDREN}
    return {"market": AlgoSpec(),
            "twap": AlgoSpec(name="twap", **common),
            "vwap": AlgoSpec(name="vwap", **common),
            "pov": AlgoSpec(name="pov", participation_pct=POV_PCT, **common),
            "is": AlgoSpec(name="is", risk_aversion=risk_aversion, **common)}


def schedule_children(spec: Any, *, parent_qty: int, lot_size: int, start: datetime,
                      market: Market, seed: int, eta: float) -> list[tuple[int, datetime]]:
    """The one place schedules are made: ``(qty, not_before)`` per child of ``spec``."""
    plans = plan_schedule(spec, parent_qty=parent_qty, lot_size=lot_size, start=start,
                          deadline=start + timedelta(minutes=HORIZON_MINUTES), seed=seed,
                          volume_profile=market.profile,
                          sigma_per_minute=market.sigma_bps / BPS, eta=eta)
    return [(p.qty, p.not_before) for p in plans]


def _eta(params: Any, market: Market, parent_qty: int) -> float:
    """Almgren-Chriss eta (price fraction per parent-per-minute) linearising the calibrated
    law at the even rate over the horizon: c(v) = y sigma (v X / V)^exponent at v = 1/T."""
    rate = 1.0 / HORIZON_MINUTES
    cost = params.y * market.sigma_bps / BPS * (rate * parent_qty / market.adv_minute_volume) \
        ** params.exponent
    return max(float(cost) / rate, 1e-12)


def _execute(children: list[tuple[int, datetime]], market: Market, side: Side, parent_qty: int,
             deadline: datetime, key: str) -> tuple[float, float, int]:
    """(fill VWAP, impact paid in bps of arrival, filled qty) of one parent's children."""
    params, impact = MODEL.realism_params, PermanentImpact()
    sign = 1.0 if side is Side.BUY else -1.0
    notional = paid = 0.0
    filled = 0
    remainder = parent_qty - sum(q for q, _ in children)
    orders = [*children, *([(remainder, deadline)] if remainder > 0 else [])]
    for i, (qty, at) in enumerate(orders):
        bar = market.bars.get(at.replace(second=0, microsecond=0))
        if bar is None:
            continue
        path = intrabar_path(bar, params.path_steps, seed=SEED, symbol=market.symbol)
        order = WorkingOrder(side=side, order_type=OrderType.MARKET, qty=qty, filled_qty=0,
                             limit_price=None, trigger_price=None, triggered=False)
        u = arrival_fraction(SEED, f"{key}:{i}", bar)
        result, added = realism_match(order, bar, MODEL, path=path, arrival_u=u,
                                      permanent_bps=impact.at(bar.ts, params.decay_minutes))
        if not result.qty:
            continue
        impact.add(bar.ts, added, params.decay_minutes)
        met = float(path[min(int(u * params.arrival_max_fraction * params.path_steps),
                             params.path_steps)])
        notional += result.price * result.qty
        paid += sign * (result.price - met) / met * BPS * result.qty
        filled += result.qty
    return (notional / filled if filled else math.nan), (paid / filled if filled else 0.0), \
        filled


def _bars(frame: pd.DataFrame) -> dict[datetime, Bar]:
    cols = [frame[c].to_numpy(float) for c in ("open", "high", "low", "close", "volume")]
    return {ts.to_pydatetime(): Bar(ts.to_pydatetime(), o, h, lo, c, v)
            for ts, o, h, lo, c, v in zip(frame["ts"], *cols, strict=True)}


def _markets(path: Path, days: int) -> Iterator[Market]:
    from live.algos.profile import VolumeProfile

    frame = pd.read_parquet(path)
    frame = frame[frame["symbol"].isin(LOT_SIZES)]
    frame["day"] = frame["ts"].dt.date
    sessions = sorted(frame["day"].unique())
    for day_index in range(HISTORY_DAYS, min(len(sessions), HISTORY_DAYS + days)):
        history_days = set(sessions[day_index - HISTORY_DAYS: day_index])
        for symbol, group in frame.groupby("symbol", sort=True):
            history = group[group["day"].isin(history_days)]
            today = group[group["day"] == sessions[day_index]]
            sigma = float(np.mean([parkinson_sigma_bps(h, lo) for h, lo in
                                   zip(history["high"], history["low"], strict=True)]))
            times = [t.to_pydatetime() for t in history["ts"]]
            yield Market(str(symbol), _bars(today),
                         VolumeProfile.from_bars(times, history["volume"].tolist()),
                         float(history["volume"][history["volume"] > 0].mean()), sigma)


@dataclass
class Tally:
    shortfall_bps: list[float]
    impact_bps: list[float]
    latency_us: list[float]


def _starts(market: Market) -> list[datetime]:
    first = min(market.bars)
    day = first.replace(hour=9, minute=30, second=0, microsecond=0)
    last = first.replace(hour=14, minute=30)
    out = []
    while day <= last:
        if day in market.bars:
            out.append(day)
        day += timedelta(minutes=START_EVERY)
    return out


def _run_parent(market: Market, start: datetime, size_pct: float, rng: random.Random,
                specs: dict[str, Any], params: Any, tallies: dict[tuple[str, float], Tally]
                ) -> None:
    lot = LOT_SIZES[market.symbol]
    lots = max(1, round(size_pct / 100.0 * market.adv_minute_volume / lot))
    parent_qty, side = lots * lot, rng.choice((Side.BUY, Side.SELL))
    arrival = market.bars[start].open
    deadline = start + timedelta(minutes=HORIZON_MINUTES)
    eta = _eta(params, market, parent_qty)
    seed = rng.randrange(2**31)
    for name, spec in specs.items():
        gc.disable()  # as timeit does: a collection of the simulation's garbage is not the algo's
        elapsed_us = math.inf
        for _ in range(LATENCY_REPEATS):  # the best of a few: the code, not the shared CPU
            t0 = time.perf_counter_ns()
            children = schedule_children(spec, parent_qty=parent_qty, lot_size=lot,
                                         start=start, market=market, seed=seed, eta=eta)
            elapsed_us = min(elapsed_us, (time.perf_counter_ns() - t0) / 1e3)
        gc.enable()
        vwap, impact, filled = _execute(children, market, side, parent_qty, deadline,
                                        f"{market.symbol}:{start}:{size_pct}:{name}")
        if filled == 0:
            continue
        sign = 1.0 if side is Side.BUY else -1.0
        tally = tallies.setdefault((name, size_pct), Tally([], [], []))
        tally.shortfall_bps.append(sign * (vwap - arrival) / arrival * BPS)
        tally.impact_bps.append(impact)
        tally.latency_us.append(elapsed_us / max(len(children), 1))


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=20, help="replayed sessions (after "
                        f"{HISTORY_DAYS} of history)")
    parser.add_argument("--dataset", default="nse_futures_front_1m")
    parser.add_argument("--risk-aversion", type=float, default=IS_RISK_AVERSION,
                        help="the IS algo's Almgren-Chriss lambda")
    args = parser.parse_args()
    params = load_impact_params(ROOT / "data" / "calibration" / "impact.json")
    specs, rng = _specs(args.risk_aversion), random.Random(SEED)
    tallies: dict[tuple[str, float], Tally] = {}
    t0 = time.perf_counter()
    n_markets = 0
    for market in _markets(ROOT / "data" / "datasets" / f"{args.dataset}.parquet", args.days):
        n_markets += 1
        for start in _starts(market):
            for size_pct in SIZES_PCT:
                _run_parent(market, start, size_pct, rng, specs, params, tallies)
    wall = time.perf_counter() - t0
    print(f"{args.dataset}: {n_markets} symbol-days, {args.days} sessions, wall {wall:.1f} s; "
          f"IS lambda {args.risk_aversion:g}, eta from "
          f"calibration_source={params.calibration_source}")
    print(f"{'algo':<7}{'size%':>6}{'n':>6}{'mean_bps':>10}{'std_bps':>9}{'impact_bps':>11}"
          f"{'impact_std':>11}{'p99_us/child':>13}")
    for size_pct in SIZES_PCT:
        for name in ALGOS:
            t = tallies.get((name, size_pct))
            if t is None:
                continue
            print(f"{name:<7}{size_pct:>6g}{len(t.shortfall_bps):>6}"
                  f"{statistics.fmean(t.shortfall_bps):>10.3f}"
                  f"{statistics.pstdev(t.shortfall_bps):>9.3f}"
                  f"{statistics.fmean(t.impact_bps):>11.3f}"
                  f"{statistics.pstdev(t.impact_bps):>11.3f}{_p(t.latency_us, 99):>13.1f}")
    market20, is20 = tallies[("market", 20.0)], tallies[("is", 20.0)]
    algo_latency = [v for (name, _), t in tallies.items() if name != "market"
                    for v in t.latency_us]
    market_latency = [v for (name, _), t in tallies.items() if name == "market"
                      for v in t.latency_us]
    m_mean, i_mean = statistics.fmean(market20.shortfall_bps), statistics.fmean(is20.shortfall_bps)
    reduction = (1.0 - i_mean / m_mean) * 100.0 if m_mean > 0 else math.nan
    impact_reduction = (1.0 - statistics.fmean(is20.impact_bps)
                        / statistics.fmean(market20.impact_bps)) * 100.0
    print(f"market_20pct_mean_bps: {m_mean:.3f}")
    print(f"market_20pct_std_bps: {statistics.pstdev(market20.shortfall_bps):.3f}")
    print(f"is_20pct_mean_bps: {i_mean:.3f}")
    print(f"is_20pct_std_bps: {statistics.pstdev(is20.shortfall_bps):.3f}")
    print(f"is_20pct_impact_reduction_pct: {impact_reduction:.1f}")
    print(f"market_decision_p50_us_per_child: {_p(market_latency, 50):.1f}")
    print(f"market_decision_p99_us_per_child: {_p(market_latency, 99):.1f}")
    print(f"algo_decision_p50_us_per_child: {_p(algo_latency, 50):.1f}")
    print(f"algo_decision_p99_us_per_child: {_p(algo_latency, 99):.1f}")
    print(f"is_20pct_shortfall_reduction_vs_market_pct: {reduction:.1f}")


if __name__ == "__main__":
    main()
