"""Kite ticker binary packets, encoded as ``kiteconnect.KiteTicker._parse_binary`` reads them.

A frame is a big-endian 2-byte packet count, then per packet a 2-byte length and the packet.
Prices are paise (unsigned 32-bit). Tradable instruments: ltp 8 bytes, quote 44, full 184
(quote + last trade time, OI, OI day high/low, exchange timestamp, then 5 bid and 5 ask depth
entries of quantity, price, orders and 2 padding bytes). Indices: ltp 8, quote 28, full 32
(+ exchange timestamp). Timestamps are epoch seconds. A heartbeat is a single byte.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

from tests.fake_kite.market import Tick

HEARTBEAT = b"\x00"
MODES = ("ltp", "quote", "full")
DEPTH_LEVELS = 5


def frame(packets: Sequence[bytes]) -> bytes:
    """Packets joined into one binary message."""
    parts = [struct.pack(">H", len(packets))]
    for packet in packets:
        parts.append(struct.pack(">H", len(packet)))
        parts.append(packet)
    return b"".join(parts)


def tick_packet(tick: Tick, *, token: int, mode: str, index: bool, tick_paise: int,
                lot_size: int, seed: int) -> bytes:
    """One instrument's packet for ``tick`` in ``mode`` (ltp, quote or full)."""
    if mode not in MODES:
        raise ValueError(f"ticker mode {mode!r}: one of {MODES}")
    if mode == "ltp":
        return struct.pack(">II", token, tick.price_paise)
    epoch_s = int(tick.ts.timestamp())
    if index:
        change = tick.price_paise - tick.prev_close_paise
        quote = struct.pack(">IIIIIIi", token, tick.price_paise, tick.day_high_paise,
                            tick.day_low_paise, tick.day_open_paise, tick.prev_close_paise,
                            change)
        return quote if mode == "quote" else quote + struct.pack(">I", epoch_s)
    bids, asks = depth(tick, token=token, tick_paise=tick_paise, lot_size=lot_size, seed=seed)
    quote = struct.pack(">11I", token, tick.price_paise, tick.last_qty, tick.avg_price_paise,
                        tick.volume_traded, sum(q for q, _, _ in bids),
                        sum(q for q, _, _ in asks), tick.day_open_paise, tick.day_high_paise,
                        tick.day_low_paise, tick.prev_close_paise)
    if mode == "quote":
        return quote
    head = struct.pack(">5I", epoch_s, 0, 0, 0, epoch_s)
    levels = b"".join(struct.pack(">IIHH", qty, price, orders, 0)
                      for qty, price, orders in (*bids, *asks))
    return quote + head + levels


def depth(tick: Tick, *, token: int, tick_paise: int, lot_size: int,
          seed: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Five bids below and five asks above the price, one tick apart; quantities (whole
    lots) and order counts drawn from a generator seeded by ``(seed, token, ts)``."""
    rng = random.Random(hash((seed, token, int(tick.ts.timestamp()), tick.price_paise)))
    bids, asks = [], []
    for level in range(1, DEPTH_LEVELS + 1):
        bids.append((lot_size * rng.randint(1, 40), max(tick.price_paise - level * tick_paise, 1),
                     rng.randint(1, 20)))
        asks.append((lot_size * rng.randint(1, 40), tick.price_paise + level * tick_paise,
                     rng.randint(1, 20)))
    return bids, asks
