"""Run the fake Kite standalone for demos: ``python -m tests.fake_kite --dataset nse_index_1m
--symbols NIFTY --from 2025-03-03 --speed 60`` prints the REST and ticker roots and the
credentials, plays the bars in real time (``speed`` market seconds per second) and serves
until Ctrl-C. Loopback only.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from strategies.files import read_dataset
from tests.fake_kite.fake import FakeKite
from tests.fake_kite.market import IST

DATASETS = Path(__file__).resolve().parents[2] / "data" / "datasets"


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_kite", description=__doc__)
    parser.add_argument("--dataset", default="nse_index_1m",
                        help="a dataset name under data/datasets/ (without .parquet), or "
                        "the path of a .parquet file in the same format")
    parser.add_argument("--symbols", default="NIFTY", help="comma-separated bars symbols")
    parser.add_argument("--from", dest="start", type=date.fromisoformat, required=True,
                        help="first session date (YYYY-MM-DD)")
    parser.add_argument("--days", type=int, default=1, help="calendar days of bars to serve")
    parser.add_argument("--speed", type=float, default=60.0,
                        help="market seconds per wall second; 0 serves without playing")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load_bars(dataset: str, symbols: list[str], start: date, days: int) -> pd.DataFrame:
    """The dataset's bars of ``symbols`` from ``start`` for ``days`` calendar days."""
    path = Path(dataset) if dataset.endswith(".parquet") else DATASETS / f"{dataset}.parquet"
    if not path.exists():
        raise SystemExit(f"dataset {path} not found (build it with `make data`)")
    frame = read_dataset(path)
    begin = pd.Timestamp(start, tz=IST)
    end = begin + timedelta(days=days)
    picked = frame[frame["symbol"].isin(symbols) & (frame["ts"] >= begin) & (frame["ts"] < end)]
    if picked.empty:
        raise SystemExit(f"{path}: no bars of {symbols} from {start} for {days} day(s)")
    return picked.reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    bars = load_bars(args.dataset, args.symbols.split(","), args.start, args.days)
    with FakeKite(bars, seed=args.seed) as fake:
        print(f"rest_root:    {fake.rest_root}")
        print(f"ticker_root:  {fake.ticker_root}")
        print(f"api_key:      {fake.api_key}")
        print(f"access_token: {fake.access_token}")
        for row in fake.instruments:
            print(f"instrument:   {row['tradingsymbol']} token {row['instrument_token']} "
                  f"lot {row['lot_size']}")
        sys.stdout.flush()
        if args.speed > 0:
            fake.play(args.speed)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print(f"stopped at {fake.clock}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
