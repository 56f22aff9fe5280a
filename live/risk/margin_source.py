"""Where the margin cap's two numbers come from: the margin an order needs and the capital
available to carry it.

:class:`MarginSource` is the small protocol the pre-trade engine asks
(:mod:`live.risk.portfolio_caps`); :class:`PaperMargins` answers from the SPAN-like model
(:mod:`live.risk.margin`, risk.yaml ``margin.params_file``) against risk.yaml
``margin.available_capital_inr``: the book's margin *after* the order against that capital.
The Kite source (:mod:`live.adapters.kite.margins`) answers from the broker: the order's
margin (``order_margins``) against the cash available now (``margins``). A source that
cannot answer raises :class:`MarginUnavailableError` (the order is denied: fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from live.risk.interface import OrderProposal
from live.risk.margin import MarginParams, Market, Position, post_trade_margin_ok
from strategies.errors import StratopsError


class MarginUnavailableError(StratopsError, RuntimeError):
    """The margin or the available capital cannot be known (an answer that cannot be
    parsed, a failed call, missing market data); the message says which."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BookChange:
    """What a margin source may need about the order: the book before it (signed lots per
    instrument and strategy, working orders in its direction included), the order as a
    change, the market (futures price, annualised vol per underlying) and the trade date."""

    proposal: OrderProposal
    before: Sequence[Position]
    change: Position
    market: Market
    today: date


@dataclass(frozen=True, slots=True)
class MarginNeed:
    """``required_inr`` must not exceed ``available_inr``; ``basis`` says what each is."""

    required_inr: float
    available_inr: float
    basis: str

    @property
    def ok(self) -> bool:
        return self.required_inr <= self.available_inr


class MarginSource(Protocol):
    def need(self, book: BookChange) -> MarginNeed:
        """The margin the order needs and the capital available for it."""
        ...

    def available_inr(self) -> float:
        """The capital available now (the VaR cap's denominator too)."""
        ...


class PaperMargins:
    """Paper capital: the SPAN-like margin of the book after the order against risk.yaml
    ``margin.available_capital_inr``."""

    def __init__(self, params: MarginParams, available_capital_inr: float) -> None:
        self.params, self.capital_inr = params, float(available_capital_inr)

    def available_inr(self) -> float:
        return self.capital_inr

    def need(self, book: BookChange) -> MarginNeed:
        check = post_trade_margin_ok(book.before, book.change, book.market, self.params,
                                     self.capital_inr, book.today)
        return MarginNeed(check.required_inr, check.available_inr,
                          "SPAN-like margin of the book after the order vs paper capital "
                          "(risk.yaml margin.available_capital_inr)")
