"""Extract real market data shipped inside PyPI packages into normalised datasets.

Sources (read through ``importlib.resources`` from the installed, pinned packages):

* ``backtesting/test/GOOG.csv`` - Alphabet daily OHLCV 2004-2013 (NYSE calendar);
* ``backtesting/test/EURUSD.csv`` - EUR/USD hourly OHLCV 2017-2018, UTC timestamps
  (stored in New York time, the FX session clock);
* ``skfolio/datasets/data/sp500_dataset.csv.gz`` - daily closes of 20 S&P 500 stocks,
  1990-2022 (close-only: open/high/low equal the close, volume unknown).

Each source goes through the same reader and normaliser as a user's import, so the shipped
data is also the importer's first real-world test. Used by the ``shipped`` DVC stage.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.resources
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.datasets.normalise import NormaliseOptions, normalise
from pipelines.datasets.schema import DatasetMeta, write_dataset
from pipelines.datasets.source_file import RawTable

MAX_SHIPPED_BYTES = 512 * 2**20


@dataclass(frozen=True, slots=True)
class ShippedSource:
    """One dataset extracted from a package resource."""

    name: str
    package: str
    resource: str
    symbol: str
    timeframe: str
    venue: str
    tz: str

    def describe(self) -> str:
        return f"package {self.package}: {self.resource}"


GOOG = ShippedSource("goog_1d", "backtesting", "test/GOOG.csv", "GOOG", "1d", "NYSE",
                     "America/New_York")
EURUSD = ShippedSource("eurusd_1h", "backtesting", "test/EURUSD.csv", "EURUSD", "1h", "FX", "UTC")
SP500 = "sp500_1d"
SP500_RESOURCE = ("skfolio", "datasets/data/sp500_dataset.csv.gz")


def _resource_bytes(package: str, resource: str) -> bytes:
    return importlib.resources.files(package).joinpath(resource).read_bytes()


def _raw_csv(source_name: str, text: str) -> RawTable:
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return RawTable(Path(source_name), "csv", frame, pd.Series(range(2, len(frame) + 2)), ",")


def extract_ohlcv(source: ShippedSource) -> tuple[pd.DataFrame, DatasetMeta]:
    """Normalise one single-symbol OHLCV resource."""
    text = _resource_bytes(source.package, source.resource).decode("utf-8")
    raw = _raw_csv(source.describe(), text)
    bars = normalise(raw, NormaliseOptions(
        symbol=source.symbol, timeframe=source.timeframe, venue=source.venue, tz=source.tz))
    frame = bars.frame.drop(columns="line")
    if source.venue == "FX":
        frame = _drop_fx_week_close(frame)
    meta = DatasetMeta(
        name=source.name, kind=bars.kind, timeframe=source.timeframe, venue=source.venue,
        source=source.describe(), has_volume=bars.has_volume,
    )
    return frame, meta


def _drop_fx_week_close(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop bars stamped exactly at Friday 17:00 New York: the FX week has closed by then.

    The EURUSD source carries two such one-tick bars (2017-10-06, 2017-10-20); they lie
    outside any FX session, so the strict in-session rule would refuse the dataset.
    """
    local = frame["ts"].dt.tz_convert("America/New_York")
    at_close = (local.dt.day_of_week == 4) & (local.dt.hour == 17) & (local.dt.minute == 0)
    return frame[~at_close.to_numpy()].reset_index(drop=True)


def extract_sp500() -> tuple[pd.DataFrame, DatasetMeta]:
    """Normalise skfolio's wide 20-stock close table, one symbol at a time."""
    package, resource = SP500_RESOURCE
    text = gzip.decompress(_resource_bytes(package, resource)).decode("utf-8")
    wide = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    date_col = wide.columns[0]
    frames = []
    kind = ""
    for symbol in wide.columns[1:]:
        one = wide[[date_col, symbol]].rename(columns={symbol: "close"})
        one = one[one["close"] != ""]  # listed later than 1990: no close before listing
        raw = RawTable(Path(f"package {package}: {resource}"), "csv", one.reset_index(drop=True),
                       pd.Series(one.index + 2), ",")
        bars = normalise(raw, NormaliseOptions(symbol=symbol, timeframe="1d", venue="NYSE",
                                               tz="America/New_York"))
        kind = bars.kind
        frames.append(bars.frame.drop(columns="line"))
    meta = DatasetMeta(name=SP500, kind=kind, timeframe="1d", venue="NYSE",
                       source=f"package {package}: {resource}", has_volume=False)
    return pd.concat(frames, ignore_index=True), meta


def build_all(out_dir: Path) -> list[Path]:
    """Write every shipped dataset into ``out_dir`` as ``<name>.parquet``."""
    written = []
    for frame, meta in (extract_ohlcv(GOOG), extract_ohlcv(EURUSD), extract_sp500()):
        written.append(write_dataset(frame, out_dir / f"{meta.name}.parquet", meta))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Extract package-shipped market data.")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    for path in build_all(args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
