"""Retries by error class (live.orders.retry): classification, the seeded backoff, the latency
budget, and the executor over the real Kite adapter against the fake Kite server with faults
injected at the HTTP layer (429, connection refused, a lost answer)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex
from pydantic import ValidationError

from live.adapters.kite import KiteBroker
from live.adapters.kite.errors import KiteRateLimitedError, classify_kite_error
from live.broker import Broker, NotSent, OrderType, Outcome, Side, SubmitResult
from live.bus import JournalSink, MessageBus, StateSink
from live.db import make_engine
from live.events import (
    OrderIntended,
    OrderRetried,
    OrderSubmitted,
    TradingMode,
    client_key,
    new_trace_id,
)
from live.journal import Journal, open_journal
from live.orders.retry import (
    ClassPolicy,
    ErrorClass,
    Retrier,
    RetryPolicy,
    classify,
    not_sent_of,
)
from live.runner.execution import Executor
from live.state import LiveState, OrderStatus
from stratops.settings import Settings
from tests.doubles import submitted_count
from tests.fake_kite import FakeKite
from tests.unit.test_fake_kite_rest import T0, minute_bars
from tests.unit.test_runner_engine import record_clock


class FakeTime:
    """A monotonic clock that advances only when slept on (what the retrier is given)."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_s += seconds

    def monotonic(self) -> float:
        return self.now_s


class Counted:
    """A broker command that always answers ``result`` and counts its calls."""

    def __init__(self, result: SubmitResult) -> None:
        self.result, self.n = result, 0

    def __call__(self) -> SubmitResult:
        self.n += 1
        return self.result


POLICY = RetryPolicy(transient=ClassPolicy(max_attempts=3, base_backoff_ms=100,
                                           max_backoff_ms=1000),
                     throttled=ClassPolicy(max_attempts=4, base_backoff_ms=200,
                                           max_backoff_ms=2000),
                     latency_budget_ms=3000, jitter_pct=20, seed=11)


def _refused_port() -> int:
    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connection_refused() -> requests.ConnectionError:
    try:
        requests.get(f"http://127.0.0.1:{_refused_port()}/orders", timeout=2)
    except requests.ConnectionError as exc:
        return exc
    raise AssertionError("a closed port answered")


# --- classification ---------------------------------------------------------------------------

@pytest.mark.parametrize(("result", "expected"), [
    (SubmitResult(Outcome.CONFIRMED, "1"), None),
    (SubmitResult(Outcome.UNKNOWN, None, "timeout"), ErrorClass.UNKNOWN),
    (SubmitResult(Outcome.REJECTED, None, "RMS"), ErrorClass.REJECTED),
    (SubmitResult(Outcome.REJECTED, None, "429", NotSent.THROTTLED), ErrorClass.THROTTLED),
    (SubmitResult(Outcome.REJECTED, None, "refused", NotSent.TRANSIENT),
     ErrorClass.TRANSIENT),
])
def test_classify_result_table_maps_each_outcome_to_its_class(
        result: SubmitResult, expected: ErrorClass | None) -> None:
    assert classify(result) is expected


@pytest.mark.parametrize(("exc", "outcome", "not_sent"), [
    (kex.GeneralException("Too many requests", code=429), Outcome.REJECTED,
     NotSent.THROTTLED),
    (kex.NetworkException("Too many requests", code=429), Outcome.REJECTED,
     NotSent.THROTTLED),
    (KiteRateLimitedError("would wait 900 ms"), Outcome.REJECTED, NotSent.THROTTLED),
    (kex.InputException("bad qty", code=400), Outcome.REJECTED, None),
    (kex.NetworkException("Gateway timed out", code=504), Outcome.UNKNOWN, None),
    (requests.ReadTimeout("read timed out"), Outcome.UNKNOWN, None),
    (requests.ConnectionError("Connection aborted", ConnectionResetError()),
     Outcome.UNKNOWN, None),
])
def test_classify_kite_error_table_marks_only_what_never_left(
        exc: Exception, outcome: Outcome, not_sent: NotSent | None) -> None:
    failure = classify_kite_error(exc)
    assert (failure.outcome, failure.not_sent) == (outcome, not_sent)


def test_classify_kite_error_connection_refused_is_transient() -> None:
    exc = _connection_refused()
    assert not_sent_of(exc) is NotSent.TRANSIENT
    failure = classify_kite_error(exc)
    assert (failure.outcome, failure.not_sent) == (Outcome.REJECTED, NotSent.TRANSIENT)


# --- the backoff schedule ---------------------------------------------------------------------

def test_backoff_same_seed_and_key_gives_the_same_schedule() -> None:
    first = [POLICY.delay_ms(ErrorClass.THROTTLED, "soA", n) for n in range(2, 6)]
    again = [POLICY.delay_ms(ErrorClass.THROTTLED, "soA", n) for n in range(2, 6)]
    other = [POLICY.delay_ms(ErrorClass.THROTTLED, "soB", n) for n in range(2, 6)]
    assert first == again and first != other


@given(attempt=st.integers(2, 12), key=st.text(min_size=1, max_size=20),
       seed=st.integers(0, 2**31))
def test_backoff_grows_within_jitter_and_never_passes_the_cap(attempt: int, key: str,
                                                              seed: int) -> None:
    policy = POLICY.model_copy(update={"seed": seed})
    raw = min(2000, 200 * 2 ** (attempt - 2))
    delay = policy.delay_ms(ErrorClass.THROTTLED, key, attempt)
    assert round(raw * 0.8) - 1 <= delay <= min(2000, round(raw * 1.2) + 1)


def test_backoff_rejected_and_unknown_have_no_retry_policy() -> None:
    assert POLICY.for_class(ErrorClass.REJECTED) is None
    assert POLICY.for_class(ErrorClass.UNKNOWN) is None


# --- the retrier ------------------------------------------------------------------------------

def _retrier(policy: RetryPolicy = POLICY) -> tuple[Retrier, FakeTime]:
    clock = FakeTime()
    return Retrier(policy, sleep=clock.sleep, monotonic_s=clock.monotonic), clock


def test_retrier_throttled_then_confirmed_sleeps_the_schedule() -> None:
    retrier, clock = _retrier()
    answers = [SubmitResult(Outcome.REJECTED, None, "429", NotSent.THROTTLED)] * 2 + \
        [SubmitResult(Outcome.CONFIRMED, "9")]
    heard: list[int] = []
    result = retrier.run("soK", lambda: answers.pop(0), lambda r: heard.append(r.delay_ms))
    assert result.outcome is Outcome.CONFIRMED
    assert heard == [POLICY.delay_ms(ErrorClass.THROTTLED, "soK", n) for n in (2, 3)]
    assert clock.slept == [d / 1000 for d in heard]


def test_retrier_max_attempts_reached_returns_the_refusal_saying_so() -> None:
    retrier, clock = _retrier()
    refused = SubmitResult(Outcome.REJECTED, None, "conn refused", NotSent.TRANSIENT)
    calls = Counted(refused)
    result = retrier.run("soK", calls, lambda r: None)
    assert calls.n == 3 and len(clock.slept) == 2
    assert result.outcome is Outcome.REJECTED and "max_attempts=3" in result.reason


def test_retrier_budget_exhausted_stops_before_the_sleep_that_would_pass_it() -> None:
    retrier, clock = _retrier(POLICY.model_copy(update={"latency_budget_ms": 500}))
    throttled = SubmitResult(Outcome.REJECTED, None, "429", NotSent.THROTTLED)
    result = retrier.run("soK", lambda: throttled, lambda r: None)
    assert sum(clock.slept) * 1000 <= 500
    assert "latency budget 500 ms used up" in result.reason


@pytest.mark.parametrize("answer", [SubmitResult(Outcome.UNKNOWN, None, "lost"),
                                    SubmitResult(Outcome.REJECTED, None, "RMS")])
def test_retrier_unknown_or_rejected_is_called_once(answer: SubmitResult) -> None:
    retrier, clock = _retrier()
    calls = Counted(answer)
    assert retrier.run("soK", calls, lambda r: None) == answer
    assert calls.n == 1 and clock.slept == []


# --- settings ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("retry", "field"), [
    ({"throttled": {"max_attempts": 0}}, "max_attempts"),
    ({"transient": {"base_backoff_ms": 500, "max_backoff_ms": 100}}, "max_backoff_ms"),
    ({"latency_budget_ms": -1}, "latency_budget_ms"),
    ({"jitter_pct": 150}, "jitter_pct"),
    ({"rejected": {"max_attempts": 2}}, "rejected"),
])
def test_retry_settings_out_of_range_or_unknown_refused_naming_the_field(
        tmp_path: Path, retry: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(root=tmp_path, live={"execution": {"retry": retry}})


# --- the executor over the fake Kite ---------------------------------------------------------

@pytest.fixture
def fake() -> Iterator[FakeKite]:
    with FakeKite(minute_bars(), seed=3) as running:
        yield running


def _executor(tmp_path: Path, broker: Broker) -> tuple[Executor, Journal, FakeTime]:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=record_clock)
    state, bus, clock = LiveState(), MessageBus(), FakeTime()
    bus.subscribe_all(JournalSink(journal))
    bus.subscribe_all(StateSink(state))
    retrier = Retrier(POLICY, sleep=clock.sleep, monotonic_s=clock.monotonic)
    return Executor(bus, broker, state, record_clock, retrier=retrier), journal, clock


def _intent(symbol: str) -> OrderIntended:
    trace = new_trace_id("ema_cross", symbol, T0, 1)
    return OrderIntended(trace_id=trace, ts_event=T0 + timedelta(minutes=1),
                         client_key=client_key(trace), strategy="ema_cross", version="1",
                         symbol=symbol, exchange="NFO", side=Side.BUY, qty=75,
                         order_type=OrderType.MARKET, mode=TradingMode.LIVE)


def _kinds(journal: Journal) -> list[str]:
    return [m.KIND for _, m in journal.read(1)]


def test_executor_429_is_retried_journaled_and_booked_once(fake: FakeKite,
                                                          tmp_path: Path) -> None:
    kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
    executor, journal, _ = _executor(tmp_path, KiteBroker(kite))
    fake.faults.http_error(429, count=2, path_prefix="/orders")
    intent = _intent(str(fake.instruments[0]["tradingsymbol"]))
    executor.send(intent)
    retried = [m for _, m in journal.read(1) if isinstance(m, OrderRetried)]
    assert [(r.attempt, r.error_class) for r in retried] == [(2, "throttled"), (3, "throttled")]
    assert executor.state.orders[intent.client_key].status is OrderStatus.OPEN
    assert len([o for o in kite.orders() if o.get("tag") == intent.client_key]) == 1


def test_executor_connection_refused_exhausts_into_a_journaled_rejection(
        tmp_path: Path) -> None:
    kite = KiteConnect("key", access_token="token", root=f"http://127.0.0.1:{_refused_port()}",
                       timeout=2)
    executor, journal, clock = _executor(tmp_path, KiteBroker(kite))
    intent = _intent("NIFTY25MARFUT")
    executor.send(intent)
    submitted = [m for _, m in journal.read(1) if isinstance(m, OrderSubmitted)]
    assert _kinds(journal).count("OrderRetried") == 2 and len(clock.slept) == 2
    assert submitted[0].outcome is Outcome.REJECTED
    assert "retries exhausted" in submitted[0].reason
    assert executor.state.orders[intent.client_key].status is OrderStatus.REJECTED


def test_executor_lost_answer_is_never_resent_and_settled_by_status(
        fake: FakeKite, tmp_path: Path) -> None:
    kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
    executor, journal, clock = _executor(tmp_path, KiteBroker(kite))
    fake.faults.http_error(503, path_prefix="/orders", after_processing=True)
    intent = _intent(str(fake.instruments[0]["tradingsymbol"]))
    executor.send(intent)
    assert "OrderRetried" not in _kinds(journal) and clock.slept == []
    assert executor.state.orders[intent.client_key].status is OrderStatus.UNKNOWN
    assert executor.settle_in_doubt(T0 + timedelta(minutes=2)) == []
    assert executor.state.orders[intent.client_key].status is OrderStatus.OPEN
    assert len([o for o in kite.orders() if o.get("tag") == intent.client_key]) == 1


def test_paper_exchange_unavailable_is_unknown_and_never_retried(tmp_path: Path) -> None:
    from live.adapters.paper import FillModel, PaperExchange

    paper = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'x.db'}"), seed=1,
                          fill_model=FillModel(tick_size=0.05))
    executor, _, clock = _executor(tmp_path, paper)
    paper.set_faults(unavailable=True)
    intent = _intent("NIFTY")
    executor.send(intent)
    assert clock.slept == [] and submitted_count(paper, intent.client_key) == 1
    assert executor.state.orders[intent.client_key].status is OrderStatus.UNKNOWN


def test_retrier_with_retries_off_returns_the_refusal_unchanged() -> None:
    off = ClassPolicy(max_attempts=1, base_backoff_ms=0, max_backoff_ms=0)
    retrier, clock = _retrier(RetryPolicy(transient=off, throttled=off))
    throttled = SubmitResult(Outcome.REJECTED, None, "429", NotSent.THROTTLED)
    assert retrier.run("soK", Counted(throttled), lambda r: None) == throttled
    assert clock.slept == []
