"""The message bus: commands to one handler, events to the journal first, and handlers that
stay idempotent over an at-least-once transport (a test double that duplicates, redelivers
and reorders): no order reaches the broker twice, the journal holds no event twice, the
risk engine counts no check twice."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderType, Side
from live.bus import (
    DuplicateHandlerError,
    Envelope,
    InProcessTransport,
    JournalSink,
    MessageBus,
    NoHandlerError,
    StateSink,
    Transport,
)
from live.db import make_engine
from live.events import (
    AlertRaised,
    BarClosed,
    CancelOrder,
    CheckRisk,
    OrderCancelled,
    OrderIntended,
    OrderModified,
    OrderSubmitted,
    RiskChecked,
    Severity,
    TradingMode,
    client_key,
    new_trace_id,
    to_record,
)
from live.journal import Journal, open_journal
from live.risk.handler import RiskHandler, check_risk_for
from live.risk.interface import OrderProposal, RiskDecision, RiskEngine
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import build
from live.runner.execution import Executor
from live.runner.runner import Runner
from live.state import LiveState, OrderStatus
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk, submitted_count
from tests.unit.test_runner_engine import day_bars, record_clock, strategy_config

T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)
RISK_YAML = Path(__file__).resolve().parents[2] / "risk.yaml"


class UnreliableTransport:
    """An at-least-once broker's behaviour, seeded: an envelope delivered twice (a
    duplicate), delivered again after it was handled (an ack lost), held back and delivered
    after later ones (reordered), and delivered again later when its handler refused it
    (not acked). :meth:`drain` delivers everything still held."""

    def __init__(self, seed: int, *, duplicate: float = 0.3, lost_ack: float = 0.2,
                 hold: float = 0.3) -> None:
        self._rng = random.Random(seed)
        self.duplicate, self.lost_ack, self.hold = duplicate, lost_ack, hold
        self._deliver: Callable[[Envelope], None] | None = None
        self._held: list[Envelope] = []
        self.published = self.deliveries = 0

    def attach(self, deliver: Callable[[Envelope], None]) -> None:
        self._deliver = deliver

    def publish(self, envelope: Envelope) -> None:
        self.published += 1
        if self._rng.random() < self.hold:
            self._held.append(envelope)
            return
        self._send(envelope)
        self._release()

    def drain(self) -> None:
        while self._held:
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, []
        self._rng.shuffle(held)
        for envelope in held:
            self._send(envelope)

    def _send(self, envelope: Envelope) -> None:
        assert self._deliver is not None
        times = 1 + (self._rng.random() < self.duplicate) + (self._rng.random() < self.lost_ack)
        for _ in range(times):
            self.deliveries += 1
            try:
                self._deliver(envelope)
            except Exception:  # a refusal: not acked, delivered again later
                self._held.append(envelope)
                return


def _intent(n: int) -> OrderIntended:
    trace = new_trace_id("ema_cross", "NIFTY", T0 + timedelta(minutes=n), 1)
    return OrderIntended(trace_id=trace, ts_event=T0 + timedelta(minutes=n),
                         client_key=client_key(trace), strategy="ema_cross", version="1",
                         symbol="NIFTY", exchange="NFO", side=Side.BUY, qty=75,
                         order_type=OrderType.LIMIT, limit_price=20_000.0,
                         mode=TradingMode.LIVE)


def _executor(folder: Path, transport: UnreliableTransport
              ) -> tuple[Executor, Journal, PaperExchange]:
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=record_clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    state = LiveState()
    bus = MessageBus(transport)
    bus.subscribe_all(JournalSink(journal))
    bus.subscribe_all(StateSink(state))
    return Executor(bus, exchange, state, record_clock), journal, exchange


def _journaled(journal: Journal) -> list[str]:
    return [json.dumps(to_record(m), sort_keys=True) for _, m in journal.read()]


def test_a_command_goes_to_the_one_handler_of_its_topic() -> None:
    bus, heard = MessageBus(), []
    bus.register(CancelOrder.KIND, heard.append)
    command = CancelOrder(trace_id="t", ts_event=T0, client_key=client_key("t"),
                          broker_order_id="b1")
    bus.send(command)
    assert heard == [command]
    with pytest.raises(DuplicateHandlerError, match="CancelOrder"):
        bus.register(CancelOrder.KIND, heard.append)


def test_a_command_without_a_handler_is_refused() -> None:
    with pytest.raises(NoHandlerError, match="CancelOrder"):
        MessageBus().send(CancelOrder(trace_id="t", ts_event=T0, client_key=client_key("t"),
                                      broker_order_id="b1"))


def test_an_event_reaches_the_sinks_before_its_topic_subscribers() -> None:
    bus, order = MessageBus(), []
    bus.subscribe(AlertRaised.KIND, lambda m: order.append("listener"))
    bus.subscribe_all(lambda e: order.append("journal"))
    bus.subscribe_all(lambda e: order.append("state"))
    bus.subscribe(OrderCancelled.KIND, lambda m: order.append("wrong topic"))
    bus.publish(AlertRaised(trace_id="", ts_event=T0, severity=Severity.INFO, code="c",
                            message="m"))
    assert order == ["journal", "state", "listener"]


@pytest.mark.parametrize("seed", range(8))
def test_execution_over_an_unreliable_transport_sends_and_journals_each_order_once(
        seed: int, tmp_path: Path) -> None:
    transport = UnreliableTransport(seed)
    executor, journal, exchange = _executor(tmp_path, transport)
    intents = [_intent(n) for n in range(12)]
    for intent in intents:
        executor.send(intent)
        executor.send(intent)  # the same decision again (a bar re-processed)
    transport.drain()
    for intent in intents:
        order = executor.state.orders[intent.client_key]
        assert order.status is OrderStatus.OPEN
        for _ in range(2):  # a cancel sent twice cancels once
            executor.bus.send(CancelOrder(trace_id=intent.trace_id, ts_event=T0,
                                          client_key=intent.client_key,
                                          broker_order_id=order.broker_order_id or "",
                                          reason="test"))
    transport.drain()
    assert transport.deliveries > transport.published  # it did duplicate and redeliver
    assert {submitted_count(exchange, i.client_key) for i in intents} == {1}
    records = _journaled(journal)
    assert len(records) == len(set(records))  # no event journaled twice
    kinds = Counter(json.loads(r)["kind"] for r in records)
    assert kinds == {OrderIntended.KIND: 12, OrderSubmitted.KIND: 12,
                     OrderCancelled.KIND: 12}
    assert all(o.status is OrderStatus.CANCELLED for o in executor.state.orders.values())


@pytest.mark.parametrize("seed", range(8))
def test_risk_checks_over_an_unreliable_transport_are_counted_and_journaled_once(
        seed: int, tmp_path: Path) -> None:
    limits = load_risk_limits(RISK_YAML)
    rate = limits.pre_trade.max_orders_per_second
    transport = UnreliableTransport(seed)
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=record_clock)
    state = LiveState()
    bus = MessageBus(transport)
    bus.subscribe_all(JournalSink(journal))
    bus.subscribe_all(StateSink(state))
    ts = T0 + timedelta(hours=1)  # 10:30 at the exchange: no lockout
    state.apply(BarClosed(trace_id="", ts_event=ts - timedelta(seconds=30), symbol="NIFTY",
                          open=22_000.0, high=22_010.0, low=21_990.0, close=22_000.0,
                          volume=1.0))
    handler = RiskHandler(bus, PreTradeRiskEngine(limits), state)
    checks = [check_risk_for(OrderProposal(  # as many as the message rate lets through
        strategy=f"s{n}", symbol="NIFTY", side=1, qty=75, reference_price=22_000.0,
        reduces_exposure=False, ts=ts, lot_size=75, reference_ts=ts),
        trace_id=f"t{n}", check_id=f"c{n}") for n in range(rate)]
    for check in checks:
        bus.send(check)
    transport.drain()
    assert transport.deliveries > transport.published  # it did duplicate and redeliver
    # asked again, the engine would deny a check as a duplicate of itself (or over the rate)
    assert [handler.answer(c.check_id).check for c in checks] == ["pre_trade"] * rate  # type: ignore[union-attr]
    records = _journaled(journal)
    assert len(records) == len(set(records)) == rate  # one RiskChecked per check
    assert {json.loads(r)["kind"] for r in records} == {RiskChecked.KIND}
    bus.send(check_risk_for(OrderProposal(
        strategy="late", symbol="NIFTY", side=1, qty=75, reference_price=22_000.0,
        reduces_exposure=False, ts=ts, lot_size=75, reference_ts=ts),
        trace_id="t", check_id="late"))
    transport.drain()
    late = handler.answer("late")
    assert late is not None and late.check == "message_rate"
    assert late.reason.startswith(f"{rate + 1} orders")  # each check counted once


def test_a_risk_engine_that_raises_is_a_journaled_denial(tmp_path: Path) -> None:
    class Broken(PassThroughRisk):
        def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
            raise ZeroDivisionError("limits not loaded")

    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=record_clock)
    bus = MessageBus()
    bus.subscribe_all(JournalSink(journal))
    handler = RiskHandler(bus, Broken(), LiveState())
    bus.send(check_risk_for(OrderProposal(
        strategy="s", symbol="NIFTY", side=-1, qty=75, reference_price=22_000.0,
        reduces_exposure=True, ts=T0), trace_id="t", check_id="c"))
    verdict = handler.answer("c")
    assert verdict is not None and not verdict.passed
    assert verdict.check == "risk_engine_error"
    ((_, checked),) = journal.read()
    assert isinstance(checked, RiskChecked) and not checked.passed


def _runner(folder: Path, transport: Transport | None,
            risk: RiskEngine | None = None) -> Runner:
    folder.mkdir(parents=True, exist_ok=True)
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=record_clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    config = strategy_config()
    config["sim"] = {**config["sim"], "stop_points": 12.0, "trail_points": 18.0}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    return Runner(journal=journal, broker=exchange, deployed=[deployed],
                  mode="live", clock=record_clock, transport=transport,
                  risk=risk if risk is not None else PassThroughRisk(),
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close))


@pytest.mark.parametrize("pre_trade", [False, True], ids=["pass_through", "pre_trade"])
def test_a_runner_over_a_duplicating_transport_journals_what_an_in_process_one_does(
        pre_trade: bool, tmp_path: Path) -> None:
    bars = day_bars()

    def risk() -> RiskEngine:
        return PreTradeRiskEngine(load_risk_limits(RISK_YAML)) if pre_trade \
            else PassThroughRisk()

    reference = _runner(tmp_path / "in-process", None, risk())
    reference.recover()
    reference.run(bars)
    transport = UnreliableTransport(7, hold=0.0)  # in order, but again and again
    runner = _runner(tmp_path / "duplicating", transport, risk())
    runner.recover()
    runner.run(bars)
    assert transport.deliveries > transport.published
    assert _journaled(runner.journal) == _journaled(reference.journal)
    keys = list(runner.state.orders)
    assert keys and {submitted_count(runner.broker, k) for k in keys} == {1}  # type: ignore[arg-type]
    # the trailing stop moved through ModifyOrder commands, each move journaled once
    moves = [m for _, m in runner.journal.read() if isinstance(m, OrderModified)]
    assert moves and len(moves) == len({(m.client_key, m.trigger_price) for m in moves})


class LosesRiskChecks(InProcessTransport):
    """In process, except that every ``CheckRisk`` is lost on the way."""

    def publish(self, envelope: Envelope) -> None:
        if envelope.topic != CheckRisk.KIND:
            super().publish(envelope)


def test_a_runner_whose_risk_checks_go_unanswered_sends_nothing(tmp_path: Path) -> None:
    runner = _runner(tmp_path, LosesRiskChecks())
    runner.recover()
    summary = runner.run(day_bars())
    kinds = Counter(type(m).__name__ for _, m in runner.journal.read())
    assert kinds[RiskChecked.KIND] == kinds[OrderIntended.KIND] == 0
    assert summary.denials and kinds[AlertRaised.KIND] >= summary.denials
    assert all(a.startswith("risk_unanswered") for a in summary.alerts)
