"""Kite's full market quote (``GET /quote``) of an instrument from its latest fake tick: last
price, volume, day OHLC (``close`` = previous close), depth and the circuit limits the fake
enforces on orders (:mod:`tests.fake_kite.exchange_rules`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fake_kite.exchange_rules import ExchangeRules, band
from tests.fake_kite.market import IST, Tick
from tests.fake_kite.packets import depth


def quote(row: Mapping[str, Any], tick: Tick, rules: ExchangeRules, *,
          seed: int) -> dict[str, Any]:
    tick_size = float(row["tick_size"])
    bids, asks = depth(tick, token=int(row["instrument_token"]),
                       tick_paise=round(tick_size * 100), lot_size=int(row["lot_size"]),
                       seed=seed)
    prev_close = tick.prev_close_paise / 100.0
    lower, upper = (band(prev_close, rules.price_band_pct, tick_size)
                    if rules.price_band_pct is not None else (0.0, 0.0))
    stamp = tick.ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "instrument_token": row["instrument_token"], "timestamp": stamp,
        "last_trade_time": stamp, "last_price": tick.price_paise / 100.0,
        "last_quantity": tick.last_qty, "buy_quantity": sum(q for q, _, _ in bids),
        "sell_quantity": sum(q for q, _, _ in asks), "volume": tick.volume_traded,
        "average_price": tick.avg_price_paise / 100.0, "oi": 0, "oi_day_high": 0,
        "oi_day_low": 0, "net_change": (tick.price_paise - tick.prev_close_paise) / 100.0,
        "lower_circuit_limit": lower, "upper_circuit_limit": upper,
        "ohlc": {"open": tick.day_open_paise / 100.0, "high": tick.day_high_paise / 100.0,
                 "low": tick.day_low_paise / 100.0, "close": prev_close},
        "depth": {"buy": [{"price": p / 100.0, "quantity": q, "orders": n} for q, p, n in bids],
                  "sell": [{"price": p / 100.0, "quantity": q, "orders": n}
                           for q, p, n in asks]},
    }
