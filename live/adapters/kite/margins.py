"""Kite Connect as the margin cap's source (:class:`~live.risk.margin_source.MarginSource`).

The order's margin is Kite's ``order_margins`` answer for that one order (Kite computes it
"considering the existing positions and open orders"); the capital available is
``margins()["equity"]["net"]`` (cash and collateral net of what is already blocked). Both
answers are parsed defensively: a missing field, a non-number, a negative margin, a list of
another length, or a call that raises is a :class:`MarginUnavailableError` naming what was
wrong - the pre-trade engine denies the order with that reason; nothing raises out of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from live.risk.interface import OrderProposal
from live.risk.margin_source import BookChange, MarginNeed, MarginUnavailableError

VARIETY = "regular"
SEGMENT = "equity"  # Kite's segment of NSE/NFO (F&O) margins


class KiteMarginClient(Protocol):
    """The part of ``kiteconnect.KiteConnect`` the margin source uses."""

    def order_margins(self, params: Any) -> Any: ...

    def margins(self, segment: str | None = None) -> Any: ...


def order_margin_params(p: OrderProposal, tradingsymbol: str) -> list[dict[str, Any]]:
    """The ``order_margins`` request for one proposal (a market order at ``qty`` units)."""
    return [{"exchange": p.exchange, "tradingsymbol": tradingsymbol,
             "transaction_type": "BUY" if p.side > 0 else "SELL", "variety": VARIETY,
             "product": p.product, "order_type": p.order_type, "quantity": p.qty,
             "price": 0, "trigger_price": 0}]


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise MarginUnavailableError(f"Kite margin answer cannot be parsed: {where} is "
                                     f"{value!r:.80}, not a finite number")
    return float(value)


def parse_order_margin(answer: object) -> float:
    """The ``total`` of an ``order_margins`` answer for exactly one order (INR, >= 0)."""
    if not isinstance(answer, list) or len(answer) != 1 or not isinstance(answer[0], Mapping):
        raise MarginUnavailableError(f"Kite margin answer cannot be parsed: order_margins "
                                     f"gave {answer!r:.120}, not a list of one order")
    total = _number(answer[0].get("total"), "order_margins[0].total")
    if total < 0:
        raise MarginUnavailableError(f"Kite margin answer cannot be parsed: order_margins"
                                     f"[0].total is {total!r} (negative)")
    return total


def parse_available(answer: object) -> float:
    """``equity.net`` of a ``margins()`` answer (INR)."""
    segment = answer.get(SEGMENT) if isinstance(answer, Mapping) else None
    if not isinstance(segment, Mapping):
        raise MarginUnavailableError(f"Kite margin answer cannot be parsed: margins() gave "
                                     f"{answer!r:.120}, no {SEGMENT!r} segment")
    return _number(segment.get("net"), f"margins().{SEGMENT}.net")


class KiteMargins:
    """Margins from a logged-in ``KiteConnect`` client. ``tradingsymbol`` names the contract
    a proposal trades (the instrument master's; default: the proposal's symbol)."""

    def __init__(self, client: KiteMarginClient,
                 tradingsymbol: Callable[[OrderProposal], str] | None = None) -> None:
        self.client = client
        self.tradingsymbol = tradingsymbol or (lambda p: p.symbol)

    def available_inr(self) -> float:
        return parse_available(self._call("margins", lambda: self.client.margins()))

    def need(self, book: BookChange) -> MarginNeed:
        p = book.proposal
        params = order_margin_params(p, self.tradingsymbol(p))
        required = parse_order_margin(self._call(
            "order_margins", lambda: self.client.order_margins(params)))
        return MarginNeed(required, self.available_inr(),
                          "Kite order_margins vs margins().equity.net")

    @staticmethod
    def _call(name: str, call: Callable[[], object]) -> object:
        try:
            return call()
        except Exception as exc:  # any failure of the call: the margin is unknown
            raise MarginUnavailableError(f"Kite {name} failed: {type(exc).__name__}: "
                                         f"{exc}") from exc
