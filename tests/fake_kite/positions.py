"""One fake Kite position per (tradingsymbol, product): average-cost net quantity, realised
P&L, the day's buys and sells, and its Kite ``positions()`` row (net or day view)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Position:
    """One (tradingsymbol, product) position: net quantity, average cost, realised P&L."""

    instrument: Mapping[str, Any]
    product: str
    qty: int = 0
    avg: float = 0.0
    realised: float = 0.0
    overnight_qty: int = 0
    day_buy_qty: int = 0
    day_buy_value: float = 0.0
    day_sell_qty: int = 0
    day_sell_value: float = 0.0
    last_price: float = 0.0

    def fill(self, signed_qty: int, price: float) -> None:
        if signed_qty > 0:
            self.day_buy_qty += signed_qty
            self.day_buy_value += signed_qty * price
        else:
            self.day_sell_qty -= signed_qty
            self.day_sell_value -= signed_qty * price
        if self.qty == 0 or (self.qty > 0) == (signed_qty > 0):
            self.avg = (self.avg * abs(self.qty) + price * abs(signed_qty)) / (
                abs(self.qty) + abs(signed_qty))
            self.qty += signed_qty
            return
        closing = min(abs(self.qty), abs(signed_qty))
        self.realised += (price - self.avg) * closing * (1 if self.qty > 0 else -1)
        self.qty += signed_qty
        if self.qty == 0:
            self.avg = 0.0
        elif (self.qty > 0) == (signed_qty > 0):  # flipped through flat
            self.avg = price

    def row(self, *, day: bool) -> dict[str, Any]:
        unrealised = (self.last_price - self.avg) * self.qty if self.qty else 0.0
        buy_q, sell_q = self.day_buy_qty, self.day_sell_qty
        quantity = buy_q - sell_q if day else self.qty
        return {
            "tradingsymbol": self.instrument["tradingsymbol"],
            "exchange": self.instrument["exchange"],
            "instrument_token": self.instrument["instrument_token"],
            "product": self.product, "quantity": quantity,
            "overnight_quantity": 0 if day else self.overnight_qty, "multiplier": 1,
            "average_price": self.avg, "close_price": 0, "last_price": self.last_price,
            "value": self.day_sell_value - self.day_buy_value,
            "pnl": self.realised + unrealised, "m2m": self.realised + unrealised,
            "unrealised": unrealised, "realised": self.realised,
            "buy_quantity": buy_q, "buy_price": self.day_buy_value / buy_q if buy_q else 0,
            "buy_value": self.day_buy_value, "buy_m2m": self.day_buy_value,
            "sell_quantity": sell_q, "sell_price": self.day_sell_value / sell_q if sell_q else 0,
            "sell_value": self.day_sell_value, "sell_m2m": self.day_sell_value,
            "day_buy_quantity": buy_q, "day_buy_value": self.day_buy_value,
            "day_buy_price": self.day_buy_value / buy_q if buy_q else 0,
            "day_sell_quantity": sell_q, "day_sell_value": self.day_sell_value,
            "day_sell_price": self.day_sell_value / sell_q if sell_q else 0,
        }
