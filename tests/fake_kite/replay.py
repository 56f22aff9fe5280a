"""The fake Kite's tick frames without sockets: every step of some bars as the binary frame
a ``KiteTicker`` subscribed to every instrument receives, for parser tests and benchmarks
that must not pay for the network (the frames equal what :class:`FakeKite` sends)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from tests.fake_kite.fake import drive_map
from tests.fake_kite.instruments import check_rows, default_instruments, is_index
from tests.fake_kite.market import IST, FakeMarket
from tests.fake_kite.packets import frame, tick_packet

_END = datetime(2100, 1, 1, tzinfo=IST)


def kite_frames(bars: pd.DataFrame, instruments: Sequence[Mapping[str, Any]] | None = None, *,
                mode: str = "full", seed: int = 0,
                symbol_map: Mapping[str, str] | None = None) -> Iterator[tuple[datetime, bytes]]:
    """(exchange time, frame) of each tick step of ``bars``, every driven instrument in
    ``mode``; instruments default as in :class:`FakeKite`."""
    market = FakeMarket(bars)
    rows = check_rows(instruments if instruments is not None
                      else default_instruments(market.symbols, market.clock.date()))
    drives = drive_map(rows, market.symbols, symbol_map or {})
    for ticks in market.ticks_until(_END):
        packets = [tick_packet(tick, token=int(row["instrument_token"]), mode=mode,
                               index=is_index(row), tick_paise=round(float(row["tick_size"]) * 100),
                               lot_size=int(row["lot_size"]), seed=seed)
                   for tick in ticks for row in drives.get(tick.symbol, [])]
        if packets:
            yield ticks[0].ts, frame(packets)
