"""Market data for the runner: bars from a replayed dataset (the same Parquet research uses).

``replay:<dataset>`` yields the dataset's bars in time order (all symbols interleaved), from
``start`` to ``end`` inclusive (exchange-local dates). A live broker stream implements the
same iterator of :class:`FeedBar`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from pipelines.datasets.schema import read_dataset
from strategies.names import NAME


class FeedSpecError(ValueError):
    """A --feed value that is not ``replay:<dataset>``."""


@dataclass(frozen=True, slots=True)
class FeedBar:
    """One closed bar."""

    symbol: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def parse_feed(spec: str) -> str:
    """``replay:<dataset>`` -> dataset name."""
    kind, sep, name = spec.partition(":")
    if kind != "replay" or not sep or not NAME.fullmatch(name):
        raise FeedSpecError(f"--feed {spec!r}: use replay:<dataset> (e.g. replay:nse_index_1m; "
                            "a dataset name is [a-z][a-z0-9_]{0,62})")
    return name


def replay_frame(path: Path, symbols: list[str], start: date | None,
                 end: date | None) -> pd.DataFrame:
    """The dataset's bars of ``symbols`` in [start, end], sorted by (ts, symbol)."""
    frame = read_dataset(path)
    frame = frame[frame["symbol"].isin(symbols)]
    local_day = frame["ts"].dt.tz_localize(None).dt.normalize()
    if start is not None:
        frame = frame[local_day >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[local_day.loc[frame.index] <= pd.Timestamp(end)]
    return frame.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)


def replay_bars(frame: pd.DataFrame) -> Iterator[FeedBar]:
    """Each row as a :class:`FeedBar`, in order."""
    columns = [frame[c].to_numpy() for c in ("symbol", "open", "high", "low", "close",
                                             "volume")]
    for ts, symbol, o, h, lo, c, v in zip(frame["ts"], *columns, strict=True):
        yield FeedBar(str(symbol), ts.to_pydatetime(), float(o), float(h), float(lo),
                      float(c), float(v))
