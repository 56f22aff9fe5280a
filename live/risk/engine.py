"""The risk engine's interface, and the pass-through used until the risk issue lands.

The runner asks :meth:`RiskEngine.check` about every order before it is journaled as an
intent; the answer is a :class:`RiskDecision` (journaled as ``RiskChecked``), never an
exception: a denial is an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from live.state import LiveState


@dataclass(frozen=True, slots=True)
class OrderProposal:
    """What the runner wants to send, before it becomes an intent."""

    strategy: str
    symbol: str
    side: int  # +1 buy, -1 sell
    qty: int
    reference_price: float
    reduces_exposure: bool


@dataclass(frozen=True, slots=True)
class RiskDecision:
    passed: bool
    check: str
    reason: str


class RiskEngine(Protocol):
    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision: ...


class PassThroughRisk:
    """Allows everything (journaled as such): the placeholder with the real interface."""

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        return RiskDecision(True, "pass_through", "no risk engine configured")
