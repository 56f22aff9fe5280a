"""The pipeline's pre-trade risk step, through the bus: a ``CheckRisk`` command to the risk
engine's handler (:class:`~live.risk.handler.RiskHandler`), which journals the answer as
``RiskChecked``; the pipeline then acts on that answer. With the in-process transport the
answer comes on the sender's stack, so the journal reads as when the engine was called
directly. No answer (a transport that has not delivered the command) is a denial: the
order is not sent (fail closed) and a critical ``risk_unanswered`` alert says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from live.contracts import contract_size_problems
from live.events import RiskChecked, Severity
from live.risk.compliance_controls import ALGO_ID, ALGO_RATE, NEAR_BREACH, OTR, SELF_TRADE
from live.risk.handler import RiskAnswers, check_risk_for
from live.risk.interface import OrderProposal, RiskDecision
from live.runner.core import RunnerCore
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from strategies.instruments import Contract

UNANSWERED = "risk_unanswered"
SELF_TRADE_EXIT = "self_trade_exit"  # an exit sent although it crosses a working order of ours
# an exit sent although a compliance control (algo id, unregistered-algo rate, order-to-trade
# thresholds) would have denied an entry
COMPLIANCE_EXIT = "compliance_exit"
_COMPLIANCE = tuple(f"{check}:" for check in (ALGO_ID, ALGO_RATE, OTR))
INSTRUMENT = "instrument"  # the check id of a denial for want of a tradable contract


def contract_field(contract: Contract | RiskDecision | None, field: str) -> Any:
    """A field of the contract an order trades (None without a master)."""
    return getattr(contract, field) if isinstance(contract, Contract) else None


class RiskGate(RunnerCore):
    """Asks the risk engine about an order over the bus and alerts on its warnings."""

    risk_handler: RiskAnswers
    risk_checks: Iterator[int]  # the sender's check count (part of each check id)

    def order_contract(self, trace_id: str, d: Deployed, bar: FeedBar, *, reduces: bool
                       ) -> Contract | RiskDecision | None:
        """The contract an order of ``d`` on ``bar`` trades (the open position's own
        contract, else the session's front one); None without an instrument master. A
        contract that cannot be had (underlying or instrument missing from the master,
        expired, no current contract) or whose lot or tick size the version contradicts (a
        revision since the run started) is a denial, journaled as ``RiskChecked`` with check
        ``instrument`` and alerted: nothing is sent on a guess."""
        if self.contracts is None:
            return None
        pos = self.state.positions.get((d.strategy, bar.symbol))
        held_in = pos.tradingsymbol if pos is not None and pos.net_qty != 0 else None
        try:
            contract = self.contracts.for_order(bar.symbol, bar.ts,
                                                held_in if reduces else None)
            problems = contract_size_problems(contract, lot_size=d.lot_for(bar.symbol),
                                              tick_size=d.tick_for(bar.symbol))
            if not problems:
                return contract
            why = f"{d.strategy}/{bar.symbol}: {'; '.join(problems)}"
        except (KeyError, ValueError) as exc:
            why = f"{d.strategy}/{bar.symbol}: no contract to trade: {exc}"
        self.executor.record(RiskChecked(trace_id=trace_id, ts_event=bar.ts,
                                         strategy=d.strategy, symbol=bar.symbol,
                                         passed=False, check=INSTRUMENT, reason=why))
        self.alert(bar.ts, Severity.CRITICAL, INSTRUMENT, why)
        return RiskDecision(False, INSTRUMENT, why)

    def ask_risk(self, trace_id: str, key: str, d: Deployed, bar: FeedBar, *, side: int,
                 qty: int, reduces_exposure: bool, order_type: str = "MARKET",
                 slice_index: int = 0, contract: Contract | None = None,
                 limit_price: float | None = None, nets: bool = False) -> RiskDecision:
        """The risk engine's decision on order ``key`` at ``bar`` (journaled as
        ``RiskChecked`` before this returns), or a denial when no answer came. With a
        ``contract`` (:meth:`order_contract`), the proposal carries its expiry and lot size,
        so exposure per expiry counts real expiries. A compliance near-breach notice on the
        answer (order-to-trade ratio) is journaled as an ``otr_near_breach`` alert.
        ``nets``: the caller crosses a nettable resting order of ours internally
        (:mod:`~live.runner.crossing`), so the self-trade control lets such a cross pass."""
        check_id = f"{key}#{next(self.risk_checks)}"
        self.bus.send(check_risk_for(OrderProposal(
            strategy=d.strategy, symbol=bar.symbol, side=side, qty=qty,
            reference_price=bar.close, reduces_exposure=reduces_exposure, ts=bar.ts,
            lot_size=d.lot_for(bar.symbol) if contract is None else contract.lot_size,
            exchange=self.exchange, reference_ts=bar.ts,
            expiry=None if contract is None else contract.expiry,
            order_type=order_type, product=d.product, slice_index=slice_index,
            band_base_price=self.symbol_history(bar.symbol).prev_session_close,
            limit_price=limit_price, algo_id=d.algo_id, nets=nets),
            trace_id=trace_id, check_id=check_id))
        verdict = self.risk_handler.answer(check_id)
        if verdict is None:
            why = f"{d.strategy}/{bar.symbol}: no RiskChecked for check {check_id}; not sent"
            self.alert(bar.ts, Severity.CRITICAL, UNANSWERED, why)
            return RiskDecision(False, UNANSWERED, why)
        if verdict.notice:
            self.alert(bar.ts, Severity.WARNING, NEAR_BREACH, verdict.notice)
        return verdict

    def risk_warning(self, bar: FeedBar, d: Deployed, verdict: RiskDecision, what: str
                     ) -> None:
        """A risk-reducing order sent despite a price breach (``exit_price_breach``), a
        cross with a working order of ours (``self_trade_exit``) or another compliance
        control (``compliance_exit``: no approved algo id, the unregistered-algo rate, no
        order-to-trade thresholds): journaled as an alert."""
        if verdict.passed and verdict.warning:
            code = SELF_TRADE_EXIT if f"{SELF_TRADE}:" in verdict.warning \
                else COMPLIANCE_EXIT if any(c in verdict.warning for c in _COMPLIANCE) \
                else "exit_price_breach"
            self.alert(bar.ts, Severity.WARNING, code,
                       f"{d.strategy}/{bar.symbol}: {what} sent despite {verdict.warning} "
                       "(risk-reducing orders are never held by a price or compliance check)")
