"""The message bus: commands to one handler, events to the journal first, and handlers that
stay idempotent over an at-least-once transport (a test double that duplicates, redelivers
and reorders): no order reaches the broker twice, the journal holds no event twice."""

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
    JournalSink,
    MessageBus,
    NoHandlerError,
    StateSink,
)
from live.db import make_engine
from live.events import (
    AlertRaised,
    CancelOrder,
    OrderCancelled,
    OrderIntended,
    OrderSubmitted,
    Severity,
    TradingMode,
    client_key,
    new_trace_id,
    to_record,
)
from live.journal import Journal, open_journal
from live.risk.interface import PassThroughRisk
from live.runner.deployments import build
from live.runner.execution import Executor
from live.runner.runner import Runner
from live.state import LiveState, OrderStatus
from strategies.version_config import VersionConfig
from tests.unit.test_runner_engine import day_bars, record_clock, strategy_config

T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)


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
    assert {exchange.submitted_count(i.client_key) for i in intents} == {1}
    records = _journaled(journal)
    assert len(records) == len(set(records))  # no event journaled twice
    kinds = Counter(json.loads(r)["kind"] for r in records)
    assert kinds == {OrderIntended.KIND: 12, OrderSubmitted.KIND: 12,
                     OrderCancelled.KIND: 12}
    assert all(o.status is OrderStatus.CANCELLED for o in executor.state.orders.values())


def _runner(folder: Path, transport: UnreliableTransport | None) -> Runner:
    folder.mkdir(parents=True, exist_ok=True)
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}", clock=record_clock)
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
    config = strategy_config()
    config["sim"] = {**config["sim"], "stop_points": 12.0, "trail_points": 18.0}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    return Runner(journal=journal, broker=exchange, deployed=[deployed],
                  mode="live", clock=record_clock, transport=transport, risk=PassThroughRisk(),
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close))


def test_a_runner_over_a_duplicating_transport_journals_what_an_in_process_one_does(
        tmp_path: Path) -> None:
    bars = day_bars()
    reference = _runner(tmp_path / "in-process", None)
    reference.recover()
    reference.run(bars)
    transport = UnreliableTransport(7, hold=0.0)  # in order, but again and again
    runner = _runner(tmp_path / "duplicating", transport)
    runner.recover()
    runner.run(bars)
    assert transport.deliveries > transport.published
    assert _journaled(runner.journal) == _journaled(reference.journal)
    keys = list(runner.state.orders)
    assert keys and {runner.broker.submitted_count(k) for k in keys} == {1}  # type: ignore[attr-defined]
