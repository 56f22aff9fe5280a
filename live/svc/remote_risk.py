"""The execution service's ``CheckRisk`` handler when risk runs as its own service
(``stratops svc execution --risk remote``; :mod:`live.svc.risk`): stands in for the
in-process :class:`~live.risk.handler.RiskHandler` behind the same
:class:`~live.risk.handler.RiskAnswers` interface, so the runner's pipeline is unchanged.

Each check is published on the commands stream (message id ``CheckRisk:<check_id>``, with
the events stream position the answer must see) and the answer awaited on the risk answers
stream until ``deadline_seconds``. The answer is journaled here as ``RiskChecked`` (this
process stays the one journal writer) before the pipeline acts on it. No answer in time:

- an entry (or any order that adds exposure) gets none - the pipeline denies it
  (``risk_unanswered``, a critical alert journaled): fail closed, new entries hold while the
  risk service is away;
- a risk-reducing order (an exit, a flatten, a protective stop) is checked by the same engine
  configuration in this process (``fallback``; its verdict journaled with check prefixed
  ``local:``): an exit is never held because the risk service is down.

Late answers (to a check already decided) are acked and dropped. Redelivery is harmless: a
check id is answered once here, and the risk service answers a redelivered command once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from live.bus import SEEN_IDS_KEPT, Envelope, MessageBus
from live.events import CheckRisk, OrderIntended, RiskChecked
from live.risk.handler import keep_decision, proposal_of, remembered_proposal
from live.risk.interface import RiskDecision, RiskEngine
from live.state import LiveState
from live.svc.risk import EVENTS_THROUGH, decision_of
from live.transport.jetstream import BusUnavailableError, JetStreamTransport
from live.transport.subjects import COMMANDS, EVENTS

log = logging.getLogger(__name__)
DEFAULT_DEADLINE_SECONDS = 0.5
LOCAL = "local:"  # the check name's prefix of a risk-reducing order checked here


class RemoteRisk:
    """The client (see the module): ``risk_bus`` publishes commands and consumes the answers;
    ``events_bus`` is the transport mirroring this runner's events (its stream position)."""

    def __init__(self, bus: MessageBus, fallback: RiskEngine, state: LiveState, *,
                 risk_bus: JetStreamTransport, events_bus: JetStreamTransport,
                 deadline_seconds: float = DEFAULT_DEADLINE_SECONDS) -> None:
        if deadline_seconds <= 0:
            raise ValueError(f"risk deadline {deadline_seconds!r} s: must be > 0")
        self.bus, self.fallback, self.state = bus, fallback, state
        self.risk_bus, self.events_bus = risk_bus, events_bus
        self.deadline_seconds = deadline_seconds
        self.unanswered = 0  # checks the risk service did not answer in time
        self._answered: OrderedDict[str, RiskDecision] = OrderedDict()
        bus.register(CheckRisk.KIND, self._on_check)  # type: ignore[arg-type]

    def answer(self, check_id: str) -> RiskDecision | None:
        return self._answered.get(check_id)

    def remember(self, intent: OrderIntended, *, reduces_exposure: bool) -> None:
        """The fallback engine's memory (the risk service folds its own from the events)."""
        self.fallback.remember(remembered_proposal(intent, reduces_exposure=reduces_exposure))

    def _on_check(self, command: CheckRisk) -> None:
        check_id = command.check_id
        if check_id in self._answered:
            return
        self.bus.durable()  # the events the risk service must fold are committed, mirrored
        decision = self._ask(command)
        if decision is None:
            self.unanswered += 1
            if not command.reduces_exposure:
                return  # no answer: the pipeline denies it (risk_unanswered), fail closed
            decision = self._local(command)
        self.bus.publish(RiskChecked(
            trace_id=command.trace_id, ts_event=command.ts_event, strategy=command.strategy,
            symbol=command.symbol, passed=decision.passed, check=decision.check,
            reason=decision.reason), message_id=f"{RiskChecked.KIND}:{check_id}")
        keep_decision(self._answered, check_id, decision, SEEN_IDS_KEPT)

    def _local(self, command: CheckRisk) -> RiskDecision:
        try:
            d = self.fallback.check(proposal_of(command), self.state)
        except Exception as exc:  # fail closed: denied, journaled
            d = RiskDecision(False, "risk_engine_error", f"{type(exc).__name__}: {exc}")
        return RiskDecision(d.passed, LOCAL + d.check,
                            f"risk service silent {self.deadline_seconds:g} s: {d.reason}",
                            d.disable_strategy, d.warning, d.notice)

    def _ask(self, command: CheckRisk) -> RiskDecision | None:
        """The risk service's decision, or None past the deadline."""
        want = f"{RiskChecked.KIND}:{command.check_id}"
        deadline = time.monotonic() + self.deadline_seconds
        try:
            self.events_bus.flush()  # every event mirrored so far stored: its position known
            through = self.events_bus.stream_seq.get(EVENTS, 0)
            self.risk_bus.publish(Envelope(CheckRisk.KIND, f"{CheckRisk.KIND}:"
                                           f"{command.check_id}", (command,)),
                                  kind=COMMANDS, extra_headers={EVENTS_THROUGH: str(through)},
                                  wait=False)  # its ack collected below, after the answer
        except BusUnavailableError as exc:
            log.error("CheckRisk %s not published: %s", command.check_id, exc)
            return None
        decision: RiskDecision | None = None
        answered = False
        while not answered and (left := deadline - time.monotonic()) > 0:
            for item in self.risk_bus.fetch(16, max(0.001, min(left, 0.05))):
                self.risk_bus.ack(item)
                if item.envelope.message_id != want:
                    continue  # a late answer to a check decided before (or redelivered)
                answered, decision = True, decision_of(item)
                if decision is None:
                    log.error("%s: not a valid RiskChecked; denied", want)
        try:
            self.risk_bus.flush()  # the command's ack (long arrived when it was answered)
        except BusUnavailableError as exc:
            log.error("CheckRisk %s: %s", command.check_id, exc)
        return decision
