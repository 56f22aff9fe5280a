"""The pre-trade risk engine on the message bus: :class:`RiskHandler` handles the
``CheckRisk`` command - it asks the engine (:mod:`live.risk.interface`) and publishes the
answer as a ``RiskChecked`` event (journaled, then folded) - and keeps each answer's whole
:class:`~live.risk.interface.RiskDecision` (its warning and ``disable_strategy`` too) for
the sender, by check id.

Idempotent under at-least-once delivery: the engine is asked once per check id (its rate
and duplicate memory never counts a redelivered check twice) and the answer is published
once, under a message id of its own (``RiskChecked:<check_id>``: if publishing failed half
way and the command comes again, the journal skips what it already holds). An engine that
raises is a denial (``risk_engine_error``): a denial is an event, never an exception.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from live.broker import Side
from live.bus import SEEN_IDS_KEPT, MessageBus
from live.events import CheckRisk, OrderIntended, RiskChecked
from live.risk.interface import OrderProposal, RiskDecision, RiskEngine
from live.state import LiveState

RISK_ERROR = "risk_engine_error"


def check_risk_for(proposal: OrderProposal, *, trace_id: str, check_id: str) -> CheckRisk:
    """The command that asks about ``proposal`` (at ``proposal.ts``)."""
    return CheckRisk(
        trace_id=trace_id, ts_event=proposal.ts, check_id=check_id,
        strategy=proposal.strategy, symbol=proposal.symbol, side=proposal.side,
        qty=proposal.qty, reference_price=proposal.reference_price,
        reduces_exposure=proposal.reduces_exposure, lot_size=proposal.lot_size,
        exchange=proposal.exchange, product=proposal.product,
        instrument_type=proposal.instrument_type, expiry=proposal.expiry,
        reference_ts=proposal.reference_ts, order_type=proposal.order_type,
        band_base_price=proposal.band_base_price, slice_index=proposal.slice_index,
        limit_price=proposal.limit_price, algo_id=proposal.algo_id, nets=proposal.nets)


def proposal_of(command: CheckRisk) -> OrderProposal:
    """The proposal ``command`` carries."""
    return OrderProposal(
        strategy=command.strategy, symbol=command.symbol, side=command.side, qty=command.qty,
        reference_price=command.reference_price, reduces_exposure=command.reduces_exposure,
        ts=command.ts_event, lot_size=command.lot_size, exchange=command.exchange,
        product=command.product, instrument_type=command.instrument_type,
        expiry=command.expiry, reference_ts=command.reference_ts,
        order_type=command.order_type, band_base_price=command.band_base_price,
        slice_index=command.slice_index, limit_price=command.limit_price,
        algo_id=command.algo_id, nets=command.nets, client_key=command.check_id.rpartition("#")[0])


class RiskAnswers(Protocol):
    """What the runner needs of its ``CheckRisk`` handler: :class:`RiskHandler` in process,
    or the execution service's client of the risk service (``live.svc.remote_risk``)."""

    def answer(self, check_id: str) -> RiskDecision | None: ...

    def remember(self, intent: OrderIntended, *, reduces_exposure: bool) -> None: ...


def remembered_proposal(intent: OrderIntended, *, reduces_exposure: bool) -> OrderProposal:
    """A journaled intent as the proposal an engine's memory takes back (reference price
    NaN: it is not checked again)."""
    return OrderProposal(
        strategy=intent.strategy, symbol=intent.symbol,
        side=1 if intent.side is Side.BUY else -1, qty=intent.qty,
        reference_price=float("nan"), ts=intent.ts_event, exchange=intent.exchange,
        reduces_exposure=reduces_exposure, order_type=str(intent.order_type),
        product=intent.product, slice_index=intent.slice_index)


def keep_decision(table: OrderedDict[str, RiskDecision], key: str, value: RiskDecision,
                  kept: int) -> None:
    """``table[key] = value``, the oldest entry dropped past ``kept``."""
    table[key] = value
    if len(table) > kept:
        table.popitem(last=False)


class RiskHandler:
    """The handler of ``CheckRisk``: one engine, the state it checks against."""

    def __init__(self, bus: MessageBus, engine: RiskEngine, state: LiveState, *,
                 kept: int = SEEN_IDS_KEPT) -> None:
        self.bus, self.engine, self.state = bus, engine, state
        self._kept = kept
        self._asked: OrderedDict[str, RiskDecision] = OrderedDict()  # engine's verdicts
        self._answered: OrderedDict[str, RiskDecision] = OrderedDict()  # published
        bus.register(CheckRisk.KIND, self._on_check)  # type: ignore[arg-type]

    def verdict(self, check_id: str) -> RiskDecision | None:
        """The engine's decision on ``check_id`` (None: not asked yet), published or not."""
        return self._asked.get(check_id)

    def answer(self, check_id: str) -> RiskDecision | None:
        """The decision whose ``RiskChecked`` was published for ``check_id`` (None: not
        answered - nothing may act on the check)."""
        return self._answered.get(check_id)

    def remember(self, intent: OrderIntended, *, reduces_exposure: bool) -> None:
        """A journaled intent from before a restart, handed to the engine's memory (message
        rate, duplicates). A direct call, not a command: recovery folds the journal as the
        state does (``LiveState.apply``), nothing is decided and nothing is published."""
        self.engine.remember(remembered_proposal(intent, reduces_exposure=reduces_exposure))

    def _on_check(self, command: CheckRisk) -> None:
        check_id = command.check_id
        if check_id in self._answered:
            return  # delivered again: answered once
        verdict = self._asked.get(check_id)
        if verdict is None:  # asked once, even if publishing the answer fails below
            verdict = self._ask(command)
            keep_decision(self._asked, check_id, verdict, self._kept)
        self.bus.publish(RiskChecked(
            trace_id=command.trace_id, ts_event=command.ts_event, strategy=command.strategy,
            symbol=command.symbol, passed=verdict.passed, check=verdict.check,
            reason=verdict.reason), message_id=f"{RiskChecked.KIND}:{check_id}")
        keep_decision(self._answered, check_id, verdict, self._kept)

    def _ask(self, command: CheckRisk) -> RiskDecision:
        try:
            return self.engine.check(proposal_of(command), self.state)
        except Exception as exc:  # fail closed: the order is denied, the denial journaled
            return RiskDecision(False, RISK_ERROR, f"{type(exc).__name__}: {exc}")
