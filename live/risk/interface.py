"""The risk engine's interface (the engine itself: :mod:`live.risk.pretrade`).

The runner asks :meth:`RiskEngine.check` about every order before it is journaled as an
intent; the answer is a :class:`RiskDecision` (journaled as ``RiskChecked``), never an
exception: a denial is an event. The runner has no default engine: its caller passes one
(``stratops live run`` passes :class:`~live.risk.pretrade.PreTradeRiskEngine`), so no code
path trades unchecked by omission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from live.state import LiveState


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderProposal:
    """What the runner wants to send, before it becomes an intent. ``qty`` in units
    (lots x lot size); ``reference_price`` the price the order is expected to trade near
    (the close of the bar it is decided at, at ``reference_ts``): the price the collar
    checks against the last trade known *before* ``reference_ts``. ``band_base_price``: the
    previous session's last close, the base of the exchange's daily price band (None while
    unknown)."""

    strategy: str
    symbol: str
    side: int  # +1 buy, -1 sell
    qty: int
    reference_price: float
    reduces_exposure: bool
    ts: datetime
    lot_size: int = 1
    exchange: str = "NFO"
    product: str = "NRML"
    instrument_type: str = "index_future"
    expiry: date | None = None
    reference_ts: datetime | None = None
    order_type: str = "MARKET"  # a protective exit rests as SL-M (stop) or LIMIT (target)
    band_base_price: float | None = None
    slice_index: int = 0  # slice of an order split at the freeze quantity (live.orders)
    limit_price: float | None = None  # a limit order's price (None: at market)
    client_key: str = ""  # the order's client key (named in a self-trade denial)
    algo_id: str | None = None  # the exchange-issued algo id of the version (SEBI)
    # the sender crosses a nettable resting order of ours internally (self_trade: net);
    # only the runner's market slices do
    nets: bool = False


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """``disable_strategy``: the control wants the strategy halted until a person
    re-enables it (message-rate throttle). ``warning``: a breach that does not deny this
    order (a risk-reducing order priced outside the collar or band); the runner alerts.
    ``notice``: a compliance near-breach (order-to-trade ratio) the runner alerts."""

    passed: bool
    check: str
    reason: str
    disable_strategy: bool = False
    warning: str = ""
    notice: str = ""


class RiskEngine(Protocol):
    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision: ...

    def remember(self, proposal: OrderProposal) -> None:
        """An order that passed before a restart, rebuilt from its journaled intent (its
        ``reference_price`` is NaN): engines with memory (message rate, duplicates) take it
        back so a restart does not forget what was just sent."""
        ...

