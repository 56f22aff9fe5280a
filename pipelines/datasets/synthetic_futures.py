"""SYNTHETIC NIFTY/BANKNIFTY futures bars per contract and the continuous front-month series.

Only spot index bars exist here (themselves synthetic, :mod:`pipelines.datasets.synthetic_nse`),
so each futures contract of the instrument master is priced from the spot by cost of carry:

    F = S * exp(r * days_to_expiry / 365 + e),   e ~ N(0, noise_sd) per contract and bar,

with ``days_to_expiry`` from the bar's start to 15:30 on the expiry day, one seeded
``Generator(PCG64(seed))`` drawing ``e`` contract by contract in master order, and the same
factor applied to a bar's open, high, low and close (then rounded to the contract's tick, which
keeps high >= open/close >= low). A contract has bars from the session after the expiry three
months before its own (NSE lists three monthly futures) to its expiry. Volume is the spot's.

The **front** series (symbol = the underlying) is each session's front contract at its own
prices (a step at each roll): what live trades, for replaying a session at contract prices.
The **continuous** series (symbol = the underlying) takes each session from the front
contract under the roll rule (:mod:`strategies.contracts`), **back-adjusted by difference**:
at each roll the gap ``new close - old close`` at the last bar before the roll session (both
contracts trade then) is added to every earlier bar, so the latest contract's prices are
unadjusted and no roll shows as a jump. The rolls table lists every roll explicitly. Research
runs on the continuous series because live trades the contract.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.datasets.schema import (
    KIND_INTRADAY,
    DatasetMeta,
    Instrument,
    atomic_write,
    read_dataset,
    write_dataset,
)
from strategies.contracts import DEFAULT_ROLL_DAYS, RollRule, front_contract
from strategies.instruments import Contract, InstrumentMaster, parse_master

EXPIRY_CLOSE = time(15, 30)
LISTED_MONTHS = 3
NS_PER_DAY = 86_400 * 10**9
DEFAULT_RATE = 0.065  # an illustrative annual carry rate (continuous)
DEFAULT_SEED = 20250102


@dataclass(frozen=True, kw_only=True, slots=True)
class CarryModel:
    """Cost of carry: annual rate ``rate`` (continuous) and basis noise sd ``noise_sd``."""

    rate: float = DEFAULT_RATE
    noise_sd: float = 0.0001
    seed: int = DEFAULT_SEED


def _round_tick(prices: np.ndarray, tick: float) -> np.ndarray:
    return np.asarray(np.round(np.round(prices / tick) * tick, 2))


def _listing_start(futures: tuple[Contract, ...], i: int) -> date | None:
    """Exclusive start of contract ``i``'s life: the expiry three contracts before it."""
    return futures[i - LISTED_MONTHS].expiry if i >= LISTED_MONTHS else None


def contract_bars(spot: pd.DataFrame, master: InstrumentMaster, underlyings: tuple[str, ...],
                  model: CarryModel) -> pd.DataFrame:
    """Per-contract futures bars (symbol = tradingsymbol) priced from the spot bars."""
    rng = np.random.Generator(np.random.PCG64(model.seed))
    frames = []
    for underlying in underlyings:
        bars = spot[spot["symbol"] == underlying]
        session = bars["ts"].dt.tz_localize(None).dt.normalize().dt.date
        futures = master.futures(underlying)
        for i, contract in enumerate(futures):
            assert contract.expiry is not None
            start = _listing_start(futures, i)
            live = (session <= contract.expiry) & (
                session > start if start is not None else True)
            window = bars[live.to_numpy()]
            if window.empty:
                continue
            close_ts = pd.Timestamp(datetime.combine(contract.expiry, EXPIRY_CLOSE),
                                    tz=window["ts"].dt.tz)
            days = (close_ts.value - window["ts"].dt.as_unit("ns").astype("int64").to_numpy()
                    ) / NS_PER_DAY
            noise = rng.standard_normal(len(window)) * model.noise_sd
            factor = np.exp(model.rate * days / 365.0 + noise)
            out = {"ts": window["ts"].to_numpy(), "symbol": contract.tradingsymbol}
            for col in ("open", "high", "low", "close"):
                out[col] = _round_tick(window[col].to_numpy() * factor, contract.tick_size)
            out["volume"] = window["volume"].to_numpy()
            frames.append(pd.DataFrame(out))
    result = pd.concat(frames, ignore_index=True)
    result["ts"] = result["ts"].dt.tz_convert(spot["ts"].dt.tz)
    return result


def _segments(sessions: list[date], master: InstrumentMaster, underlying: str,
              rule: RollRule) -> list[tuple[Contract, list[date]]]:
    """(front contract, its sessions) in order, one entry per held contract."""
    segments: list[tuple[Contract, list[date]]] = []
    for day in sessions:
        contract = front_contract(master, underlying, day, rule)
        if segments and segments[-1][0] == contract:
            segments[-1][1].append(day)
        else:
            segments.append((contract, [day]))
    return segments


def front_series(per_contract: pd.DataFrame, master: InstrumentMaster,
                 underlyings: tuple[str, ...], rule: RollRule
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(back-adjusted series, unadjusted series, rolls table), symbol = the underlying. The
    unadjusted series is each session's front contract at its own prices (what live trades
    and a replay should fill at); the adjusted one is what research runs on."""
    frames, raw_frames, rolls = [], [], []
    day_of = per_contract["ts"].dt.tz_localize(None).dt.normalize().dt.date
    for underlying in underlyings:
        mine = per_contract["symbol"].isin([c.tradingsymbol for c in master.futures(underlying)])
        sessions = sorted(set(day_of[mine.to_numpy()]))
        segments = _segments(sessions, master, underlying, rule)
        pieces, gaps = [], []
        for k, (contract, days) in enumerate(segments):
            rows = per_contract[(per_contract["symbol"] == contract.tradingsymbol).to_numpy()
                                & day_of.isin(days).to_numpy()]
            pieces.append(rows.assign(symbol=underlying))
            if k + 1 < len(segments):
                nxt = segments[k + 1][0]
                ref = rows["ts"].iloc[-1]
                new = per_contract[(per_contract["symbol"] == nxt.tradingsymbol).to_numpy()
                                   & (per_contract["ts"] == ref).to_numpy()]
                if new.empty:
                    raise ValueError(f"{nxt.tradingsymbol} has no bar at {ref} to roll into")
                from_close, to_close = float(rows["close"].iloc[-1]), float(new["close"].iloc[0])
                gaps.append(round(to_close - from_close, 2))
                rolls.append({"symbol": underlying, "roll_session": segments[k + 1][1][0],
                              "from_contract": contract.tradingsymbol,
                              "to_contract": nxt.tradingsymbol,
                              "from_expiry": contract.expiry, "to_expiry": nxt.expiry,
                              "ref_ts": ref, "from_close": from_close, "to_close": to_close,
                              "gap": gaps[-1]})
        adjust = np.r_[np.cumsum(np.array(gaps[::-1], dtype=np.float64))[::-1], 0.0]
        raw_frames += [piece.copy() for piece in pieces]
        for piece, shift in zip(pieces, adjust, strict=True):
            for col in ("open", "high", "low", "close"):
                piece[col] = np.round(piece[col].to_numpy() + shift, 2)
            frames.append(piece)
        for roll, shift in zip(rolls[len(rolls) - len(gaps):], adjust[:-1], strict=True):
            roll["adjustment_before"] = float(round(shift, 2))
    table = pd.DataFrame(rolls)
    if not table.empty:
        table["roll_session"] = pd.to_datetime(table["roll_session"])
        table["from_expiry"] = pd.to_datetime(table["from_expiry"])
        table["to_expiry"] = pd.to_datetime(table["to_expiry"])
    return (pd.concat(frames, ignore_index=True), pd.concat(raw_frames, ignore_index=True),
            table)


def _meta(name: str, source: str, instruments: dict[str, Instrument]) -> DatasetMeta:
    return DatasetMeta(name=name, kind=KIND_INTRADAY, timeframe="1m", venue="NSE",
                       source=source, synthetic=True, instruments=instruments)


def main(argv: list[str] | None = None) -> int:
    """Write the per-contract bars, the continuous series and its rolls table."""
    parser = argparse.ArgumentParser(description="Write SYNTHETIC futures bars from spot.")
    parser.add_argument("--spot", type=Path, required=True)
    parser.add_argument("--master", type=Path, required=True)
    parser.add_argument("--contracts-out", type=Path, required=True)
    parser.add_argument("--continuous-out", type=Path, required=True)
    parser.add_argument("--rolls-out", type=Path, required=True)
    parser.add_argument("--front-out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    parser.add_argument("--roll-days", type=int, default=DEFAULT_ROLL_DAYS)
    args = parser.parse_args(argv)
    master = parse_master(args.master.read_text(encoding="utf-8"), source=str(args.master))
    spot = read_dataset(args.spot)
    underlyings = tuple(sorted(set(spot["symbol"]) & set(master.underlyings())))
    model = CarryModel(rate=args.rate, seed=args.seed)
    rule = RollRule(days_before_expiry=args.roll_days)
    per_contract = contract_bars(spot, master, underlyings, model)
    continuous, front, rolls = front_series(per_contract, master, underlyings, rule)
    source = (f"synthetic: pipelines.datasets.synthetic_futures seed={args.seed} "
              f"rate={args.rate} from {args.spot.name} and {args.master.name}")
    traded = set(per_contract["symbol"].unique())
    lots = {c.tradingsymbol: Instrument(lot_size=c.lot_size, tick_size=c.tick_size)
            for c in master if c.is_future and c.tradingsymbol in traded}
    write_dataset(per_contract, args.contracts_out,
                  _meta(args.contracts_out.stem, source, lots))
    fronts = {u: master.futures(u)[0] for u in underlyings}
    write_dataset(continuous, args.continuous_out, _meta(
        args.continuous_out.stem, source + f" back-adjusted, roll {args.roll_days} session(s) "
        "before expiry",
        {u: Instrument(lot_size=c.lot_size, tick_size=c.tick_size) for u, c in fronts.items()}))
    front_lots = {u: Instrument(lot_size=c.lot_size, tick_size=c.tick_size)
                  for u, c in fronts.items()}
    write_dataset(front, args.front_out, _meta(
        args.front_out.stem, source + f" front contract unadjusted, roll {args.roll_days} "
        "session(s) before expiry", front_lots))
    atomic_write(args.rolls_out, lambda tmp: rolls.to_parquet(tmp, index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
