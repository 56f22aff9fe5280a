"""The fake Kite's margins: user margins (``/user/margins``) and order margins
(``POST /margins/orders``), from a flat SPAN-like rate and an exposure rate on the notional.

``span = qty * price * span_rate`` and ``exposure = qty * price * exposure_rate`` where the
price is the order's price, else the latest tick price of the contract. The account holds
``capital_inr``; open positions use margin at their latest price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.fake_kite.book import OrderBook
from tests.fake_kite.fields import input_error


@dataclass(frozen=True)
class MarginSettings:
    capital_inr: float = 1_000_000.0
    span_rate: float = 0.12
    exposure_rate: float = 0.03


def order_margins(book: OrderBook, settings: MarginSettings,
                  orders: object) -> list[dict[str, Any]]:
    """Kite's ``/margins/orders`` answer for a list of order dicts."""
    if not isinstance(orders, list) or not all(isinstance(o, Mapping) for o in orders):
        raise input_error(f"Invalid order margins request: expected a list of orders, got "
                          f"{orders!r:.100}")
    return [_one(book, settings, order) for order in orders]


def _one(book: OrderBook, settings: MarginSettings,
         order: Mapping[str, Any]) -> dict[str, Any]:
    row = book.instrument(order.get("tradingsymbol"))
    try:
        qty = int(order.get("quantity", 0))
        price = float(order.get("price") or 0.0)
    except (TypeError, ValueError):
        raise input_error(f"Invalid quantity/price in {dict(order)!r:.200}") from None
    if qty <= 0:
        raise input_error(f"Invalid `quantity` {order.get('quantity')!r}")
    if price <= 0:
        price = book.last_price.get(row["tradingsymbol"], 0.0)
    if price <= 0:
        raise input_error(f"No price yet for {row['tradingsymbol']}: pass `price`")
    notional = qty * price
    span = notional * settings.span_rate
    exposure = notional * settings.exposure_rate
    return {"type": "equity", "tradingsymbol": row["tradingsymbol"],
            "exchange": row["exchange"], "span": span, "exposure": exposure,
            "option_premium": 0, "additional": 0, "bo": 0, "cash": 0, "var": 0,
            "pnl": {"realised": 0, "unrealised": 0}, "leverage": 1,
            "charges": {"transaction_tax": 0, "transaction_tax_type": "stt",
                        "exchange_turnover_charge": 0, "sebi_turnover_charge": 0,
                        "brokerage": 0, "stamp_duty": 0, "gst": {"igst": 0, "cgst": 0,
                                                                 "sgst": 0, "total": 0},
                        "total": 0},
            "total": span + exposure}


def user_margins(book: OrderBook, settings: MarginSettings) -> dict[str, Any]:
    """Kite's ``/user/margins`` answer: equity from the positions, commodity empty."""
    realised = sum(p.realised for p in book.positions.values())
    unrealised = sum((p.last_price - p.avg) * p.qty for p in book.positions.values() if p.qty)
    span = exposure = 0.0
    for p in book.positions.values():
        notional = abs(p.qty) * p.last_price
        span += notional * settings.span_rate
        exposure += notional * settings.exposure_rate
    cash = settings.capital_inr
    equity = {
        "enabled": True, "net": cash + realised + unrealised - span - exposure,
        "available": {"adhoc_margin": 0, "cash": cash, "opening_balance": cash,
                      "live_balance": cash + realised + unrealised - span - exposure,
                      "collateral": 0, "intraday_payin": 0},
        "utilised": {"debits": span + exposure, "exposure": exposure,
                     "m2m_realised": realised, "m2m_unrealised": unrealised,
                     "option_premium": 0, "payout": 0, "span": span, "holding_sales": 0,
                     "turnover": 0, "liquid_collateral": 0, "stock_collateral": 0,
                     "delivery": 0},
    }
    commodity = {"enabled": False, "net": 0, "available": {}, "utilised": {}}
    return {"equity": equity, "commodity": commodity}
